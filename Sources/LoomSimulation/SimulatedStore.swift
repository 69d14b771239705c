import LoomWire

/// The optimizer's store as a simulated disk: a write is committed when the call returns (the
/// optimizer commits before it acknowledges), and everything committed survives the optimizer's
/// crash. The invariant checker reads it.
final class SimulatedStore {
    /// A trial's row.
    struct Trial {
        enum State: Equatable {
            case running
            case complete(value: Double, lease: UInt64)
            case failed(String)
        }

        var job: String
        var state: State = .running
        /// Highest attempt number seen (started, reported or submitted).
        var highestAttempt: UInt32 = 1
        /// FAILED attempts recorded.
        var failures = 0
        /// Attempt states by lease: "running", "complete", "failed: …", "lost", "stalled", ….
        var attempts: [UInt64: String] = [:]
        /// The newest stored checkpoint: (attempt, seq) and the step it holds.
        var checkpoint: (attempt: UInt32, seq: UInt64, step: Int)?

        var isTerminal: Bool { state != .running }
    }

    /// One stored update, by (job, lease, seq).
    struct UpdateKey: Hashable {
        var job: String
        var lease: UInt64
        var seq: UInt64
    }

    private(set) var trials: [String: Trial] = [:]
    /// The optimizer's blob directory (`checkpoints/` beside the store).
    var blobs: Set<String> = []
    /// Trial ids in creation order.
    private(set) var order: [String] = []
    /// Every report, checkpoint and result stored (what may be acknowledged).
    private(set) var stored: Set<UpdateKey> = []
    /// Results recorded (a second one for a trial is refused and counted here, never applied).
    private(set) var refusedResults = 0
    /// Trials complete or failed (kept as a count: the run asks after every event).
    private(set) var terminalCount = 0
    /// Writes that changed a terminal trial: must never happen (S3).
    private(set) var terminalRewrites: [String] = []

    func create(_ job: String) {
        guard trials[job] == nil else { return }
        trials[job] = Trial(job: job)
        order.append(job)
    }

    func storeReport(_ update: Update) {
        stored.insert(UpdateKey(job: update.attempt.job, lease: update.attempt.lease, seq: update.seq))
        noteAttempt(update.attempt)
    }

    func storeCheckpoint(_ update: Update, step: Int) {
        storeReport(update)
        let ref = update.attempt
        guard var trial = trials[ref.job] else { return }
        if trial.checkpoint.map({ (ref.attempt, update.seq) > ($0.attempt, $0.seq) }) ?? true {
            trial.checkpoint = (ref.attempt, update.seq, step)
        }
        trials[ref.job] = trial
    }

    /// Records a trial's result once; a second one is refused.
    @discardableResult
    func recordResult(_ update: Update, value: Double) -> Bool {
        let ref = update.attempt
        stored.insert(UpdateKey(job: ref.job, lease: ref.lease, seq: update.seq))
        guard var trial = trials[ref.job], !trial.isTerminal else {
            refusedResults += 1
            return false
        }
        trial.state = .complete(value: value, lease: ref.lease)
        trial.attempts[ref.lease] = "complete"
        trials[ref.job] = trial
        terminalCount += 1
        return true
    }

    /// Records a FAILED attempt; fails the trial when `final`.
    func recordFailure(_ update: Update, error: String, final: Bool) {
        let ref = update.attempt
        stored.insert(UpdateKey(job: ref.job, lease: ref.lease, seq: update.seq))
        guard var trial = trials[ref.job] else { return }
        if trial.isTerminal {
            if case .complete = trial.state { terminalRewrites.append("\(ref): FAILED recorded after complete") }
            return
        }
        // Once per attempt: a resend of a FAILED the optimizer recorded is not another failure.
        if trial.attempts[ref.lease]?.hasPrefix("failed") == true { return }
        trial.failures += 1
        trial.attempts[ref.lease] = "failed: \(error)"
        if final {
            trial.state = .failed(error)
            terminalCount += 1
        }
        trials[ref.job] = trial
    }

    func recordAttempt(_ ref: AttemptRef, state: String) {
        guard var trial = trials[ref.job] else { return }
        if trial.isTerminal, trial.attempts[ref.lease] == "complete" {
            terminalRewrites.append("\(ref): the completed attempt recorded \(state)")
            return
        }
        trial.attempts[ref.lease] = state
        trial.highestAttempt = max(trial.highestAttempt, ref.attempt)
        trials[ref.job] = trial
    }

    func noteAttempt(_ ref: AttemptRef) {
        guard let trial = trials[ref.job] else { return }
        trials[ref.job]!.highestAttempt = max(trial.highestAttempt, ref.attempt)
    }

    func noteSubmitted(_ job: String, attempt: UInt32) {
        guard let trial = trials[job] else { return }
        trials[job]!.highestAttempt = max(trial.highestAttempt, attempt)
    }

    var allTerminal: Bool { !order.isEmpty && terminalCount == order.count }
}
