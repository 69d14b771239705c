import LoomModel
import LoomWire

/// What one event of the `OptimizerMachine` asks its service to do, in this order:
/// 1. apply `writes` to the store in ONE batch (`StoreWrite.apply(to:)`);
/// 2. only once it committed, send `messages` to the broker (ACKs first, as listed), answer
///    `queries` from the committed store, log `notes`;
/// 3. then perform `disk` (blob files) and hand the outcomes back (`OptimizerMachine.diskDone`).
/// If the commit fails, nothing of it is sent or performed: the service rebuilds the machine from
/// the store.
public struct OptimizerActions: Sendable, Equatable {
    public var writes: [StoreWrite] = []
    public var messages: [OptimizerMessage] = []
    public var queries: [ReadQuery] = []
    public var disk: [DiskAction] = []
    /// FETCHes of workers restoring a checkpoint: read-only, answered by the service from the
    /// committed checkpoint index and blob directory (`CheckpointServer.answer`).
    public var fetches: [Transfer] = []
    public var notes: [OptimizerNote] = []
    /// How long the searchers' `suggest` calls took (only with `Settings.suggestClock`): for the
    /// ask latency metric, nothing to carry out.
    public var suggestTimes: [SuggestTime] = []

    public init() {}

    public var isEmpty: Bool { writes.isEmpty && messages.isEmpty && queries.isEmpty && disk.isEmpty && fetches.isEmpty && notes.isEmpty }

    /// The messages in sending order: acknowledgements first, then the others as emitted.
    public var orderedMessages: [OptimizerMessage] {
        messages.filter(\.isAcknowledgement) + messages.filter { !$0.isAcknowledgement }
    }

    /// Appends `other` after these actions.
    public mutating func append(_ other: OptimizerActions) {
        writes += other.writes
        messages += other.messages
        queries += other.queries
        disk += other.disk
        fetches += other.fetches
        notes += other.notes
        suggestTimes += other.suggestTimes
    }
}

/// One timed `suggest` of a study's searcher.
public struct SuggestTime: Sendable, Equatable {
    /// The searcher's kind (`random`, `tpe`, …).
    public var searcher: String
    public var duration: Duration

    public init(searcher: String, duration: Duration) {
        self.searcher = searcher
        self.duration = duration
    }
}

/// One write to the store. Each maps to one `StudyStore` (or `CheckpointIndex`, `TrialLogStore`)
/// call with that call's semantics.
public enum StoreWrite: Sendable, Equatable {
    case createStudy(StudyRecord)
    case updateStudy(StudyRecord)
    case insertTrial(TrialRecord)
    case updateTrial(TrialRecord)
    case recordAttempt(AttemptRecord)
    /// Idempotent by `(study, trial, lease, seq)`.
    case recordReport(ReportRecord)
    /// A trial's terminal state with its attempt; attempts still running are closed by the store.
    case recordResult(TrialRecord, AttemptRecord?)
    /// A checkpoint whose blobs are all stored, its CHECKPOINT report, and pruning to the newest
    /// `keep` (a store without a checkpoint index records only the report).
    case keepCheckpoint(CheckpointRecord, report: ReportRecord, keep: Int)
    /// Best effort: a failure is logged, not a reason to roll the turn back.
    case recordWorkerEvent(WorkerEventRecord)
    /// Best effort: lines of a trial this store does not hold are not ours to keep.
    case recordLogLines([LogLineRecord])

    /// Whether a failure of this write is logged and ignored instead of failing the turn.
    public var isBestEffort: Bool {
        switch self {
        case .recordWorkerEvent, .recordLogLines: true
        default: false
        }
    }
}

