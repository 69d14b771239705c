/// The one encoding and the one decoding of `BrokerEvent` bodies (Docs/protocol.md §8.1).
extension BrokerEvent {
    /// The JSON body without `time`: `{"event":<name>,<fields>}`, each key once.
    public var body: Frame {
        var w = JSONObjectWriter()
        w.add("event", name)
        switch self {
        case .queued(let job, let client, let attempt, let cpu, let gpu, let resync, _):
            w.add("job", job)
            w.add("client", client)
            w.add("attempt", attempt)
            w.add("cpu", cpu)
            w.add("gpu", gpu)
            w.add("resync", resync)
        case .assigned(let ref, let worker, let backup), .started(let ref, let worker, let backup):
            Self.add(ref, to: &w)
            w.add("worker", worker)
            if backup { w.add("backup", true) }
        case .update(_, let ref, let worker, let updateSeq, let backup):
            Self.add(ref, to: &w)
            w.add("worker", worker)
            w.add("update_seq", updateSeq)
            if backup { w.add("backup", true) }
        case .failedByBroker(let ref, let reason):
            Self.add(ref, to: &w)
            w.add("reason", reason)
        case .stale(let ref, let worker, let updateSeq, let kind):
            Self.add(ref, to: &w)
            w.add("worker", worker)
            w.add("update_seq", updateSeq)
            w.add("kind", kind)
        case .requeued(let job, let attempt, let nextAttempt, let worker, let reason):
            w.add("job", job)
            w.add("attempt", attempt)
            if let nextAttempt { w.add("next_attempt", nextAttempt) } else { w.add("awaiting_spec", true) }
            w.add("worker", worker)
            w.add("reason", reason)
        case .reclaimed(let ref, let worker, let orphan):
            Self.add(ref, to: &w)
            w.add("worker", worker)
            if orphan { w.add("orphan", true) }
        case .fenced(let ref, let worker):
            Self.add(ref, to: &w)
            w.add("worker", worker)
        case .cancelled(let job, let client, let reason):
            w.add("job", job)
            w.add("client", client)
            if let reason { w.add("reason", reason) }
        case .stalled(let ref, let worker, let silentS, let stallTimeoutS):
            Self.add(ref, to: &w)
            w.add("worker", worker)
            w.add("silent_s", silentS)
            w.add("stall_timeout_s", stallTimeoutS)
        case .speculated(let job, let attempt, let worker, let backup, let backupWorker, let ranS, let peerMedianS, let peers):
            w.add("job", job)
            w.add("attempt", attempt)
            w.add("worker", worker)
            w.add("backup_attempt", backup.attempt)
            w.add("backup_lease", String(backup.lease))
            w.add("backup_worker", backupWorker)
            w.add("ran_s", ranS)
            w.add("peer_median_s", peerMedianS)
            w.add("peers", peers)
        case .superseded(let ref, let worker, let winnerAttempt, let winnerLease):
            Self.add(ref, to: &w)
            w.add("worker", worker)
            w.add("winner_attempt", winnerAttempt)
            w.add("winner_lease", String(winnerLease))
        case .copyLost(let ref, let worker, let reason, let continues):
            Self.add(ref, to: &w)
            w.add("worker", worker)
            w.add("reason", reason)
            w.add("continues", continues)
        case .log(let batch, let worker):
            Self.add(batch.attempt, to: &w)
            w.add("stream", batch.stream.rawValue)
            w.add("first", batch.firstLine)
            w.addStrings("lines", batch.lines)
            w.add("worker", worker)
        case .workerPace(let worker, _, let latenessMs, let heartbeatMs):
            w.add("worker", worker)
            w.add("lateness_ms", latenessMs)
            w.add("heartbeat_ms", heartbeatMs)
        case .workerJoined(let worker, let host, let pid, let slots, let gpus, let heartbeatMs, let rejoined, let holds):
            w.add("worker", worker)
            w.add("host", host)
            w.add("pid", pid)
            w.add("slots", slots)
            w.add("gpus", gpus)
            w.add("heartbeat_ms", heartbeatMs)
            w.add("rejoined", rejoined)
            w.add("holds", holds)
        case .workerGone(let worker, _, let reason, let attempts):
            w.add("worker", worker)
            w.add("reason", reason)
            w.add("attempts", attempts)
        case .brokerStopping(let broker, let shutdownWorkers):
            w.add("broker", broker)
            w.add("shutdown_workers", shutdownWorkers)
        }
        return w.finish()
    }

