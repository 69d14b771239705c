import Foundation

// MARK: - Encoding

extension WorkerMessage {
    /// The frames of this message, protocol frame first.
    public var frames: [Frame] {
        let h = Wire.workerHeader
        switch self {
        case .ready(let info): return [h, [Command.ready.rawValue], JSONCoding.encode(info)]
        case .heartbeat: return [h, [Command.heartbeat.rawValue]]
        case .exited(let leases): return [h, [Command.heartbeat.rawValue], leases.flatMap(BigEndian.frame)]
        case .started(let ref): return [h, [Command.started.rawValue]] + ref.frames
        case .update(let u): return [h, [u.kind.rawValue]] + u.frames
        case .transfer(let t): return [h, [t.kind.rawValue]] + t.frames
        case .log(let batch): return [h, [Command.log.rawValue]] + batch.frames
        case .disconnect: return [h, [Command.disconnect.rawValue]]
        }
    }
}

extension BrokerToWorker {
    /// The frames of this message, protocol frame first (the ROUTER identity is not included).
    public var frames: [Frame] {
        let h = Wire.workerHeader
        switch self {
        case .welcome(let info): return [h, [Command.welcome.rawValue], JSONCoding.encode(info)]
        case .heartbeat: return [h, [Command.heartbeat.rawValue]]
        case .assign(let ref, let payload, let token): return [h, [Command.assign.rawValue]] + ref.frames + [payload, token]
        case .ack(let job, let lease, let seq):
            return [h, [Command.ack.rawValue], Array(job.utf8), BigEndian.frame(lease), BigEndian.frame(seq)]
        case .cancel(let job, let lease, let reason):
            return [h, [Command.cancel.rawValue], Array(job.utf8), BigEndian.frame(lease), Array(reason.utf8)]
        case .transfer(let t): return [h, [t.kind.rawValue]] + t.frames
        case .disconnect(let reason): return [h, [Command.disconnect.rawValue], Array(reason.utf8)]
        case .error(let text): return [h, [Command.error.rawValue], Array(text.utf8)]
        }
    }
}

extension ClientMessage {
    /// The frames of this message, protocol frame first.
    public var frames: [Frame] {
        let h = Wire.clientHeader
        switch self {
        case .hello(let info): return [h, [Command.hello.rawValue], JSONCoding.encode(info)]
        case .heartbeat: return [h, [Command.heartbeat.rawValue]]
        case .submit(let request, let jobs):
            var out: [Frame] = [h, [Command.submit.rawValue], BigEndian.frame(request)]
            out.reserveCapacity(3 + jobs.count * 3)
            for job in jobs { out += [Array(job.id.utf8), job.requirements.frame, job.payload] }
            return out
        case .cancel(let request, let jobs, let reason):
            // The reason, when there is one, follows an empty frame (no job id is empty).
            let tail: [Frame] = reason.map { [[], Array($0.utf8)] } ?? []
            return [h, [Command.cancelJobs.rawValue], BigEndian.frame(request)] + jobs.map { Array($0.utf8) } + tail
        case .query(let request, let body): return [h, [Command.query.rawValue], BigEndian.frame(request), body]
        case .request(let request, let service, let body):
            return [h, [Command.request.rawValue], BigEndian.frame(request), Array(service.utf8), body]
        case .respond(let request, let to, let body):
            return [h, [Command.respond.rawValue], BigEndian.frame(request), Array(to.utf8), body]
        case .ack(let job, let lease, let seq):
            return [h, [Command.ack.rawValue], Array(job.utf8), BigEndian.frame(lease), BigEndian.frame(seq)]
        case .transfer(let t): return [h, [t.kind.rawValue]] + t.frames
        case .disconnect: return [h, [Command.disconnect.rawValue]]
        }
    }
}

