import Foundation
import LoomRuntime
import LoomWire
import Logging
import ZeroMQ

/// Settings of the broker process.
public struct BrokerServiceConfig: Sendable {
    /// The ROUTER endpoint every worker and client connects to.
    public var endpoint: String
    /// The PUB endpoint of the event feed.
    public var feedEndpoint: String
    /// Heartbeat interval for clients (workers propose their own).
    public var heartbeat: Duration
    /// Missed heartbeats before a peer is declared dead.
    public var liveness: Int
    /// How long re-synced jobs wait for their workers to re-register after a broker start.
    public var recoveryWindow: Duration
    /// On SIGTERM, also tell every worker to shut down.
    public var shutdownWorkers: Bool
    /// Largest message accepted on the public port (ZMQ_MAXMSGSIZE); larger ones drop the
    /// connection. 64 MiB leaves room for large job specs and checkpoint notices.
    public var maxMessageSize: Int64
    /// Messages handled per loop turn before timers run again, so a flood cannot starve the
    /// heartbeat bookkeeping.
    public var batchLimit: Int
    /// The software version reported in the status document.
    public var softwareVersion: String

    public init(endpoint: String = "tcp://*:5555", feedEndpoint: String = "tcp://*:5556",
                heartbeat: Duration = .seconds(1), liveness: Int = 3,
                recoveryWindow: Duration = .seconds(5), shutdownWorkers: Bool = false,
                maxMessageSize: Int64 = 64 << 20, batchLimit: Int = 1_000, softwareVersion: String = "unknown") {
        self.endpoint = endpoint
        self.feedEndpoint = feedEndpoint
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.recoveryWindow = recoveryWindow
        self.shutdownWorkers = shutdownWorkers
        self.maxMessageSize = maxMessageSize
        self.batchLimit = batchLimit
        self.softwareVersion = softwareVersion
    }
}

/// The broker process: one poll loop around `BrokerStateMachine`.
///
/// **Threading.** `bind()` and `run(until:)` are called from one thread, which owns both
/// sockets; nothing else touches them. The state machine decides everything; this type only
/// moves frames between sockets and the machine and carries out its actions.
/// **Liveness.** The poll timeout is the machine's next deadline, so heartbeats are sent and dead
/// peers are detected on time however quiet the sockets are; at most `batchLimit` messages are
/// handled between two timer runs.
/// **Shutdown.** When the stop latch fires, the machine stops dispatching (and tells workers to
/// shut down when configured), the resulting messages are flushed, and the sockets close.
public final class BrokerService {
    public let config: BrokerServiceConfig
    private let context: ZMQContext
    private let ownsContext: Bool
    private var router: ZMQSocket?
    private var feed: ZMQSocket?
    private var machine: BrokerStateMachine
    private let logger: Logger
    /// Messages that could not be sent because a peer's queue was full.
    public private(set) var dropped = 0

    public init(config: BrokerServiceConfig, context: ZMQContext? = nil,
                logger: Logger = Logger(label: "hyperloom.broker")) throws(ZMQError) {
        self.config = config
        (self.context, ownsContext) = try ZMQContext.borrowing(context)
        self.logger = logger
        let brokerConfig = BrokerConfig(
            brokerID: "broker-\(UUID().uuidString.prefix(8).lowercased())",
            leaseEpoch: UInt32.random(in: 1...UInt32.max),
            clientHeartbeat: config.heartbeat, liveness: config.liveness,
            recoveryWindow: config.recoveryWindow, softwareVersion: config.softwareVersion)
        machine = BrokerStateMachine(config: brokerConfig, now: .now)
    }

    /// Binds both sockets; returns the endpoints actually bound (a `*` port is resolved).
    @discardableResult
    public func bind() throws(ZMQError) -> (endpoint: String, feed: String) {
        let router = try context.socket(.router)
        try router.setLinger(.milliseconds(500))
        try router.setRouterMandatory(true)
        try router.setMaxMessageSize(config.maxMessageSize)
        try router.setSendHighWaterMark(100_000)
        try router.setReceiveHighWaterMark(100_000)
        try router.setTCPKeepalive(idle: .seconds(60), interval: .seconds(10), count: 6)
        try router.bind(config.endpoint)
        let feed = try context.socket(.pub)
        try feed.setLinger(.milliseconds(500))
        try feed.setSendHighWaterMark(1_000_000)
        try feed.bind(config.feedEndpoint)
        self.router = router
        self.feed = feed
        return (try router.lastEndpoint(), try feed.lastEndpoint())
    }

    /// Runs the loop until `stop` fires, then shuts down gracefully.
    public func run(until stop: StopLatch) throws(ZMQError) {
        if router == nil { try bind() }
        guard let router else { return }
        logger.info("broker running", metadata: [
            "broker.id": "\(machine.brokerID)", "broker.endpoint": "\(config.endpoint)",
            "broker.feed": "\(config.feedEndpoint)",
        ])
        var poller = Poller()
        let routerIndex = poller.add(router)
        poller.add(fd: stop.fd)
        while !stop.isStopRequested {
            let now = ContinuousClock.now
            let deadline = machine.nextDeadline
            let ready = try poller.poll(timeout: deadline > now ? now.duration(to: deadline) : .zero)
            if ready.contains(routerIndex) {
                var handled = 0
                while handled < config.batchLimit, let frames = try router.receive(dontWait: true) {
                    handled += 1
                    guard let identity = frames.first else { continue }
                    try perform(machine.receive(from: identity, frames: frames.dropFirst(), now: .now))
                }
            }
            try perform(machine.expire(now: .now))
        }
        logger.info("broker stopping", metadata: ["broker.shutdown_workers": "\(config.shutdownWorkers)"])
        try perform(machine.shutdown(shutdownWorkers: config.shutdownWorkers, now: .now))
        close()
    }

    /// The machine's counters (for tests and the status reply).
    public var counters: BrokerCounters { machine.counters }

    /// Closes the sockets (and the context when the service made it). Idempotent.
    public func close() {
        router?.close()
        feed?.close()
        router = nil
        feed = nil
        if ownsContext { context.terminate() }
    }

    private func perform(_ actions: [BrokerAction]) throws(ZMQError) {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .send(let identity, let frames):
                do {
                    if try !(router?.send([identity] + frames, dontWait: true) ?? true) { dropped += 1 }
                } catch where error.isHostUnreachable {
                    queue += machine.peerUnreachable(identity, now: .now)
                }
            case .publish(let frames):
                if try !(feed?.send(Self.stamped(frames), dontWait: true) ?? true) { dropped += 1 }
            }
        }
    }

    /// Adds the wall-clock `time` (seconds since the Unix epoch) to a feed body: the state
    /// machine has no clock, and subscribers want to plot events in time.
    static func stamped(_ frames: [Frame]) -> [Frame] {
        guard frames.count >= 3, frames[2].first == UInt8(ascii: "{") else { return frames }
        var out = frames
        let time = Array("\"time\":\(Date().timeIntervalSince1970)".utf8)
        out[2] = [UInt8(ascii: "{")] + time + (frames[2].count > 2 ? [UInt8(ascii: ",")] : []) + frames[2].dropFirst()
        return out
    }
}