/// A message to the broker, one per `ClientStateMachine` call.
public enum OptimizerMessage: Sendable, Equatable {
    /// `acknowledge(_:now:)`: the update is stored.
    case acknowledge(Update)
    /// `submit(_:now:)`.
    case submit([JobSubmission])
    /// `cancel(_:reason:now:)`: its CANCELLED answer comes back as a `.cancelled` event.
    case cancel(jobs: [String], reason: String?)
    /// `follow(_:)`: the jobs' updates are delivered although this run did not submit them
    /// (the attempt of a trial paused before a restart still owes its announced checkpoint).
    /// Nothing goes on the wire.
    case follow(jobs: [String])
    /// `respond(request:to:body:now:)`.
    case respond(request: UInt64, to: String, body: Frame)
    /// `transfer(_:now:)`: a FETCH of a checkpoint upload, or a CHUNK answering a worker.
    case transfer(Transfer)

    public var isAcknowledgement: Bool {
        if case .acknowledge = self { true } else { false }
    }

    /// The wire command's name, for logs.
    public var name: String {
        switch self {
        case .acknowledge: "ACK"
        case .submit: "SUBMIT"
        case .cancel: "CANCEL_JOBS"
        case .follow: "FOLLOW (local)"
        case .respond: "RESPOND"
        case .transfer: "TRANSFER"
        }
    }
}

/// A read-only REQUEST, answered by the service from the committed store (it changes nothing):
/// `studies`, `status` of a study the machine does not drive, `trials`, `export`, `logs`.
public struct ReadQuery: Sendable, Equatable {
    public var request: UInt64
    public var from: String
    public var body: OptimizerRequest
    /// The requester's key (nil: the broker does not authenticate). The machine has already
    /// checked it against the study the request names; a `studies` listing shows only the
    /// studies this key may see (`StudyAccess`).
    public var requester: String?

    public init(request: UInt64, from: String, body: OptimizerRequest, requester: String? = nil) {
        self.request = request
        self.from = from
        self.body = body
        self.requester = requester
    }
}

/// A write to the checkpoint blob directory. Partial files are named by the machine.
public enum DiskAction: Sendable, Equatable {
    /// Write a received chunk at `offset` of the partial file `partial` (created if missing);
    /// a failure is reported back as `.failed(upload)`.
    case writeChunk(upload: UploadID, partial: String, offset: Int64, bytes: [UInt8])
    /// Verify that `partial` hashes to `sha256` and make it that blob; report `.committed` or
    /// `.failed` back.
    case commitBlob(upload: UploadID, partial: String, sha256: String)
    /// Remove a partial file (its upload failed or was dropped).
    case discardPartial(String)
    /// Delete blobs no checkpoint and no upload references any more.
    case deleteBlobs([String])
}

/// One upload: the attempt it pulls from.
public struct UploadID: Hashable, Sendable, Comparable {
    public var job: String
    public var lease: UInt64

    public init(job: String, lease: UInt64) {
        self.job = job
        self.lease = lease
    }

    public static func < (a: UploadID, b: UploadID) -> Bool { (a.job, a.lease) < (b.job, b.lease) }
}

/// What became of a `DiskAction`, handed back to the machine.
public enum DiskOutcome: Sendable, Equatable {
    case committed(upload: UploadID, sha256: String)
    case failed(upload: UploadID, reason: String)
}

/// A line for the service's log: the machine does not log itself.
public struct OptimizerNote: Sendable, Equatable {
    public enum Level: Sendable, Equatable { case debug, info, warning, error }

    public var level: Level
    public var message: String
    public var metadata: [String: String]

    public static func debug(_ message: String, _ metadata: [String: String] = [:]) -> OptimizerNote { OptimizerNote(level: .debug, message: message, metadata: metadata) }
    public static func info(_ message: String, _ metadata: [String: String] = [:]) -> OptimizerNote { OptimizerNote(level: .info, message: message, metadata: metadata) }
    public static func warning(_ message: String, _ metadata: [String: String] = [:]) -> OptimizerNote { OptimizerNote(level: .warning, message: message, metadata: metadata) }
    public static func error(_ message: String, _ metadata: [String: String] = [:]) -> OptimizerNote { OptimizerNote(level: .error, message: message, metadata: metadata) }
}
