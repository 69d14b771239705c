/// Every event the broker publishes on its feed, with its fields: the one definition the broker
/// encodes from and every reader (`watch`, the logger, `logs --follow`, the optimizer, the
/// dashboard, the benchmarks) decodes into. Docs/protocol.md §8.1 lists the same fields.
///
/// **Body.** `body` is a JSON object whose first member is `event` (the case's name on the wire)
/// followed by the case's fields, each key once; the broker's publisher puts `time` in front
/// (`FeedPublisher.stamped`). The update's own number is `update_seq`, never `seq`: a logger line
/// starts with the feed's `seq`, and one object must not hold the same key twice.
///
/// **Leases** are 64-bit (`epoch << 32 | counter`), beyond the 2^53 a JSON number holds exactly
/// in JavaScript, pandas or Python's `float`: `lease`, `backup_lease` and `winner_lease` are
/// written as decimal strings (`"lease":"4294967297"`). The decoder also takes a number, as
/// journals written before this change hold.
public enum BrokerEvent: Equatable, Sendable {
    /// A job entered the queue (`held`: it waits for its spec to be confirmed, a re-synced job).
    /// The payload is the job spec.
    case queued(job: String, client: String, attempt: UInt32, cpu: Double, gpu: Double, resync: Bool, held: Bool)
    /// An attempt was given a lease on `worker` (`backup`: a speculative second copy).
    case assigned(AttemptRef, worker: String, backup: Bool)
    /// The attempt's process runs.
    case started(AttemptRef, worker: String, backup: Bool)
    /// A worker's report, checkpoint, result or failure, published once. The payload is the
    /// update's as the worker sent it; `updateSeq` is the worker's per-attempt number.
    case update(UpdateKind, AttemptRef, worker: String, updateSeq: UInt64, backup: Bool)
    /// The broker failed the job on its own account (attempts exhausted, quarantine).
    case failedByBroker(AttemptRef, reason: String)
    /// An update from a lease that is no longer current, not delivered. `kind` is the update's
    /// command name (`REPORT`, `CHECKPOINT`, `FINAL`, `FAILED`).
    case stale(AttemptRef, worker: String, updateSeq: UInt64, kind: String)
    /// The attempt on `worker` was lost; the job runs again as `nextAttempt`, or waits for its
    /// owner to confirm the spec (`nextAttempt` nil: `awaiting_spec`).
    case requeued(job: String, attempt: UInt32, nextAttempt: UInt32?, worker: String, reason: String)
    /// A re-registered worker still runs the attempt (`orphan`: learnt from READY only).
    case reclaimed(AttemptRef, worker: String, orphan: Bool)
    /// The worker was told to stop an attempt that is no longer current.
    case fenced(AttemptRef, worker: String)
    /// The job's owner cancelled it (`reason`: the scheduler's verdict, when given).
    case cancelled(job: String, client: String, reason: String?)
    /// The attempt was silent for `silentS` (its stall timeout `stallTimeoutS`).
    case stalled(AttemptRef, worker: String, silentS: Double, stallTimeoutS: Double)
    /// A backup copy `backup` started on `backupWorker` for the slow attempt on `worker`.
    case speculated(job: String, attempt: UInt32, worker: String, backup: AttemptRef, backupWorker: String,
                    ranS: Double, peerMedianS: Double, peers: Int)
    /// The copy on `worker` was told to stop: the other one finished first.
    case superseded(AttemptRef, worker: String, winnerAttempt: UInt32, winnerLease: UInt64)
    /// One copy of a job with a backup ended without a result; attempt `continues` goes on.
    case copyLost(AttemptRef, worker: String, reason: String, continues: UInt32)
    /// Lines a trial wrote (one LOG), sent by `worker`.
    case log(LogBatch, worker: String)
    /// A worker's heartbeats became late (`slow`) or punctual again.
    case workerPace(worker: String, slow: Bool, latenessMs: Int, heartbeatMs: Int)
    /// A worker registered (`rejoined`: it was known; `holds`: attempts it still runs).
    case workerJoined(worker: String, host: String, pid: Int32, slots: Int, gpus: Int, heartbeatMs: Int,
                      rejoined: Bool, holds: Int)
    /// A worker went away (`left`: it said so; otherwise lost) with `attempts` running.
    case workerGone(worker: String, left: Bool, reason: String, attempts: Int)
    /// The broker is stopping.
    case brokerStopping(broker: String, shutdownWorkers: Bool)

    /// The wire name: the body's `event` and the topic's last segment (log: `log`).
    public var name: String {
        switch self {
        case .queued(_, _, _, _, _, _, let held): held ? "held" : "queued"
        case .assigned: "assigned"
        case .started: "started"
        case .update(let kind, _, _, _, _): Self.updateName(kind)
        case .failedByBroker: "failed"
        case .stale: "stale"
        case .requeued: "requeued"
        case .reclaimed: "reclaimed"
        case .fenced: "fenced"
        case .cancelled: "cancelled"
        case .stalled: "stalled"
        case .speculated: "speculated"
        case .superseded: "superseded"
        case .copyLost: "copy_lost"
        case .log: "log"
        case .workerPace(_, let slow, _, _): slow ? "slow" : "recovered"
        case .workerJoined: "joined"
        case .workerGone(_, let left, _, _): left ? "left" : "lost"
        case .brokerStopping: "stopping"
        }
    }

    /// The event name of an update kind (`final` is published as `finished`).
    public static func updateName(_ kind: UpdateKind) -> String {
        switch kind {
        case .report: "report"
        case .checkpoint: "checkpoint"
        case .final: "finished"
        case .failed: "failed"
        }
    }

