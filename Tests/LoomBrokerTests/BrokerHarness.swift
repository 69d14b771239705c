import Foundation
@testable import LoomBroker
import LoomWire

/// Drives a `BrokerStateMachine` with a manual clock and decodes what it says to whom.
struct BrokerHarness {
    let t0 = ContinuousClock.now
    var now: ContinuousClock.Instant
    var machine: BrokerStateMachine
    /// Every action so far, in order.
    var log: [BrokerAction] = []
    /// Client connections that heartbeat before every sweep, as live clients do.
    var liveClients: [String] = []

    /// `pauseThreshold` is off unless given: `advance(to:)` jumps the clock over sweeps for a
    /// broker that ran all along.
    init(recoveryWindow: Duration = .zero, heartbeat: Duration = .seconds(1), stragglers: StragglerPolicy = StragglerPolicy(),
         pauseThreshold: Duration? = nil,
         maxWorkers: Int = 10_000, maxClients: Int = 10_000, leaseEpoch: UInt32 = 7, leaseKey: [UInt8] = LeaseSecret.random(),
         lastFeedSeq: UInt64 = 0, results: PublishedResults = PublishedResults(), brokerID: String = "b-test") {
        now = t0
        machine = BrokerStateMachine(
            config: BrokerConfig(brokerID: brokerID, leaseEpoch: leaseEpoch, clientHeartbeat: heartbeat, liveness: 3,
                                 recoveryWindow: recoveryWindow, pauseThreshold: pauseThreshold, stragglers: stragglers, lastFeedSeq: lastFeedSeq,
                                 maxWorkers: maxWorkers, maxClients: maxClients, leaseKey: leaseKey),
            results: results, now: t0)
    }

    /// A broker started after this one crashed: same lease secret and feed journal (its
    /// published results are rebuilt from this one's feed events), a new lease epoch, nothing
    /// else remembered.
    func restarted(recoveryWindow: Duration = .zero) -> BrokerHarness {
        var results = PublishedResults()
        for event in Self.feedEvents(log) { results.replay(event) }
        return BrokerHarness(recoveryWindow: recoveryWindow, leaseEpoch: machine.config.leaseEpoch + 1, leaseKey: machine.config.leaseKey,
                             lastFeedSeq: machine.feedSeq, results: results, brokerID: machine.config.brokerID + "'")
    }

    static func identity(_ name: String) -> Frame { Array(name.utf8) }

    /// Sets the clock to `t0 + offset` and runs the sweep.
    @discardableResult
    mutating func advance(to offset: Duration) -> [BrokerAction] {
        now = t0 + offset
        for identity in liveClients { _ = machine.receive(from: Self.identity(identity), frames: ClientMessage.heartbeat.frames, now: now) }
        let actions = machine.expire(now: now)
        log += actions
        return actions
    }

    /// The ZAP user id each connection speaks with (authentication on).
    var users: [String: String] = [:]

    @discardableResult
    mutating func receive(_ identity: String, _ frames: [Frame]) -> [BrokerAction] {
        let actions = machine.receive(from: Self.identity(identity), frames: frames, userID: users[identity], now: now)
        log += actions
        return actions
    }

    @discardableResult
    mutating func worker(_ identity: String, _ message: WorkerMessage) -> [BrokerAction] {
        receive(identity, message.frames)
    }

    @discardableResult
    mutating func client(_ identity: String, _ message: ClientMessage) -> [BrokerAction] {
        receive(identity, message.frames)
    }

    /// READY; the `running` attempts carry the capabilities this broker's secret gives them for
    /// the connection's key (as a worker that was given them, before a restart, holds them),
    /// unless `forged` lists them with capabilities of its own making.
    @discardableResult
    mutating func ready(_ identity: String, id: String? = nil, slots: Int = 1, gpus: Int = 0, heartbeatMs: Int = 1000,
                        running: [AttemptRef] = [], forged: Bool = false) -> [BrokerAction] {
        let holder = users[identity] ?? "worker-id:" + (id ?? identity)
        let key = machine.config.leaseKey
        let attempts = running.map { ref in
            RunningAttempt(ref, token: forged ? Array(repeating: 0xAB, count: LeaseToken.size)
                                              : BrokerStateMachine.leaseToken(ref, holder: holder, key: key))
        }
        return worker(identity, .ready(ReadyInfo(worker: id ?? identity, slots: slots, gpus: gpus, heartbeatMs: heartbeatMs,
                                                 liveness: 3, host: "host", pid: 1, version: "test", running: attempts)))
    }

