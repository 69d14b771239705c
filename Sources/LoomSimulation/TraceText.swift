import LoomWire

/// One-line descriptions of protocol messages for a schedule's trace: the command and the
/// (job, attempt, lease, seq) it is about, never payload bytes.
enum TraceText {
    static func update(_ u: Update) -> String {
        "\(u.kind.command.name) \(u.attempt) lease \(lease(u.attempt.lease)) seq \(u.seq == .max ? "max" : String(u.seq))"
    }

    /// The low half of a lease (the broker's epoch is the high half).
    static func lease(_ l: UInt64) -> String { "\(l >> 32)/\(l & 0xFFFF_FFFF)" }

    static func inbound(_ frames: [Frame]) -> String {
        guard let message = try? WireDecoder.inbound(frames) else { return "malformed" }
        switch message {
        case .worker(let m):
            switch m {
            case .ready(let info): return "READY holds [\(info.running.map { "\($0.ref)" }.joined(separator: ", "))]"
            case .heartbeat: return "HEARTBEAT"
            case .exited(let leases): return "HEARTBEAT exited [\(leases.map(lease).joined(separator: ", "))]"
            case .started(let ref): return "STARTED \(ref) lease \(lease(ref.lease))"
            case .update(let u): return update(u)
            case .transfer(let t): return "\(t.command.name) \(t.job) request \(t.request)"
            case .log: return "LOG"
            case .disconnect: return "DISCONNECT"
            }
        case .client(let m):
            switch m {
            case .hello: return "HELLO"
            case .heartbeat: return "HEARTBEAT"
            case .submit(_, let jobs):
                return "SUBMIT \(jobs.map { "\($0.id)#\($0.requirements.firstAttempt)\($0.requirements.isResync ? "(resync)" : "")" }.joined(separator: " "))"
            case .cancel(_, let jobs, _): return "CANCEL_JOBS \(jobs.joined(separator: " "))"
            case .query: return "QUERY"
            case .request: return "REQUEST"
            case .respond: return "RESPOND"
            case .ack(let job, let l, let seq): return "ACK \(job) lease \(lease(l)) seq \(seq == .max ? "max" : String(seq))"
            case .transfer(let t): return "\(t.command.name) \(t.job) request \(t.request)"
            case .disconnect: return "DISCONNECT"
            }
        }
    }

    static func toWorker(_ frames: [Frame]) -> String {
        guard let m = try? WireDecoder.brokerToWorker(frames) else { return "malformed" }
        switch m {
        case .welcome(let info): return "WELCOME from \(info.broker)"
        case .heartbeat: return "HEARTBEAT"
        case .assign(let ref, _, _): return "ASSIGN \(ref) lease \(lease(ref.lease))"
        case .ack(let job, let l, let seq): return "ACK \(job) lease \(lease(l)) seq \(seq == .max ? "max" : String(seq))"
        case .cancel(let job, let l, let reason): return "CANCEL \(job) lease \(lease(l)) \(reason)"
        case .transfer(let t): return "\(t.command.name) \(t.job) request \(t.request)"
        case .disconnect(let reason): return "DISCONNECT \(reason)"
        case .error(let text): return "ERROR \(text)"
        }
    }

    static func toClient(_ frames: [Frame]) -> String {
        guard let m = try? WireDecoder.brokerToClient(frames) else { return "malformed" }
        switch m {
        case .welcome(let info): return "WELCOME from \(info.broker)"
        case .heartbeat: return "HEARTBEAT"
        case .submitted(_, let n): return "SUBMITTED \(n)"
        case .cancelled(_, let n): return "CANCELLED \(n)"
        case .reply: return "REPLY"
        case .request: return "REQUEST"
        case .started(let ref, let worker, let backup): return "STARTED \(ref) lease \(lease(ref.lease)) on \(worker)\(backup ? " (backup)" : "")"
        case .ended(let ref, let reason, let detail): return "ENDED \(ref) \(reason): \(detail)"
        case .update(let u): return update(u)
        case .transfer(let t): return "\(t.command.name) \(t.job) request \(t.request)"
        case .error(let text): return "ERROR \(text)"
        case .disconnect(let reason): return "DISCONNECT \(reason)"
        }
    }
}