extension BrokerToClient {
    /// The frames of this message, protocol frame first (the ROUTER identity is not included).
    public var frames: [Frame] {
        let h = Wire.clientHeader
        switch self {
        case .welcome(let info): return [h, [Command.welcome.rawValue], JSONCoding.encode(info)]
        case .heartbeat: return [h, [Command.heartbeat.rawValue]]
        case .submitted(let request, let accepted):
            return [h, [Command.submitted.rawValue], BigEndian.frame(request), BigEndian.frame(accepted)]
        case .cancelled(let request, let count):
            return [h, [Command.cancelled.rawValue], BigEndian.frame(request), BigEndian.frame(count)]
        case .reply(let request, let body): return [h, [Command.reply.rawValue], BigEndian.frame(request), body]
        case .request(let request, let from, let body, let key):
            return [h, [Command.request.rawValue], BigEndian.frame(request), Array(from.utf8), body] + (key.map { [Array($0.utf8)] } ?? [])
        case .started(let ref, let worker, let backup):
            return [h, [Command.started.rawValue]] + ref.frames + [Array(worker.utf8)] + (backup ? [[1]] : [])
        case .ended(let ref, let reason, let detail):
            return [h, [Command.ended.rawValue]] + ref.frames + [Array(reason.utf8), Array(detail.utf8)]
        case .update(let u): return [h, [u.kind.rawValue]] + u.frames + (u.writer.map { [Array($0.utf8)] } ?? [])
        case .transfer(let t): return [h, [t.kind.rawValue]] + t.frames
        case .error(let text): return [h, [Command.error.rawValue], Array(text.utf8)]
        case .disconnect(let reason): return [h, [Command.disconnect.rawValue], Array(reason.utf8)]
        }
    }
}

extension AttemptRef {
    /// `job, attempt (u32), lease (u64)`.
    public var frames: [Frame] { [Array(job.utf8), BigEndian.frame(attempt), BigEndian.frame(lease)] }
}

extension Update {
    /// `job, attempt (u32), lease (u64), seq (u64), payload`.
    public var frames: [Frame] { attempt.frames + [BigEndian.frame(seq), payload] }
}

// MARK: - Decoding

/// Decoders for each direction. Every decoder validates sizes, counts, text and JSON and throws a
/// `WireError` that names the command and field; none of them looks inside a job payload.
public enum WireDecoder {
    /// Decodes a message the broker received (ROUTER identity already removed).
    public static func inbound<C: Collection<Frame>>(_ frames: C) throws(WireError) -> Inbound
    where C.Index == Int {
        let (role, command, body) = try split(frames, expecting: nil)
        if role == .worker {
            return .worker(try worker(command, body))
        }
        return .client(try client(command, body))
    }

    /// Decodes a message a worker received from the broker.
    public static func brokerToWorker<C: Collection<Frame>>(_ frames: C) throws(WireError) -> BrokerToWorker
    where C.Index == Int {
        let (_, command, f) = try split(frames, expecting: .worker)
        let name = command.name
        switch command {
        case .welcome:
            try count(f, 1, name)
            return .welcome(try JSONCoding.decode(WelcomeInfo.self, f[0], name, "body"))
        case .heartbeat:
            try count(f, 0, name)
            return .heartbeat
        case .assign:
            try count(f, 5, name)
            guard f[4].count == LeaseToken.size else {
                throw .fieldSize(command: name, field: "token", expected: LeaseToken.size, found: f[4].count)
            }
            return .assign(try attemptRef(f, name), payload: f[3], token: f[4])
        case .ack:
            try count(f, 3, name)
            return .ack(job: try jobID(f[0], name), lease: try u64(f[1], name, "lease"), seq: try u64(f[2], name, "seq"))
        case .cancel:
            try count(f, 3, name)
            return .cancel(job: try jobID(f[0], name), lease: try u64(f[1], name, "lease"),
                           reason: try text(f[2], name, "reason", max: 4096, allowEmpty: true))
        case .disconnect:
            try count(f, 1, name)
            return .disconnect(reason: try text(f[0], name, "reason", max: 4096, allowEmpty: true))
        case .error:
            try count(f, 1, name)
            return .error(try text(f[0], name, "text", max: 65536, allowEmpty: true))
        case .fetch, .chunk:
            return .transfer(try transfer(command, f))
        default:
            throw .unknownCommand(role: "broker-to-worker", code: command.rawValue)
        }
    }

