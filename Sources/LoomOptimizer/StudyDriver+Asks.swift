import LoomModel
import LoomSearch
import LoomStore
import LoomWire

/// The lease an asked trial holds: the asking process renews it (`heartbeat`) while it
/// evaluates the trial; when it expires the trial is offered to the next `ask`.
public struct AskLease: Equatable, Sendable {
    /// The attempt the lease is for: the trial's `attempts` when it was handed out.
    public var attempt: Int
    /// How long one renewal lasts, in seconds.
    public var seconds: Double
    /// When the lease runs out unless renewed (wall-clock seconds).
    public var expiresAt: Double
    /// Whether the holder said it evaluates the trial: a trial from an `ask` without `n` is
    /// started when handed out; one of a batch (prefetched) once a `heartbeat` with `started`
    /// names it. An unstarted lease that expires spends no retry.
    public var started = true
}

/// What `ask` hands out.
public enum AskOutcome: Equatable, Sendable {
    /// A trial to evaluate: new, or one whose previous holder's lease expired (next attempt).
    case trial(TrialRecord)
    /// Nothing now, but a held trial may come back when its lease expires: ask again after
    /// `retryAfter` seconds.
    case wait(retryAfter: Double, held: [Int])
    /// Every trial is created and none is held: nothing more will be handed out.
    case exhausted
}

/// Why a lease renewal, a report or a result of an asked trial is refused.
public enum AskRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownTrial(Int)
    case notAsked(Int)
    case finished(Int, TrialState)
    /// The attempt's lease expired; the trial was offered again (`current` is its attempt now).
    case leaseLost(trial: Int, attempt: Int, current: Int)
    /// The trial's lease expired and it waits for the next `ask`.
    case awaitingAsk(Int)

    public var description: String {
        switch self {
        case .unknownTrial(let n): "trial \(n) is not a running trial of this study"
        case .notAsked(let n): "trial \(n) is run by the fabric; only trials from ask can be told"
        case .finished(let n, let state): "trial \(n) is already \(state.rawValue)"
        case .leaseLost(let n, let attempt, let current):
            "trial \(n) attempt \(attempt): its lease expired and the trial was handed out again (attempt \(current))"
        case .awaitingAsk(let n): "trial \(n): its lease expired; it waits to be handed out by the next ask"
        }
    }
}

/// Asked trials: leases, re-offers, and the scheduler's verdicts on their reports.
///
/// **Leases.** Every running asked trial holds a lease (`leases`). `renewLease` extends it;
/// a lease of a prefetched trial (`ask` with `n`) is unstarted until a renewal says `started`,
/// and an unstarted lease that expires re-offers the trial without spending a retry (counted in
/// `unstartedAttempts`, memory only: after a restart every attempt counts, the safe side);
/// `expireLeases(now:)` turns a trial whose lease ran out back to `waiting` (the asking process
/// is gone) while attempts are left (`1 + trial.max_retries`, as for a lost worker), else fails
/// it. `ask` hands out waiting asked trials (lowest number first) before creating new ones, with
/// the attempt number raised, so a late result of the old attempt is refused. A running asked
/// trial without a lease (after an optimizer restart) gets a fresh one at the first
/// `expireLeases`: its holder may still be alive and renewing.
/// **Scheduler.** When the scheduler only stops trials (`SchedulerSpec.onlyStops`), asked
/// trials are its trials like the fabric's: added when created, their reports judged
/// (`reportAsked`), removed when finished. Other schedulers never see them.
extension StudyDriver {
    /// How long a lease lasts when the asker does not say, and the bounds it may ask for.
    public static let defaultLeaseSeconds = 30.0
    public static let leaseRange = 1.0...3600.0
    /// The most trials one `ask` hands out (`n`): a client prefetching more than this holds
    /// trials that a slower searcher would rather sample with more results known.
    public static let askBatchRange = 1...1024

    /// Whether the scheduler judges asked trials.
    var schedulesAskedTrials: Bool { spec.scheduler.onlyStops }

    /// Whether the scheduler owns `trial`.
    func isScheduled(_ trial: TrialRecord) -> Bool { trial.source != "ask" || schedulesAskedTrials }

    /// Hands out a trial for `leaseSeconds` (clamped to `leaseRange`): an asked trial whose
    /// lease expired first, else a new one while the budget allows. Leases are expired first.
    /// `started`: false for a prefetched trial (see `AskLease.started`).
    public mutating func ask(now: Double, leaseSeconds: Double = defaultLeaseSeconds,
                             started: Bool = true) -> (AskOutcome, expired: [TrialRecord]) {
        let expired = expireLeases(now: now)
        let seconds = min(max(leaseSeconds, Self.leaseRange.lowerBound), Self.leaseRange.upperBound)
        if let number = activeNumbers.first(where: { trials[$0 - 1].source == "ask" && trials[$0 - 1].state == .waiting }) {
            var trial = trials[number - 1]
            trial.state = .running
            trial.attempts += 1
            trial.startedAt = now
            replace(at: number - 1, with: trial)
            leases[number] = AskLease(attempt: trial.attempts, seconds: seconds, expiresAt: now + seconds, started: started)
            return (.trial(trial), expired)
        }
        if mayCreate, let (config, _) = nextConfig() {
            var trial = TrialRecord(study: studyID, number: trials.count + 1, config: config, state: .running, source: "ask",
                                    createdAt: now, startedAt: now)
            trial.attempts = 1
            if schedulesAskedTrials { _ = scheduler.onTrialAdd(trial: trial.number, config: config) }
            append(trial)
            leases[trial.number] = AskLease(attempt: 1, seconds: seconds, expiresAt: now + seconds, started: started)
            return (.trial(trial), expired)
        }
        let held = leases.filter { trial($0.key)?.state == .running }
        if let soonest = held.values.map(\.expiresAt).min() {
            return (.wait(retryAfter: max(0, soonest - now), held: held.keys.sorted()), expired)
        }
        return (.exhausted, expired)
    }

