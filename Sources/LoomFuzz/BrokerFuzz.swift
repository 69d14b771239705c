import LoomBroker
import LoomWire

/// The broker's state machine driven by several peers: each step of the input is a message from
/// one of four connections, a step of the clock, an unreachable peer or a change of the
/// allowlist; after each step the machine's invariants (`brokenInvariant()`) must hold and the
/// feed's sequence numbers must follow on from the last one with no hole.
public enum BrokerFuzz {
    /// The connections, and the key each speaks with when the broker authenticates.
    static let peers = ["p0", "p1", "p2", "p3"]
    static let users = ["worker/p0", "worker/p1", "client/p2", "optimizer/p3"]
    /// A fixed secret and epoch, so seeds can hold real leases and capabilities.
    static let leaseKey = [UInt8](repeating: 7, count: 32)
    static let leaseEpoch: UInt32 = 1
    static let steps = 64

    /// Prints every step and what the machine did (`hyperloom-fuzz run broker FILE` with
    /// HYPERLOOM_FUZZ_TRACE=1), to read how a failing input got there.
    nonisolated(unsafe) public static var trace = false

    static func run(_ data: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(data)
        let t0 = ContinuousClock.now
        var now = t0
        var machine = BrokerStateMachine(
            config: BrokerConfig(brokerID: "fuzz", leaseEpoch: leaseEpoch, recoveryWindow: .seconds(1), maxWorkers: 3, maxClients: 3,
                                 leaseKey: leaseKey),
            now: t0)
        let authenticated = input.byte() & 1 == 1
        if authenticated { _ = machine.authorize(Set(users), now: now) }
        var lastSeq: UInt64 = 0
        for _ in 0..<steps where !input.isAtEnd {
            let op = input.byte()
            let peer = Int(op >> 2) % peers.count
            let identity = Array(peers[peer].utf8)
            let actions: [BrokerAction]
            switch op & 3 {
            case 0, 1:
                let frames = input.frames()
                if trace {
                    let decoded = (try? WireDecoder.inbound(frames)).map { "\($0)" } ?? "undecodable (\(frames.count) frames)"
                    print("receive from \(peers[peer]): \(decoded.prefix(300))")
                }
                actions = machine.receive(from: identity, frames: frames, userID: authenticated ? users[peer] : nil, now: now)
            case 2:
                now += .milliseconds(input.u16() * 10)
                actions = machine.expire(now: now)
            default:
                if authenticated && input.byte() & 1 == 1 {
                    // Revoke the keys whose bit is clear.
                    let mask = input.byte()
                    actions = machine.authorize(Set(users.indices.filter { mask >> $0 & 1 == 1 }.map { users[$0] }), now: now)
                } else {
                    actions = machine.peerUnreachable(identity, now: now)
                }
            }
            if trace {
                print("step op=\(op & 3) peer=\(peers[peer])")
                for action in actions {
                    switch action {
                    case .publish(let frames): print("  publish \(FeedEvent(frames: frames).map { "\($0.seq) \($0.topic)" } ?? "?")")
                    case .send(let to, let frames):
                        let decoded: String = (try? WireDecoder.brokerToWorker(frames)).map { "\($0)" }
                            ?? (try? WireDecoder.brokerToClient(frames)).map { "\($0)" } ?? "?"
                        print("  send \(String(decoding: to, as: UTF8.self)): \(decoded.prefix(200))")
                    }
                }
            }
            for case .publish(let frames) in actions {
                guard let event = FeedEvent(frames: frames) else { throw FuzzFailure("broker", "a feed event does not decode") }
                guard event.seq == lastSeq + 1 else {
                    throw FuzzFailure("broker", "feed event \(event.topic) has seq \(event.seq) after \(lastSeq)")
                }
                lastSeq = event.seq
            }
            for case .send(_, let frames) in actions {
                guard (try? WireDecoder.brokerToWorker(frames)) != nil || (try? WireDecoder.brokerToClient(frames)) != nil else {
                    throw FuzzFailure("broker", "the broker sent a message its peers cannot decode")
                }
            }
            if let broken = machine.brokenInvariant() { throw FuzzFailure("broker", broken) }
        }
    }

    /// A study's life as the seed: a worker and the optimizer register, jobs are submitted,
    /// started, reported on and finished, acknowledged; and a worker re-registering with what it
    /// holds (a real capability and a forged one).
    static var seeds: [[UInt8]] {
        let lease: UInt64 = UInt64(leaseEpoch) << 32 | 1
        let ref = AttemptRef(job: "s/1", attempt: 1, lease: lease)
        let token = BrokerStateMachine.leaseToken(ref, holder: users[0], key: leaseKey)
        let spec = JobSpec(command: ["true"], restoreFrom: "s/0").payload
        func message(_ peer: Int, _ frames: [Frame], into w: inout FuzzInputWriter) {
            w.byte(UInt8(peer << 2))
            w.frames(frames)
        }
        var seeds: [[UInt8]] = []
        for authenticated: UInt8 in [0, 1] {
            var w = FuzzInputWriter()
            w.byte(authenticated)
            message(3, ClientMessage.hello(HelloInfo(client: "opt", name: "optimizer", services: [ServiceName.optimizer, ServiceName.checkpoints])).frames, into: &w)
            message(0, WorkerMessage.ready(ReadyInfo(worker: "w0", slots: 2, heartbeatMs: 100, liveness: 3, host: "h", pid: 1, version: "f")).frames, into: &w)
            message(3, ClientMessage.submit(request: 1, jobs: [JobSubmission(id: "s/1", payload: spec), JobSubmission(id: "s/2", payload: spec)]).frames, into: &w)
            message(0, WorkerMessage.started(ref).frames, into: &w)
            message(0, WorkerMessage.update(Update(kind: .report, attempt: ref, seq: 1, payload: Array(#"{"loss":1}"#.utf8))).frames, into: &w)
            message(0, WorkerMessage.transfer(.fetch(job: "s/1", lease: lease, request: 9, FetchBody(op: FetchBody.latest, job: "s/0"))).frames, into: &w)
            message(0, WorkerMessage.update(Update(kind: .final, attempt: ref, seq: 2, payload: Array(#"{"loss":0.5}"#.utf8))).frames, into: &w)
            message(3, ClientMessage.ack(job: "s/1", lease: lease, seq: 2).frames, into: &w)
            w.byte(2)
            w.byte(0)
            w.byte(200)
            message(1, WorkerMessage.ready(ReadyInfo(worker: "w1", slots: 1, heartbeatMs: 100, liveness: 3, host: "h", pid: 2, version: "f",
                                                     running: [RunningAttempt(ref, token: token),
                                                               RunningAttempt(AttemptRef(job: "s/3", attempt: 1, lease: 5), token: token)])).frames, into: &w)
            message(2, ClientMessage.hello(HelloInfo(client: "alice", name: "cli")).frames, into: &w)
            message(2, ClientMessage.cancel(request: 2, jobs: ["s/2"], reason: "pruned").frames, into: &w)
            message(0, WorkerMessage.disconnect.frames, into: &w)
            w.byte(3)
            w.byte(1)
            w.byte(0b1010)
            seeds.append(w.bytes)
        }
        return seeds
    }
}