    /// Decodes a message a client received from the broker.
    public static func brokerToClient<C: Collection<Frame>>(_ frames: C) throws(WireError) -> BrokerToClient
    where C.Index == Int {
        let (_, command, f) = try split(frames, expecting: .client)
        let name = command.name
        switch command {
        case .welcome:
            try count(f, 1, name)
            return .welcome(try JSONCoding.decode(WelcomeInfo.self, f[0], name, "body"))
        case .heartbeat:
            try count(f, 0, name)
            return .heartbeat
        case .submitted:
            try count(f, 2, name)
            return .submitted(request: try u64(f[0], name, "request"), accepted: try u32(f[1], name, "accepted"))
        case .cancelled:
            try count(f, 2, name)
            return .cancelled(request: try u64(f[0], name, "request"), count: try u32(f[1], name, "count"))
        case .reply:
            try count(f, 2, name)
            return .reply(request: try u64(f[0], name, "request"), body: f[1])
        case .request:
            // Frame 4, the requester's key, is there only when the broker authenticates.
            guard f.count == 3 || f.count == 4 else { throw .frameCount(command: name, expected: "3 or 4", found: f.count) }
            return .request(request: try u64(f[0], name, "request"),
                            from: try text(f[1], name, "from", max: Wire.maxPeerIDBytes), body: f[2],
                            key: f.count == 4 ? try text(f[3], name, "key", max: Wire.maxPeerIDBytes * 2) : nil)
        case .started:
            // Frame 5, the flags, is there only when one is set.
            guard f.count == 4 || f.count == 5 else { throw .frameCount(command: name, expected: "4 or 5", found: f.count) }
            var backup = false
            if f.count == 5 {
                guard f[4].count == 1 else { throw .fieldSize(command: name, field: "flags", expected: 1, found: f[4].count) }
                guard f[4][0] & ~1 == 0 else { throw .badValue(command: name, field: "flags", reason: "unknown bits \(f[4][0] & ~1)") }
                backup = f[4][0] & 1 == 1
            }
            return .started(try attemptRef(f, name), worker: try text(f[3], name, "worker", max: Wire.maxPeerIDBytes), backup: backup)
        case .ended:
            try count(f, 5, name)
            let reason = try text(f[3], name, "reason", max: 64)
            guard EndedReason.all.contains(reason) else {
                throw .badValue(command: name, field: "reason", reason: "must be one of \(EndedReason.all.sorted().joined(separator: ", ")), not \(reason)")
            }
            return .ended(try attemptRef(f, name), reason: reason, detail: try text(f[4], name, "detail", max: 65536, allowEmpty: true))
        case .report, .checkpoint, .final, .failed:
            // To a client, a CHECKPOINT may carry a 6th frame: the key that wrote it.
            guard command == .checkpoint, f.count == 6 else { return .update(try update(command, f)) }
            var update = try update(command, Array(f.prefix(5)))
            update.writer = try text(f[5], name, "writer", max: Wire.maxPeerIDBytes * 2)
            return .update(update)
        case .fetch, .chunk:
            return .transfer(try transfer(command, f))
        case .error:
            try count(f, 1, name)
            return .error(try text(f[0], name, "text", max: 65536, allowEmpty: true))
        case .disconnect:
            try count(f, 1, name)
            return .disconnect(reason: try text(f[0], name, "reason", max: 4096, allowEmpty: true))
        default:
            throw .unknownCommand(role: "broker-to-client", code: command.rawValue)
        }
    }

    // MARK: Peer → broker

    static func worker(_ command: Command, _ f: [Frame]) throws(WireError) -> WorkerMessage {
        let name = command.name
        switch command {
        case .ready:
            try count(f, 1, name)
            let info = try JSONCoding.decode(ReadyInfo.self, f[0], name, "body")
            try checkReady(info, name)
            return .ready(info)
        case .heartbeat:
            // Frame 2 (optional): the exited leases, 8 bytes each, big-endian.
            guard f.count == 1 else {
                try count(f, 0, name)
                return .heartbeat
            }
            let n = f[0].count / 8
            guard f[0].count % 8 == 0, (1...Wire.maxRunningPerReady).contains(n) else {
                throw .badValue(command: name, field: "exited", reason: "\(f[0].count) bytes; expected 8 per lease, 1 to \(Wire.maxRunningPerReady) leases")
            }
            return .exited((0..<n).map { i in BigEndian.uint64(Array(f[0][(i * 8)..<(i * 8 + 8)]))! })
        case .started:
            try count(f, 3, name)
            return .started(try attemptRef(f, name))
        case .report, .checkpoint, .final, .failed:
            return .update(try update(command, f))
        case .fetch, .chunk:
            return .transfer(try transfer(command, f))
        case .log:
            return .log(try log(f))
        case .disconnect:
            try count(f, 0, name)
            return .disconnect
        default:
            throw .unknownCommand(role: "worker", code: command.rawValue)
        }
    }