    /// Extends the lease of `trial`'s attempt `attempt` by its length from `now`; `started`:
    /// the holder now evaluates it (a prefetched trial handed to its objective).
    public mutating func renewLease(trial number: Int, attempt: Int, now: Double, started: Bool = false) throws(AskRefusal) {
        let trial = try heldTrial(number, attempt: attempt)
        var lease = leases[number] ?? AskLease(attempt: trial.attempts, seconds: Self.defaultLeaseSeconds, expiresAt: now)
        lease.expiresAt = now + lease.seconds
        if started { lease.started = true }
        leases[number] = lease
    }

    /// Gives back `trial`'s attempt `attempt`, which its holder never evaluated (a prefetched
    /// trial left over when the process closes its study): the trial waits for the next `ask`,
    /// its attempt count lowered so that hand-out reuses the attempt number and no retry is
    /// spent on it. The holder promises never to tell, report or renew that attempt again.
    /// Returns the trial to store.
    public mutating func release(trial number: Int, attempt: Int) throws(AskRefusal) -> TrialRecord {
        var trial = try heldTrial(number, attempt: attempt)
        trial.state = .waiting
        trial.attempts -= 1
        trial.startedAt = nil
        update(trial)
        leases[number] = nil
        return trial
    }

    /// The running asked trial `number`, when `attempt` (nil: any) is the one that holds it.
    public func heldTrial(_ number: Int, attempt: Int?) throws(AskRefusal) -> TrialRecord {
        guard let trial = trial(number) else { throw .unknownTrial(number) }
        guard trial.source == "ask" else { throw .notAsked(number) }
        guard !trial.state.isFinished else { throw .finished(number, trial.state) }
        guard trial.state == .running else { throw .awaitingAsk(number) }
        if let attempt, attempt != trial.attempts { throw .leaseLost(trial: number, attempt: attempt, current: trial.attempts) }
        return trial
    }

    /// Asked trials whose lease ran out by `now`: back to `waiting` for the next `ask`, or
    /// `failed` when their attempts are used up. The caller stores what is returned.
    public mutating func expireLeases(now: Double) -> [TrialRecord] {
        var changed: [TrialRecord] = []
        for number in activeNumbers {
            let trial = trials[number - 1]
            guard trial.source == "ask", trial.state == .running else { continue }
            guard let lease = leases[number] else {
                leases[number] = AskLease(attempt: trial.attempts, seconds: Self.defaultLeaseSeconds,
                                          expiresAt: now + Self.defaultLeaseSeconds)
                continue
            }
            guard lease.expiresAt <= now else { continue }
            leases[number] = nil
            var next = trial
            let reason = "attempt \(trial.attempts): the lease expired (the asking process sent no heartbeat for \(formatSeconds(lease.seconds)))"
            if !lease.started {
                // Prefetched, never evaluated: handed out again with the next attempt number (its
                // holder may yet wake up and must not tell it), but no retry is spent on it.
                unstartedAttempts[number, default: 0] += 1
                next.state = .waiting
                next.note = reason + "; it was prefetched and never started: offered to the next ask, no retry spent"
            } else if trial.attempts - unstartedAttempts[number, default: 0] < 1 + spec.trial.maxRetries {
                next.state = .waiting
                next.note = reason + "; offered to the next ask"
            } else {
                next.state = .failed
                next.error = reason + "; no attempt left (trial.max_retries: \(spec.trial.maxRetries))"
                next.finishedAt = now
            }
            changed.append(next)
        }
        for trial in changed { update(trial) }
        return changed
    }

    /// A report of asked trial `number`'s attempt `attempt`: `metrics` holds the study's metric
    /// (and the scheduler's resource when it has one). Returns the scheduler's verdict when it
    /// stops the trial (the trial stays running until told `pruned`), nil to go on.
    public mutating func reportAsked(trial number: Int, attempt: Int, metrics: JSONValue,
                                     now: Double) throws(AskRefusal) -> SchedulerVerdict? {
        let trial = try heldTrial(number, attempt: attempt)
        guard schedulesAskedTrials, let (time, value) = result(of: trial, metrics: metrics) else { return nil }
        let decision = scheduler.onResult(trial: number, time: time, value: value)
        return verdict(decision, trial: trial, value: value, metrics: metrics, now: now)
    }

    func formatSeconds(_ s: Double) -> String {
        s.rounded() == s ? "\(Int(s)) s" : "\(s) s"
    }
}