    /// `job`, `attempt`, `lease` (a decimal string).
    private static func add(_ ref: AttemptRef, to w: inout JSONObjectWriter) {
        w.add("job", ref.job)
        w.add("attempt", ref.attempt)
        w.add("lease", String(ref.lease))
    }

    /// Decodes a body (already parsed); `topic` only names the event in errors.
    public init(body: [String: JSONValue], topic: String) throws(FeedDecodeError) {
        let f = FeedFields(body: body, topic: topic)
        let name = try f.string("event")
        switch name {
        case "queued", "held":
            self = .queued(job: try f.string("job"), client: try f.string("client"), attempt: try f.u32("attempt"),
                           cpu: try f.double("cpu"), gpu: try f.double("gpu"), resync: f.flag("resync"), held: name == "held")
        case "assigned": self = .assigned(try f.ref(), worker: try f.string("worker"), backup: f.flag("backup"))
        case "started": self = .started(try f.ref(), worker: try f.string("worker"), backup: f.flag("backup"))
        case "report", "checkpoint", "finished":
            let kind: UpdateKind = name == "report" ? .report : name == "checkpoint" ? .checkpoint : .final
            self = .update(kind, try f.ref(), worker: try f.string("worker"), updateSeq: try f.updateSeq(), backup: f.flag("backup"))
        case "failed":
            if body["worker"] == nil {
                self = .failedByBroker(try f.ref(), reason: try f.string("reason"))
            } else {
                self = .update(.failed, try f.ref(), worker: try f.string("worker"), updateSeq: try f.updateSeq(), backup: f.flag("backup"))
            }
        case "stale":
            self = .stale(try f.ref(), worker: try f.string("worker"), updateSeq: try f.updateSeq(), kind: try f.string("kind"))
        case "requeued":
            self = .requeued(job: try f.string("job"), attempt: try f.u32("attempt"),
                             nextAttempt: body["next_attempt"] == nil ? nil : try f.u32("next_attempt"),
                             worker: try f.string("worker"), reason: try f.string("reason"))
        case "reclaimed": self = .reclaimed(try f.ref(), worker: try f.string("worker"), orphan: f.flag("orphan"))
        case "fenced": self = .fenced(try f.ref(), worker: try f.string("worker"))
        case "cancelled":
            self = .cancelled(job: try f.string("job"), client: try f.string("client"),
                              reason: body["reason"] == nil ? nil : try f.string("reason"))
        case "stalled":
            self = .stalled(try f.ref(), worker: try f.string("worker"), silentS: try f.double("silent_s"),
                            stallTimeoutS: try f.double("stall_timeout_s"))
        case "speculated":
            let job = try f.string("job")
            self = .speculated(job: job, attempt: try f.u32("attempt"), worker: try f.string("worker"),
                               backup: AttemptRef(job: job, attempt: try f.u32("backup_attempt"), lease: try f.lease("backup_lease")),
                               backupWorker: try f.string("backup_worker"), ranS: try f.double("ran_s"),
                               peerMedianS: try f.double("peer_median_s"), peers: try f.int("peers"))
        case "superseded":
            self = .superseded(try f.ref(), worker: try f.string("worker"), winnerAttempt: try f.u32("winner_attempt"),
                               winnerLease: try f.lease("winner_lease"))
        case "copy_lost":
            self = .copyLost(try f.ref(), worker: try f.string("worker"), reason: try f.string("reason"),
                             continues: try f.u32("continues"))
        case "log":
            guard let stream = LogBatch.Stream(rawValue: try f.string("stream")) else {
                throw f.error("`stream` must be \"stdout\" or \"stderr\"")
            }
            guard case .array(let items)? = body["lines"] else { throw f.error("`lines` must be an array of strings") }
            var lines: [String] = []
            lines.reserveCapacity(items.count)
            for item in items {
                guard case .string(let line) = item else { throw f.error("`lines` must be an array of strings") }
                lines.append(line)
            }
            let first = try f.u64("first")
            guard first >= 1 else { throw f.error("`first` must be at least 1") }
            self = .log(LogBatch(attempt: try f.ref(), stream: stream, firstLine: first, lines: lines),
                        worker: try f.string("worker"))
        case "slow", "recovered":
            self = .workerPace(worker: try f.string("worker"), slow: name == "slow", latenessMs: try f.int("lateness_ms"),
                               heartbeatMs: try f.int("heartbeat_ms"))
        case "joined":
            self = .workerJoined(worker: try f.string("worker"), host: try f.string("host"), pid: Int32(clamping: try f.int("pid")),
                                 slots: try f.int("slots"), gpus: try f.int("gpus"), heartbeatMs: try f.int("heartbeat_ms"),
                                 rejoined: f.flag("rejoined"), holds: try f.int("holds"))
        case "lost", "left":
            self = .workerGone(worker: try f.string("worker"), left: name == "left", reason: try f.string("reason"),
                               attempts: try f.int("attempts"))
        case "stopping":
            self = .brokerStopping(broker: try f.string("broker"), shutdownWorkers: f.flag("shutdown_workers"))
        default:
            throw f.error("unknown event \"\(name)\"")
        }
    }
}

