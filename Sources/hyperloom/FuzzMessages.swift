import LoomSearch
import LoomWire

/// Random and mutated multipart messages for the broker's public port, and what the broker must
/// make of each one (`hyperloom bench fuzz`).
///
/// **Determinism.** The n-th message depends only on the seed and n.
/// **Connections.** Most fuzzing connections never register. A few say READY once as a worker
/// with no slots (so no job is ever given to them) and then send mutated worker messages, which
/// reach the state machine itself rather than stopping at the decoder or the unknown-peer check.
/// **Accounting.** Every message is classified with the broker's own decoder, exactly as the
/// broker will see it (`Outcome`). Well-formed READY and HELLO are never sent by the fuzzing
/// proper (they would join the fabric, not fuzz it), nor a well-formed DISCONNECT from a
/// registered connection (it would end the registration the prediction relies on).
struct FuzzMessages {
    private var random: Xoshiro256StarStar

    init(seed: UInt64) { random = Xoshiro256StarStar(seed: seed) }

    /// What the broker makes of a message.
    enum Outcome: Equatable {
        /// Does not decode: counted under `rejected[category]`.
        case rejected(String)
        /// Well-formed, from a connection the broker does not know (for its role): `unregistered`.
        case unregistered
        /// A STARTED or update from a registered worker about an attempt it does not hold:
        /// acknowledged and counted as `stale`.
        case stale
        /// Served without a counter (a HEARTBEAT from a registered worker).
        case served
    }

    /// What the broker should count for the messages produced so far.
    struct Tally: Equatable {
        var sent = 0
        var rejected: [String: Int] = [:]
        var unregistered = 0
        var stale = 0
        var served = 0

        mutating func add(_ outcome: Outcome) {
            sent += 1
            switch outcome {
            case .rejected(let category): rejected[category, default: 0] += 1
            case .unregistered: unregistered += 1
            case .stale: stale += 1
            case .served: served += 1
            }
        }
    }

    /// The next message for a connection, registered as a worker or not: never empty, never a
    /// well-formed READY or HELLO (nor DISCONNECT when registered); what the broker makes of it,
    /// and whether it answers (ERROR, DISCONNECT `reregister`, or the ACK of a stale update).
    mutating func next(registered: Bool) -> (frames: [Frame], outcome: Outcome, answered: Bool) {
        while true {
            let frames = random.next(upperBound: UInt64(8)) == 0 ? noise() : mutate(template(workerOnly: registered))
            guard !frames.isEmpty else { continue }
            // The broker decodes the frames after the ROUTER identity: a slice from index 1.
            let message: Inbound
            do {
                message = try WireDecoder.inbound(([[]] + frames).dropFirst())
            } catch {
                return (frames, .rejected(error.category), true)
            }
            switch message {
            case .worker(.ready), .client(.hello): continue
            case .worker(.disconnect) where registered: continue
            case .worker(.heartbeat) where registered: return (frames, .served, false)
            // A heartbeat that lists exited attempts (frame 2): served the same way; unknown
            // leases in it are ignored.
            case .worker(.exited) where registered: return (frames, .served, false)
            case .worker(.started) where registered: return (frames, .stale, false)
            case .worker(.update) where registered: return (frames, .stale, true)
            case .worker(.disconnect), .client(.disconnect): return (frames, .unregistered, false)
            default: return (frames, .unregistered, true)
            }
        }
    }

    /// READY for a registered fuzzing connection: a worker with no capacity, and the longest
    /// heartbeat interval the broker accepts, so that a fuzzer held up on a loaded machine is not
    /// declared dead halfway (its later messages would then count as unregistered).
    static func ready(worker: String) -> [Frame] {
        WorkerMessage.ready(ReadyInfo(worker: worker, slots: 0, gpus: 0, heartbeatMs: 60_000, liveness: 3, host: "fuzz",
                                      pid: 0, version: "fuzz")).frames
    }

    // MARK: - Valid messages to start from