    static func client(_ command: Command, _ f: [Frame]) throws(WireError) -> ClientMessage {
        let name = command.name
        switch command {
        case .hello:
            try count(f, 1, name)
            let info = try JSONCoding.decode(HelloInfo.self, f[0], name, "body")
            try checkHello(info, name)
            return .hello(info)
        case .heartbeat:
            try count(f, 0, name)
            return .heartbeat
        case .submit:
            guard f.count >= 4, (f.count - 1) % 3 == 0 else {
                throw .frameCount(command: name, expected: "1 + 3 per job (at least one job)", found: f.count)
            }
            let request = try u64(f[0], name, "request")
            let n = (f.count - 1) / 3
            guard n <= Wire.maxBatch else {
                throw .badValue(command: name, field: "jobs", reason: "holds \(n) jobs; at most \(Wire.maxBatch) per SUBMIT")
            }
            var jobs: [JobSubmission] = []
            jobs.reserveCapacity(n)
            for i in 0..<n {
                let base = 1 + i * 3
                let id = try jobID(f[base], name)
                guard let req = Requirements(frame: f[base + 1]) else {
                    throw .fieldSize(command: name, field: "requirements", expected: Requirements.frameSize, found: f[base + 1].count)
                }
                guard (1...Wire.maxAttemptNumber).contains(req.firstAttempt) else {
                    throw .badValue(command: name, field: "first_attempt", reason: "must be from 1 to \(Wire.maxAttemptNumber)")
                }
                jobs.append(JobSubmission(id: id, requirements: req, payload: f[base + 2]))
            }
            return .submit(request: request, jobs: jobs)
        case .cancelJobs:
            // `request, job…` or `request, job…, "", reason`.
            var jobFrames = f.dropFirst()
            var reason: String?
            if let separator = jobFrames.firstIndex(where: \.isEmpty) {
                guard separator == f.count - 2 else {
                    throw .badValue(command: name, field: "reason", reason: "an empty frame must be followed by exactly one reason frame")
                }
                reason = try text(f[f.count - 1], name, "reason", max: Wire.maxReasonLength)
                jobFrames = f[1..<separator]
            }
            guard !jobFrames.isEmpty else {
                throw .frameCount(command: name, expected: "1 + one per job (at least one job)", found: f.count)
            }
            guard jobFrames.count <= Wire.maxBatch else {
                throw .badValue(command: name, field: "jobs", reason: "holds \(jobFrames.count) jobs; at most \(Wire.maxBatch)")
            }
            var ids: [String] = []
            for frame in jobFrames { ids.append(try jobID(frame, name)) }
            return .cancel(request: try u64(f[0], name, "request"), jobs: ids, reason: reason)
        case .query:
            try count(f, 2, name)
            return .query(request: try u64(f[0], name, "request"), body: f[1])
        case .request:
            try count(f, 3, name)
            return .request(request: try u64(f[0], name, "request"),
                            service: try text(f[1], name, "service", max: Wire.maxPeerIDBytes), body: f[2])
        case .respond:
            try count(f, 3, name)
            return .respond(request: try u64(f[0], name, "request"),
                            to: try text(f[1], name, "to", max: Wire.maxPeerIDBytes), body: f[2])
        case .ack:
            try count(f, 3, name)
            return .ack(job: try jobID(f[0], name), lease: try u64(f[1], name, "lease"), seq: try u64(f[2], name, "seq"))
        case .fetch, .chunk:
            return .transfer(try transfer(command, f))
        case .disconnect:
            try count(f, 0, name)
            return .disconnect
        default:
            throw .unknownCommand(role: "client", code: command.rawValue)
        }
    }

    // MARK: Helpers

    enum Role { case worker, client }

    static func split<C: Collection<Frame>>(_ frames: C, expecting: Role?) throws(WireError) -> (Role, Command, [Frame])
    where C.Index == Int {
        guard frames.count >= 2 else { throw .empty }
        let header = frames[frames.startIndex]
        let role: Role
        if header == Wire.workerHeader {
            role = .worker
        } else if header == Wire.clientHeader {
            role = .client
        } else if header.count == 4, header[0] == UInt8(ascii: "H"), header[1] == UInt8(ascii: "L"),
                  header[2] == UInt8(ascii: "W") || header[2] == UInt8(ascii: "C") {
            let found = String(decoding: header, as: UTF8.self)
            let supported = String(decoding: header[2] == UInt8(ascii: "W") ? Wire.workerHeader : Wire.clientHeader, as: UTF8.self)
            throw .unsupportedVersion(found: found, supported: supported)
        } else {
            throw .unknownProtocol(header)
        }
        if let expecting, expecting != role { throw .unknownProtocol(header) }
        let commandFrame = frames[frames.startIndex + 1]
        guard commandFrame.count == 1 else {
            throw .fieldSize(command: "message", field: "command", expected: 1, found: commandFrame.count)
        }
        guard let command = Command(rawValue: commandFrame[0]) else {
            throw .unknownCommand(role: role == .worker ? "worker" : "client", code: commandFrame[0])
        }
        return (role, command, Array(frames.dropFirst(2)))
    }

