import Foundation
import LoomWire

/// A broken invariant: which one, what happened, and when (simulated seconds).
public struct Violation: Sendable, CustomStringConvertible {
    public var invariant: String
    public var detail: String
    public var time: Double

    public var description: String { "\(invariant) at \(String(format: "%.3f", time)) s: \(detail)" }
}

/// The invariants of Docs/reliability.md, checked as the schedule runs and when it ends.
///
/// - S1 each complete trial's value is one its trial computed, recorded exactly once;
/// - S2 whatever was acknowledged to a worker or client is in the store;
/// - S3 a trial that completed is never later recorded failed, lost or pruned (nor is an attempt
///   whose process exited 0 cancelled as stalled: its result was on the way);
/// - S4 a fenced attempt never produces a recorded result;
/// - S5 the feed's `seq` strictly increases without gaps, with one `finished` per recorded result;
/// - S6 a retry starts from the newest checkpoint the optimizer acknowledged;
/// - L1 after the last fault heals, every study ends within the schedule's live bound.
struct InvariantChecker {
    struct Key: Hashable {
        var job: String
        var lease: UInt64
        var seq: UInt64
    }

    private(set) var violations: [Violation] = []
    /// Leases with a `finished` event, by job.
    var finished: [String: Set<UInt64>] = [:]
    /// `finished` events per lease (a resent FINAL must not be published again).
    var finishedEvents: [UInt64: Int] = [:]
    /// Leases the broker fenced, and leases whose terminal update it published as stale.
    var fenced: Set<UInt64> = []
    var staleTerminal: Set<UInt64> = []
    /// Updates the broker acknowledged itself as stale.
    var stale: Set<Key> = []
    /// Results the optimizer acknowledged after storing their attempt's end.
    var resultsStored: Set<Key> = []
    /// Copies the broker answered itself (`copy_lost`).
    var copiesLost: Set<UInt64> = []
    /// Leases whose updates a crashed worker took with it (its results may be lost).
    var lostWithWorker: Set<UInt64> = []
    /// Jobs whose result was recorded (checked for S4 when it was).
    var recorded: Set<String> = []
    /// Leases of attempts whose trial process exited 0, by job.
    var exitedZero: [String: Set<UInt64>] = [:]
    /// Attempts that exited 0 without printing a line: resumed from a checkpoint already at the
    /// trial's last step. The fabric credits them the newest value it knows of that state (the
    /// checkpoint's, or a later line of the attempt that wrote it); when the trial wrote its last
    /// step and its worker died before that line or a snapshot of it left the machine, only an
    /// earlier step's value is known, so S1 asks of them a value the trial computed at some step.
    var silentExits: Set<UInt64> = []

    mutating func fail(_ invariant: String, _ detail: String, at time: SimTime) {
        violations.append(Violation(invariant: invariant, detail: detail, time: Double(time) / 1e9))
    }

    /// A feed event, as the broker journals it.
    mutating func published(_ event: FeedEvent, at time: SimTime) {
        // Only these events matter here; parsing every report's body would dominate the run.
        guard event.topic.hasPrefix("job/"),
              event.topic.hasSuffix("/finished") || event.topic.hasSuffix("/fenced") || event.topic.hasSuffix("/stale")
                || event.topic.hasSuffix("/copy_lost") || event.topic.hasSuffix("/stalled"),
              let typed = try? event.typed(), let job = typed.event.job, let lease = typed.event.lease else { return }
        switch typed.event {
        case .update(.final, _, _, _, _):
            finished[job, default: []].insert(lease)
            finishedEvents[lease, default: 0] += 1
            if finishedEvents[lease]! == 2 {
                fail("S5", "\(job) lease \(TraceText.lease(lease)): `finished` published twice for one attempt", at: time)
            }
        case .fenced: fenced.insert(lease)
        case .stalled:
            // Its process had exited 0 and its result waited for a snapshot: not a stall, and
            // cancelled as one the trial may end FAILED although it completed (seed 126).
            if exitedZero[job]?.contains(lease) == true {
                fail("S3", "\(job) lease \(TraceText.lease(lease)) was cancelled as stalled after its process exited 0", at: time)
            }
        case .copyLost:
            // A speculative copy that failed while the other goes on: the broker acknowledges
            // its result itself and tells the owner ENDED (Docs/stragglers.md).
            copiesLost.insert(lease)
        case .stale(_, _, let seq, let kind):
            stale.insert(Key(job: job, lease: lease, seq: seq))
            if kind == "FINAL" || kind == "FAILED" { staleTerminal.insert(lease) }
        default: break
        }
    }

