import LoomWire

/// A study as stored. Times are seconds since the Unix epoch.
public struct StudyRecord: Equatable, Sendable {
    /// Unique id, `<name>-<n>` (also the prefix of its trials' job ids).
    public var id: String
    public var name: String
    /// The spec's YAML text as submitted; a restarted optimizer parses it again.
    public var specText: String
    /// Directory relative paths in the spec are resolved against.
    public var baseDirectory: String
    public var state: StudyState
    public var createdAt: Double
    public var finishedAt: Double?
    /// Why the study stopped (`max_trials reached`, `cancelled`, `fail_fast: trial 3 failed`, …).
    public var reason: String?
    /// The key (`ROLE/NAME`) that submitted it, when the broker authenticates: only that key (or
    /// an optimizer key) may read, steer or cancel it. Nil: submitted without authentication.
    public var owner: String?

    public init(id: String, name: String, specText: String, baseDirectory: String, state: StudyState = .running,
                createdAt: Double, finishedAt: Double? = nil, reason: String? = nil, owner: String? = nil) {
        self.id = id
        self.name = name
        self.specText = specText
        self.baseDirectory = baseDirectory
        self.state = state
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.reason = reason
        self.owner = owner
    }
}

/// One trial of a study. Its job id at the broker is `<study id>/<number>`.
public struct TrialRecord: Equatable, Sendable {
    public var study: String
    /// 1, 2, … in the order the trials were created.
    public var number: Int
    public var config: Config
    public var state: TrialState
    /// Where the config came from: `searcher`, `points_to_evaluate` or `ask`.
    public var source: String
    /// Attempts started so far.
    public var attempts: Int
    /// The final value of the study's metric; nil until complete.
    public var value: Double?
    /// The last metrics object the trial reported (its final one once complete).
    public var metrics: JSONValue?
    /// The worker of the latest attempt.
    public var worker: String?
    /// The error of the last failed attempt.
    public var error: String?
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    /// The resource level (e.g. epoch) its current or last attempt runs to: the job's `budget`;
    /// nil when the attempt runs until it ends by itself.
    public var budget: Double?
    /// The scheduler's last word on it: `paused at rung 1 (epoch 1)`, `promoted from rung 1
    /// (epoch 1) to epoch 3`, `pruned at rung 2 (epoch 3): …`, `exploited trial 4 at epoch 6`.
    public var note: String?
    /// PBT: the trial whose latest checkpoint its next attempt restores (the job's `restore_from`).
    public var restoreFrom: Int?

    public init(study: String, number: Int, config: Config, state: TrialState = .waiting, source: String = "searcher",
                attempts: Int = 0, value: Double? = nil, metrics: JSONValue? = nil, worker: String? = nil,
                error: String? = nil, createdAt: Double, startedAt: Double? = nil, finishedAt: Double? = nil,
                budget: Double? = nil, note: String? = nil, restoreFrom: Int? = nil) {
        self.study = study
        self.number = number
        self.config = config
        self.state = state
        self.source = source
        self.attempts = attempts
        self.value = value
        self.metrics = metrics
        self.worker = worker
        self.error = error
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.budget = budget
        self.note = note
        self.restoreFrom = restoreFrom
    }

    /// The job id at the broker.
    public var jobID: String { "\(study)/\(number)" }
}

/// The states of one attempt of a trial.
public enum AttemptState: String, Codable, Sendable, CaseIterable {
    case running
    case complete
    case failed
    /// Its worker was lost; another attempt follows.
    case lost
    /// It reported nothing for its stall timeout and the broker cancelled it.
    case stalled
    /// A speculative copy of the same job finished first; this one was told to stop.
    case superseded
    /// Still running when the trial ended another way (a result of another attempt, a
    /// scheduler's or the study's end): the broker cancelled it.
    case cancelled

    /// Whether the attempt has ended.
    public var isFinished: Bool { self != .running }
}