    /// The job the event is about; nil for worker and broker events.
    public var job: String? {
        switch self {
        case .queued(let job, _, _, _, _, _, _), .requeued(let job, _, _, _, _), .cancelled(let job, _, _),
             .speculated(let job, _, _, _, _, _, _, _):
            job
        case .assigned(let ref, _, _), .started(let ref, _, _), .update(_, let ref, _, _, _), .failedByBroker(let ref, _),
             .stale(let ref, _, _, _), .reclaimed(let ref, _, _), .fenced(let ref, _), .stalled(let ref, _, _, _),
             .superseded(let ref, _, _, _), .copyLost(let ref, _, _, _):
            ref.job
        case .log(let batch, _): batch.attempt.job
        case .workerPace, .workerJoined, .workerGone, .brokerStopping: nil
        }
    }

    /// The worker the event names (for `speculated`, the slow copy's); nil when none.
    public var worker: String? {
        switch self {
        case .assigned(_, let w, _), .started(_, let w, _), .update(_, _, let w, _, _), .stale(_, let w, _, _),
             .requeued(_, _, _, let w, _), .reclaimed(_, let w, _), .fenced(_, let w), .stalled(_, let w, _, _),
             .speculated(_, _, let w, _, _, _, _, _), .superseded(_, let w, _, _), .copyLost(_, let w, _, _), .log(_, let w),
             .workerPace(let w, _, _, _), .workerJoined(let w, _, _, _, _, _, _, _), .workerGone(let w, _, _, _):
            w
        case .queued, .failedByBroker, .cancelled, .brokerStopping: nil
        }
    }

    /// The attempt number the event is about; nil when none.
    public var attempt: UInt32? {
        switch self {
        case .queued(_, _, let a, _, _, _, _), .requeued(_, let a, _, _, _), .speculated(_, let a, _, _, _, _, _, _): a
        case .assigned(let ref, _, _), .started(let ref, _, _), .update(_, let ref, _, _, _), .failedByBroker(let ref, _),
             .stale(let ref, _, _, _), .reclaimed(let ref, _, _), .fenced(let ref, _), .stalled(let ref, _, _, _),
             .superseded(let ref, _, _, _), .copyLost(let ref, _, _, _):
            ref.attempt
        case .log(let batch, _): batch.attempt.attempt
        case .cancelled, .workerPace, .workerJoined, .workerGone, .brokerStopping: nil
        }
    }

    /// The lease the event is about; nil when none (`speculated`: the slow copy's is not named).
    public var lease: UInt64? {
        switch self {
        case .assigned(let ref, _, _), .started(let ref, _, _), .update(_, let ref, _, _, _), .failedByBroker(let ref, _),
             .stale(let ref, _, _, _), .reclaimed(let ref, _, _), .fenced(let ref, _), .stalled(let ref, _, _, _),
             .superseded(let ref, _, _, _), .copyLost(let ref, _, _, _):
            ref.lease
        case .log(let batch, _): batch.attempt.lease
        case .queued, .requeued, .cancelled, .speculated, .workerPace, .workerJoined, .workerGone, .brokerStopping: nil
        }
    }

    /// The feed topic: `job/<job>/<name>`, `log/<job>/<attempt>`, `worker/<id>/<name>`,
    /// `broker/<name>`.
    public var topic: String {
        switch self {
        case .log(let batch, _): "log/\(batch.attempt.job)/\(batch.attempt.attempt)"
        case .workerPace(let w, _, _, _), .workerJoined(let w, _, _, _, _, _, _, _), .workerGone(let w, _, _, _):
            "worker/\(w)/\(name)"
        case .brokerStopping: "broker/\(name)"
        default: "job/\(job ?? "")/\(name)"
        }
    }
}

/// A feed event decoded: the frame-level `FeedEvent`'s seq, topic and payload with its typed body.
public struct TypedFeedEvent: Equatable, Sendable {
    public var seq: UInt64
    public var topic: String
    /// Seconds since the Unix epoch, as the broker stamped it (0 when the body had none).
    public var time: Double
    public var event: BrokerEvent
    public var payload: Frame?

    public init(seq: UInt64, topic: String, time: Double, event: BrokerEvent, payload: Frame? = nil) {
        self.seq = seq
        self.topic = topic
        self.time = time
        self.event = event
        self.payload = payload
    }
}

extension FeedEvent {
    /// The feed message of `event` (its body without `time`, which the publisher stamps).
    public init(seq: UInt64, event: BrokerEvent, payload: Frame? = nil) {
        self.init(topic: event.topic, seq: seq, body: event.body, payload: payload)
    }

    /// The typed event; throws naming what is wrong when the body is not one of `BrokerEvent`'s.
    public func typed() throws(FeedDecodeError) -> TypedFeedEvent {
        let parsed: JSONValue
        do { parsed = try JSONValue(parsing: body) } catch {
            throw FeedDecodeError(topic: topic, reason: "the body is not JSON: \(error)")
        }
        guard case .object(let object) = parsed else { throw FeedDecodeError(topic: topic, reason: "the body is not a JSON object") }
        let event = try BrokerEvent(body: object, topic: topic)
        return TypedFeedEvent(seq: seq, topic: topic, time: object["time"]?.double ?? 0, event: event, payload: payload)
    }
}

/// A feed body that is not a `BrokerEvent`: which event (topic) and what was wrong.
public struct FeedDecodeError: Error, Equatable, CustomStringConvertible {
    public var topic: String
    public var reason: String
    public init(topic: String, reason: String) {
        self.topic = topic
        self.reason = reason
    }
    public var description: String { "feed event \(topic): \(reason)" }
}