    static func update(_ command: Command, _ f: [Frame]) throws(WireError) -> Update {
        try count(f, 5, command.name)
        let ref = try attemptRef(f, command.name)
        return Update(kind: UpdateKind(rawValue: command.rawValue)!, attempt: ref,
                      seq: try u64(f[3], command.name, "seq"), payload: f[4])
    }

    /// FETCH: `job, lease, request, body (JSON object)`; CHUNK: the same and `data`.
    static func transfer(_ command: Command, _ f: [Frame]) throws(WireError) -> Transfer {
        let kind = Transfer.Kind(rawValue: command.rawValue)!
        try count(f, kind == .chunk ? 5 : 4, command.name)
        guard f[3].first == UInt8(ascii: "{") else {
            throw .badJSON(command: command.name, field: "body", reason: "expected a JSON object")
        }
        return Transfer(kind: kind, job: try jobID(f[0], command.name), lease: try u64(f[1], command.name, "lease"),
                        request: try u64(f[2], command.name, "request"), body: f[3], data: kind == .chunk ? f[4] : [])
    }

    static func attemptRef(_ f: [Frame], _ name: String) throws(WireError) -> AttemptRef {
        let attempt = try u32(f[1], name, "attempt")
        guard (1...Wire.maxAttemptNumber).contains(attempt) else {
            throw .badValue(command: name, field: "attempt", reason: "must be from 1 to \(Wire.maxAttemptNumber)")
        }
        return AttemptRef(job: try jobID(f[0], name), attempt: attempt, lease: try u64(f[2], name, "lease"))
    }

    static func count(_ f: [Frame], _ n: Int, _ name: String) throws(WireError) {
        guard f.count == n else { throw .frameCount(command: name, expected: "\(n)", found: f.count) }
    }

    static func u32(_ frame: Frame, _ name: String, _ field: String) throws(WireError) -> UInt32 {
        guard let v = BigEndian.uint32(frame) else {
            throw .fieldSize(command: name, field: field, expected: 4, found: frame.count)
        }
        return v
    }

    static func u64(_ frame: Frame, _ name: String, _ field: String) throws(WireError) -> UInt64 {
        guard let v = BigEndian.uint64(frame) else {
            throw .fieldSize(command: name, field: field, expected: 8, found: frame.count)
        }
        return v
    }

    static func jobID(_ frame: Frame, _ name: String) throws(WireError) -> String {
        try text(frame, name, "job", max: Wire.maxJobIDBytes)
    }

    static func text(_ frame: Frame, _ name: String, _ field: String, max: Int, allowEmpty: Bool = false) throws(WireError) -> String {
        guard allowEmpty || !frame.isEmpty else { throw .badText(command: name, field: field, reason: "is empty") }
        guard frame.count <= max else {
            throw .badText(command: name, field: field, reason: "is \(frame.count) bytes; at most \(max)")
        }
        guard let s = String(validating: frame, as: UTF8.self) else {
            throw .badText(command: name, field: field, reason: "is not valid UTF-8")
        }
        return s
    }