    @discardableResult
    mutating func hello(_ identity: String, id: String = "c", live: Bool = true) -> [BrokerAction] {
        if live && !liveClients.contains(identity) { liveClients.append(identity) }
        return client(identity, .hello(HelloInfo(client: id, name: "test")))
    }

    @discardableResult
    mutating func submit(_ identity: String, _ ids: [String], requirements: Requirements = Requirements(),
                         spec: Frame = JobSpec(command: ["true"]).payload) -> [BrokerAction] {
        client(identity, .submit(request: 1, jobs: ids.map {
            JobSubmission(id: $0, requirements: requirements, payload: spec)
        }))
    }

    @discardableResult
    mutating func update(_ identity: String, _ kind: UpdateKind, _ ref: AttemptRef, seq: UInt64) -> [BrokerAction] {
        worker(identity, .update(Update(kind: kind, attempt: ref, seq: seq, payload: Array(#"{"loss":1}"#.utf8))))
    }

    // MARK: Reading actions

    /// Messages to the worker connection `identity`.
    static func toWorker(_ identity: String, _ actions: [BrokerAction]) -> [BrokerToWorker] {
        actions.compactMap { action in
            guard case .send(let to, let frames) = action, to == Self.identity(identity),
                  let message = try? WireDecoder.brokerToWorker(frames) else { return nil }
            return message
        }
    }

    /// Messages to the client connection `identity`.
    static func toClient(_ identity: String, _ actions: [BrokerAction]) -> [BrokerToClient] {
        actions.compactMap { action in
            guard case .send(let to, let frames) = action, to == Self.identity(identity),
                  let message = try? WireDecoder.brokerToClient(frames) else { return nil }
            return message
        }
    }

    /// ENDED notices to client `identity`: the attempt and its reason.
    static func ended(_ identity: String, _ actions: [BrokerAction]) -> [(ref: AttemptRef, reason: String, detail: String)] {
        toClient(identity, actions).compactMap { if case .ended(let ref, let reason, let detail) = $0 { (ref, reason, detail) } else { nil } }
    }

    /// ASSIGNs to `identity`.
    static func assigned(_ identity: String, _ actions: [BrokerAction]) -> [AttemptRef] {
        toWorker(identity, actions).compactMap { if case .assign(let ref, _, _) = $0 { ref } else { nil } }
    }

    /// Topics of the feed events among `actions`.
    static func topics(_ actions: [BrokerAction]) -> [String] {
        actions.compactMap { if case .publish(let frames) = $0 { FeedEvent(frames: frames)?.topic } else { nil } }
    }

    static func feedEvents(_ actions: [BrokerAction]) -> [FeedEvent] {
        actions.compactMap { if case .publish(let frames) = $0 { FeedEvent(frames: frames) } else { nil } }
    }

    /// Updates delivered to the client connection `identity`.
    static func delivered(_ identity: String, _ actions: [BrokerAction]) -> [Update] {
        toClient(identity, actions).compactMap { if case .update(let u) = $0 { u } else { nil } }
    }

    /// The status document.
    mutating func status() -> [String: JSONValue] {
        let clientIdentity = "status-query"
        _ = machine.receive(from: Self.identity(clientIdentity), frames: ClientMessage.hello(HelloInfo(client: "status", name: "status")).frames, now: now)
        let actions = client(clientIdentity, .query(request: 99, body: Array(#"{"what":"status"}"#.utf8)))
        for case .reply(99, let body) in Self.toClient(clientIdentity, actions) {
            return (try? JSONDecoder().decode(JSONValue.self, from: Data(body)))?.object ?? [:]
        }
        return [:]
    }
}