extension AttemptRecord {
    /// What becomes of an attempt still `running` when its trial is recorded as finished
    /// (`recordResult`) without it.
    public func closed(by trial: TrialRecord) -> AttemptRecord {
        var closed = self
        closed.state = .cancelled
        closed.error = "still running when the trial ended (\(trial.state.rawValue)); the broker cancelled it"
        closed.finishedAt = trial.finishedAt ?? startedAt
        return closed
    }
}

/// One attempt of a trial.
public struct AttemptRecord: Equatable, Sendable {
    public var study: String
    public var trial: Int
    public var attempt: Int
    public var lease: UInt64
    public var worker: String?
    public var state: AttemptState
    public var error: String?
    public var startedAt: Double
    public var finishedAt: Double?

    public init(study: String, trial: Int, attempt: Int, lease: UInt64, worker: String? = nil, state: AttemptState = .running,
                error: String? = nil, startedAt: Double, finishedAt: Double? = nil) {
        self.study = study
        self.trial = trial
        self.attempt = attempt
        self.lease = lease
        self.worker = worker
        self.state = state
        self.error = error
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// An intermediate report (or checkpoint notice) of an attempt. `(study, trial, lease, seq)`
/// identifies it: recording it twice is a no-op.
public struct ReportRecord: Equatable, Sendable {
    public var study: String
    public var trial: Int
    public var attempt: Int
    public var lease: UInt64
    public var seq: UInt64
    /// `report`, `checkpoint`, or `final` (a FINAL's metrics, kept when the study's scheduler
    /// pauses trials, so a restart replays the result a budget-style job ended with).
    public var kind: String
    public var metrics: JSONValue
    public var time: Double

    public init(study: String, trial: Int, attempt: Int, lease: UInt64, seq: UInt64, kind: String = "report",
                metrics: JSONValue, time: Double) {
        self.study = study
        self.trial = trial
        self.attempt = attempt
        self.lease = lease
        self.seq = seq
        self.kind = kind
        self.metrics = metrics
        self.time = time
    }
}

/// Something that happened to a worker (joined, lost, left), as the optimizer saw it.
public struct WorkerEventRecord: Equatable, Sendable {
    public var time: Double
    public var worker: String
    public var event: String
    public var detail: String?

    public init(time: Double, worker: String, event: String, detail: String? = nil) {
        self.time = time
        self.worker = worker
        self.event = event
        self.detail = detail
    }
}

/// A checkpoint the optimizer stored: which attempt of which trial wrote it, and its files. The
/// files' content lives beside the store in a blob directory, one blob per distinct SHA-256.
public struct CheckpointRecord: Equatable, Sendable {
    public var study: String
    public var trial: Int
    public var attempt: Int
    public var lease: UInt64
    /// The CHECKPOINT update's seq; with `attempt`, orders a trial's checkpoints.
    public var seq: UInt64
    public var files: [CheckpointFile]
    public var createdAt: Double
    /// The key of the worker that wrote it (`ROLE/NAME`), or `worker-id:ID` when the broker did
    /// not authenticate; nil in checkpoints stored before it was recorded.
    public var writer: String?

    public init(study: String, trial: Int, attempt: Int, lease: UInt64, seq: UInt64, files: [CheckpointFile], createdAt: Double,
                writer: String? = nil) {
        self.study = study
        self.trial = trial
        self.attempt = attempt
        self.lease = lease
        self.seq = seq
        self.files = files
        self.createdAt = createdAt
        self.writer = writer
    }

    public var bytes: Int64 { files.reduce(0) { $0 + $1.size } }
}

/// One line a trial wrote, as the optimizer stores it from the feed's `log/` topics.
public struct LogLineRecord: Equatable, Sendable {
    public var study: String
    public var trial: Int
    public var attempt: Int
    /// `stdout` or `stderr`.
    public var stream: String
    /// The line's number within its stream of its attempt, from 1.
    public var line: Int
    public var text: String
    /// The feed sequence number of the LOG event that carried it.
    public var feedSeq: UInt64

    public init(study: String, trial: Int, attempt: Int, stream: String, line: Int, text: String, feedSeq: UInt64) {
        self.study = study
        self.trial = trial
        self.attempt = attempt
        self.stream = stream
        self.line = line
        self.text = text
        self.feedSeq = feedSeq
    }
}