    /// The optimizer acknowledged `update`: it must be in the store; a result it recorded must
    /// not come from an attempt the broker had fenced.
    mutating func acknowledgedByOptimizer(_ update: Update, store: SimulatedStore, at time: SimTime) {
        let ref = update.attempt
        if update.kind == .final, case .complete(_, ref.lease)? = store.trials[ref.job]?.state,
           !recorded.contains(ref.job) {
            recorded.insert(ref.job)
            if fenced.contains(ref.lease) || staleTerminal.contains(ref.lease) {
                fail("S4", "\(ref) lease \(TraceText.lease(ref.lease)) was fenced, yet its result was recorded", at: time)
            }
        }
        guard !store.stored.contains(SimulatedStore.UpdateKey(job: ref.job, lease: ref.lease, seq: update.seq)) else { return }
        // A result is stored as its attempt's end (the attempt row), not always as a report row.
        if update.kind.isTerminal, let state = store.trials[ref.job]?.attempts[ref.lease], state != "running" {
            resultsStored.insert(Key(job: ref.job, lease: ref.lease, seq: update.seq))
            return
        }
        fail("S2", "the optimizer acknowledged \(TraceText.update(update)) without storing it", at: time)
    }

    /// A worker got the ACK of an update it held: the store has it, or the broker answered it
    /// as stale, or the trial had its result already.
    mutating func workerAcknowledged(job: String, lease: UInt64, seq: UInt64, store: SimulatedStore, at time: SimTime) {
        if store.stored.contains(SimulatedStore.UpdateKey(job: job, lease: lease, seq: seq)) { return }
        if resultsStored.contains(Key(job: job, lease: lease, seq: seq)) { return }
        if stale.contains(Key(job: job, lease: lease, seq: seq)) || copiesLost.contains(lease) { return }
        if store.trials[job]?.isTerminal == true { return }
        fail("S2", "a worker was acknowledged \(job) lease \(TraceText.lease(lease)) seq \(seq), which the store does not hold and the broker did not answer as stale", at: time)
    }

    mutating func workerLostUpdates(of ref: AttemptRef) { lostWithWorker.insert(ref.lease) }

    mutating func trialExited(_ ref: AttemptRef, value: Double, printed: Bool) {
        exitedZero[ref.job, default: []].insert(ref.lease)
        if !printed { silentExits.insert(ref.lease) }
    }

    /// S6: a retry resumes no earlier than the newest checkpoint acknowledged when it was assigned.
    mutating func attemptStarted(_ ref: AttemptRef, from step: Int, acknowledged: Int?, at time: SimTime) {
        guard let acknowledged, step < acknowledged else { return }
        fail("S6", "\(ref) started from step \(step), but the optimizer had acknowledged a checkpoint at step \(acknowledged)", at: time)
    }

    /// The checks on the finished study.
    mutating func finish(store: SimulatedStore, plans: [String: TrialPlan], at time: SimTime) {
        for problem in store.terminalRewrites { fail("S3", problem, at: time) }
        if store.refusedResults > 0 { fail("S1", "\(store.refusedResults) results delivered for trials that had one", at: time) }
        for job in store.order {
            guard let trial = store.trials[job], let plan = plans[job] else { continue }
            switch trial.state {
            case .complete(let value, let lease):
                let computed = silentExits.contains(lease) ? plan.values : [plan.value]
                if !computed.contains(value) {
                    fail("S1", "\(job) recorded \(value); its trial computed \(computed.map { "\($0)" }.joined(separator: ", "))", at: time)
                }
                let others = (finished[job] ?? []).subtracting([lease]).subtracting(lostWithWorker)
                if !others.isEmpty {
                    fail("S5", "\(job) has `finished` events for \(others.count + 1) attempts (leases \(([lease] + others.sorted()).map(TraceText.lease).joined(separator: ", "))); one result was recorded", at: time)
                }
            case .failed(let error):
                let completed = (exitedZero[job] ?? []).subtracting(fenced).subtracting(staleTerminal).subtracting(lostWithWorker)
                if !completed.isEmpty {
                    fail("S3", "\(job) recorded FAILED (\(error)) although attempt lease \(completed.sorted().map(TraceText.lease).joined(separator: ", ")) exited 0 and was never fenced", at: time)
                }
            case .running: break
            }
        }
    }
}