    private mutating func template(workerOnly: Bool) -> [Frame] {
        let ref = AttemptRef(job: jobID(), attempt: UInt32(truncatingIfNeeded: random.next()), lease: random.next())
        let update = Update(kind: UpdateKind.allCases[Int(random.next(upperBound: UInt64(4)))], attempt: ref,
                            seq: random.next(upperBound: UInt64(100)), payload: Array(#"{"loss":0.25,"epoch":3}"#.utf8))
        let request = random.next()
        switch random.next(upperBound: UInt64(workerOnly ? 5 : 15)) {
        case 0: return WorkerMessage.ready(ReadyInfo(worker: jobID(), slots: 4, heartbeatMs: 1000, liveness: 3, host: "fuzz",
                                                     pid: 1, version: "fuzz", running: [RunningAttempt(ref)])).frames
        case 1: return WorkerMessage.heartbeat.frames
        case 2: return WorkerMessage.started(ref).frames
        case 3: return WorkerMessage.update(update).frames
        case 4: return WorkerMessage.disconnect.frames
        case 5: return ClientMessage.hello(HelloInfo(client: jobID(), name: "fuzz", services: ["optimizer"])).frames
        case 6: return ClientMessage.heartbeat.frames
        case 7:
            let jobs = (0..<random.next(upperBound: UInt64(4))).map { _ in
                JobSubmission(id: jobID(), requirements: Requirements(maxAttempts: 2), payload: JobSpec(command: ["true"]).payload)
            }
            return ClientMessage.submit(request: request, jobs: jobs).frames
        case 8: return ClientMessage.cancel(request: request, jobs: [jobID(), jobID()]).frames
        case 9: return ClientMessage.query(request: request, body: Array(#"{"what":"status"}"#.utf8)).frames
        case 10: return ClientMessage.request(request: request, service: "optimizer", body: Array(#"{"op":"studies"}"#.utf8)).frames
        case 11: return ClientMessage.respond(request: request, to: jobID(), body: Array("{}".utf8)).frames
        case 12: return ClientMessage.ack(job: ref.job, lease: ref.lease, seq: update.seq).frames
        case 13: return ClientMessage.disconnect.frames
        default: return WorkerMessage.update(Update(kind: .final, attempt: ref, seq: 1, payload: Array("[1,2".utf8))).frames
        }
    }

    private mutating func jobID() -> String {
        let names = ["mnist/1", "fuzz/\(random.next(upperBound: UInt64(1000)))", "", "a/b/c/9", "ü/2", String(repeating: "x", count: 300)]
        return names[Int(random.next(upperBound: UInt64(names.count)))]
    }

    // MARK: - Mutations

    /// One to three mutations of a valid message.
    private mutating func mutate(_ message: [Frame]) -> [Frame] {
        var frames = message
        for _ in 0...random.next(upperBound: UInt64(2)) {
            let i = frames.isEmpty ? 0 : Int(random.next(upperBound: UInt64(frames.count)))
            switch random.next(upperBound: UInt64(10)) {
            case 0 where !frames.isEmpty && !frames[i].isEmpty:
                // Flip one bit.
                let at = Int(random.next(upperBound: UInt64(frames[i].count)))
                frames[i][at] ^= UInt8(1) << UInt8(random.next(upperBound: UInt64(8)))
            case 1 where !frames.isEmpty:
                // Truncate a frame.
                frames[i] = Array(frames[i].prefix(Int(random.next(upperBound: UInt64(frames[i].count + 1)))))
            case 2 where !frames.isEmpty:
                frames.remove(at: i)
            case 3:
                frames.insert(bytes(Int(random.next(upperBound: UInt64(64)))), at: min(i, frames.count))
            case 4 where !frames.isEmpty:
                // Wrong protocol or version.
                let headers = ["HLW2", "HLC0", "HLW", "HLC11", "ZMTP", "hlw1", "HLW\u{0}"]
                frames[0] = Array(headers[Int(random.next(upperBound: UInt64(headers.count)))].utf8)
            case 5 where frames.count > 1:
                // Wrong command byte (often a command of the other role).
                frames[1] = [UInt8(truncatingIfNeeded: random.next())]
            case 6 where frames.count > 2:
                // Huge numbers where counts, attempts, leases and sequence numbers go.
                frames[i] = [UInt8](repeating: 0xFF, count: [4, 8, 20][Int(random.next(upperBound: UInt64(3)))])
            case 7:
                // Many frames.
                frames += (0..<Int(random.next(upperBound: UInt64(200)))).map { _ in bytes(Int(random.next(upperBound: UInt64(4)))) }
            case 8 where !frames.isEmpty:
                // A large frame (far within the broker's 64 MiB message limit).
                frames[i] = bytes(Int(random.next(upperBound: UInt64(16 << 10))))
            default:
                // Duplicate a frame.
                if !frames.isEmpty { frames.insert(frames[i], at: i) }
            }
        }
        return frames
    }

    /// One to eight frames of random bytes, sometimes behind a valid header.
    private mutating func noise() -> [Frame] {
        var frames = (0...random.next(upperBound: UInt64(7))).map { _ in bytes(Int(random.next(upperBound: UInt64(48)))) }
        if random.next(upperBound: UInt64(2)) == 0 { frames[0] = random.next(upperBound: UInt64(2)) == 0 ? Wire.workerHeader : Wire.clientHeader }
        return frames
    }

    private mutating func bytes(_ count: Int) -> Frame {
        var out = Frame(repeating: 0, count: count)
        var i = 0
        while i < count {
            var word = random.next()
            for _ in 0..<min(8, count - i) {
                out[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return out
    }
}