    /// Every number and collection of a READY within its range (`Wire.maxSlots`, …), so nothing
    /// the broker computes from them can overflow and one READY cannot hold unbounded memory.
    static func checkReady(_ info: ReadyInfo, _ name: String) throws(WireError) {
        try checkPeerID(info.worker, name, "worker")
        try range(info.slots, 0...Wire.maxSlots, name, "slots")
        try range(info.gpus, 0...Wire.maxGPUs, name, "gpus")
        try range(info.heartbeatMs, 1...Wire.maxHeartbeatMs, name, "heartbeat_ms")
        try range(info.liveness, 1...Wire.maxLiveness, name, "liveness")
        try label(info.host, name, "host")
        try label(info.version, name, "version")
        try checkLabels(info.labels ?? [], name, "labels")
        if let isolation = info.isolation { try label(isolation, name, "isolation") }
        guard info.running.count <= Wire.maxRunningPerReady else {
            throw .badValue(command: name, field: "running", reason: "lists \(info.running.count) attempts; at most \(Wire.maxRunningPerReady)")
        }
        for attempt in info.running {
            guard !attempt.job.isEmpty, attempt.job.utf8.count <= Wire.maxJobIDBytes else {
                throw .badValue(command: name, field: "running.job", reason: "must be 1 to \(Wire.maxJobIDBytes) bytes")
            }
            guard (1...Wire.maxAttemptNumber).contains(attempt.attempt) else {
                throw .badValue(command: name, field: "running.attempt", reason: "must be from 1 to \(Wire.maxAttemptNumber)")
            }
            if let token = attempt.token, LeaseToken.bytes(hex: token) == nil {
                throw .badValue(command: name, field: "running.token", reason: "must be \(LeaseToken.size * 2) hex digits")
            }
        }
    }

    /// Pool labels within their bounds (`Wire.maxWorkerLabels`, `Wire.maxWorkerLabelBytes`).
    static func checkLabels(_ labels: [String], _ name: String, _ field: String) throws(WireError) {
        guard labels.count <= Wire.maxWorkerLabels else {
            throw .badValue(command: name, field: field, reason: "lists \(labels.count) labels; at most \(Wire.maxWorkerLabels)")
        }
        for label in labels where label.isEmpty || label.utf8.count > Wire.maxWorkerLabelBytes {
            throw .badValue(command: name, field: field, reason: "a label must be 1 to \(Wire.maxWorkerLabelBytes) bytes")
        }
    }

    /// HELLO's id, name and services within their bounds.
    static func checkHello(_ info: HelloInfo, _ name: String) throws(WireError) {
        try checkPeerID(info.client, name, "client")
        try label(info.name, name, "name")
        let services = info.services ?? []
        guard services.count <= Wire.maxServices else {
            throw .badValue(command: name, field: "services", reason: "lists \(services.count) services; at most \(Wire.maxServices)")
        }
        for service in services {
            guard !service.isEmpty, service.utf8.count <= Wire.maxPeerIDBytes else {
                throw .badValue(command: name, field: "services", reason: "a service name must be 1 to \(Wire.maxPeerIDBytes) bytes")
            }
        }
    }

    static func range(_ value: Int, _ allowed: ClosedRange<Int>, _ name: String, _ field: String) throws(WireError) {
        guard allowed.contains(value) else {
            throw .badValue(command: name, field: field, reason: "is \(value); must be from \(allowed.lowerBound) to \(allowed.upperBound)")
        }
    }

    static func label(_ value: String, _ name: String, _ field: String) throws(WireError) {
        guard value.utf8.count <= Wire.maxLabelBytes else {
            throw .badValue(command: name, field: field, reason: "is \(value.utf8.count) bytes; at most \(Wire.maxLabelBytes)")
        }
    }

    static func checkPeerID(_ id: String, _ name: String, _ field: String) throws(WireError) {
        guard !id.isEmpty, id.utf8.count <= Wire.maxPeerIDBytes else {
            throw .badValue(command: name, field: field, reason: "must be 1 to \(Wire.maxPeerIDBytes) bytes")
        }
    }
}

/// JSON bodies of the rare control messages (READY, WELCOME, HELLO) and of job specs.
public enum JSONCoding {
    /// Encodes with sorted keys, so equal values give equal frames.
    public static func encode<T: Encodable>(_ value: T) -> Frame {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding our own Codable types cannot fail: they hold no non-finite floats.
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    /// A `JSONValue` the same way, through the fast writer (`JSONValue+Writing.swift`).
    public static func encode(_ value: JSONValue) -> Frame {
        value.jsonBytes ?? Array("{}".utf8)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ frame: Frame, _ name: String, _ field: String) throws(WireError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(frame))
        } catch {
            throw .badJSON(command: name, field: field, reason: describe(error))
        }
    }

    /// A one-line account of a decoding error that names the key path.
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "top level" : p
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing key \"\(key.stringValue)\" at \(path(context))"
        case .typeMismatch(let type, let context): return "expected \(type) at \(path(context))"
        case .valueNotFound(let type, let context): return "expected \(type) at \(path(context)), found null"
        case .dataCorrupted(let context): return "\(context.debugDescription) at \(path(context))"
        @unknown default: return "\(error)"
        }
    }
}