/// Reads a body's fields, throwing an error that names the event and the field.
struct FeedFields {
    let body: [String: JSONValue]
    let topic: String

    func error(_ reason: String) -> FeedDecodeError { FeedDecodeError(topic: topic, reason: reason) }

    func string(_ key: String) throws(FeedDecodeError) -> String {
        guard case .string(let s)? = body[key] else { throw error("`\(key)` must be a string") }
        return s
    }

    func double(_ key: String) throws(FeedDecodeError) -> Double {
        guard case .number(let n)? = body[key] else { throw error("`\(key)` must be a number") }
        return n
    }

    func flag(_ key: String) -> Bool { body[key] == .bool(true) }

    func int(_ key: String) throws(FeedDecodeError) -> Int {
        let n = try double(key)
        guard n.rounded() == n, abs(n) < 9.0e15 else { throw error("`\(key)` must be an integer") }
        return Int(n)
    }

    func u64(_ key: String) throws(FeedDecodeError) -> UInt64 {
        let n = try double(key)
        guard n.rounded() == n, n >= 0, n < 1.8e19 else { throw error("`\(key)` must be an unsigned integer") }
        return UInt64(n)
    }

    func u32(_ key: String) throws(FeedDecodeError) -> UInt32 {
        let n = try double(key)
        guard n.rounded() == n, n >= 0, n <= Double(UInt32.max) else { throw error("`\(key)` must be an integer in 0…\(UInt32.max)") }
        return UInt32(n)
    }

    /// A lease: a decimal string, or a number in journals written before leases were strings.
    func lease(_ key: String) throws(FeedDecodeError) -> UInt64 {
        switch body[key] {
        case .string(let s)?:
            guard let v = UInt64(s) else { throw error("`\(key)` must be a decimal unsigned 64-bit integer") }
            return v
        case .number?: return try u64(key)
        default: throw error("`\(key)` must be a decimal string")
        }
    }

    /// `update_seq`, or `seq` in bodies written before the rename.
    func updateSeq() throws(FeedDecodeError) -> UInt64 {
        body["update_seq"] == nil && body["seq"] != nil ? try u64("seq") : try u64("update_seq")
    }

    func ref() throws(FeedDecodeError) -> AttemptRef {
        AttemptRef(job: try string("job"), attempt: try u32("attempt"), lease: try lease("lease"))
    }
}
