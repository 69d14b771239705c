import LoomModel
import LoomOptimizer
import LoomWire

/// The invariant checker's view of the optimizer's store, kept from the writes the optimizer
/// committed (`mirror(_:)`): trials by job id with their state, attempts and newest checkpoint,
/// and every report, checkpoint and result stored (what may be acknowledged). It refuses and
/// reports writes that break S1 and S3.
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
    /// The study was marked finished (its budget is spent, or it failed or was cancelled).
    private(set) var studyFinished = false

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

    /// Folds in a turn's writes, once the optimizer committed them.
    func mirror(_ writes: [StoreWrite]) {
        for write in writes {
            switch write {
            case .insertTrial(let trial): create(trial.jobID)
            case .updateStudy(let study): if study.state != .running { studyFinished = true }
            case .recordAttempt(let attempt):
                let state = attempt.state == .failed ? "failed: \(attempt.error ?? "")" : attempt.state.rawValue
                recordAttempt(Self.ref(attempt.study, attempt.trial, attempt.attempt, attempt.lease), state: state)
            case .recordReport(let report):
                storeReport(Self.update(report.study, report.trial, report.attempt, report.lease, seq: report.seq))
            case .keepCheckpoint(let checkpoint, let report, _):
                let step = checkpoint.files.first { $0.path == "step" }.map { Int($0.size) } ?? 0
                storeCheckpoint(Self.update(report.study, report.trial, report.attempt, report.lease, seq: report.seq), step: step)
            case .recordResult(let trial, let attempt):
                let update = Self.update(trial.study, trial.number, attempt?.attempt ?? trial.attempts, attempt?.lease ?? 0, seq: .max)
                switch trial.state {
                case .complete: recordResult(update, value: trial.value ?? .nan)
                case .failed, .pruned, .cancelled:
                    recordFailure(update, error: "\(trial.state.rawValue): \(trial.error ?? trial.note ?? "")", final: true)
                case .waiting, .running, .paused: break
                }
            case .createStudy, .updateTrial, .recordWorkerEvent, .recordLogLines: break
            }
        }
    }

    static func ref(_ study: String, _ trial: Int, _ attempt: Int, _ lease: UInt64) -> AttemptRef {
        AttemptRef(job: "\(study)/\(trial)", attempt: UInt32(clamping: attempt), lease: lease)
    }

    static func update(_ study: String, _ trial: Int, _ attempt: Int, _ lease: UInt64, seq: UInt64) -> Update {
        Update(kind: .report, attempt: ref(study, trial, attempt, lease), seq: seq, payload: [])
    }
}
