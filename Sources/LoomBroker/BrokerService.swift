import CoreMetrics
import Foundation
import LoomRuntime
import LoomSecurity
import LoomWire
import Logging
import ZeroMQ

/// Settings of the broker process.
public struct BrokerServiceConfig: Sendable {
    /// The ROUTER endpoint every worker and client connects to.
    public var endpoint: String
    /// The PUB endpoint of the event feed.
    public var feedEndpoint: String
    /// The ROUTER endpoint that answers the feed's replay requests (Docs/protocol.md §8).
    public var feedReplayEndpoint: String
    /// The feed journal's file: the sequence continues from it after a restart and replays are
    /// read from it. Nil: an anonymous journal that disappears with the process.
    public var feedJournal: String?
    /// How much feed history the journal keeps (segment size, bytes, age).
    public var feedRetention: FeedRetention
    /// Events queued per feed subscriber before the PUB socket drops (ZMQ_SNDHWM); subscribers
    /// repair drops by replay, so this bounds memory, not correctness.
    public var feedHighWaterMark: Int
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
    /// The keys directory (`broker.key` and `<role>s/NAME.pub`, see Docs/security.md): when set,
    /// both sockets are CURVE servers, every peer is authenticated by ZAP against the directory's
    /// allowlist, and each message must come from a key with the role for it. Nil: no security
    /// (loopback development, or `--insecure`).
    public var keysDirectory: String?
    /// When attempts count as stalled or slow and workers as slow (Docs/stragglers.md).
    public var stragglers: StragglerPolicy
    /// The file of the secret that lease capabilities are MACed with (`LeaseSecret`; created with
    /// mode 0600 when missing), so leases survive a restart. Nil: a random secret per process.
    public var leaseSecret: String?
    /// Where the broker's metrics go (`LoomMetrics.PrometheusExport` behind `--metrics-port`).
    /// Nil: no metrics are kept.
    public var metrics: (any MetricsFactory)?
    /// Limits on what peers may make the broker hold (`BrokerConfig.maxWorkers`, `maxClients`)
    /// and on one replay request's prefixes (at most `FeedReplay.maxPrefixes`).
    public var maxWorkers: Int
    public var maxClients: Int
    public var maxReplayPrefixes: Int

    public init(endpoint: String = "tcp://*:5555", feedEndpoint: String = "tcp://*:5556",
                feedReplayEndpoint: String = "tcp://*:5557", feedJournal: String? = nil,
                feedRetention: FeedRetention = .keepEverything, feedHighWaterMark: Int = 1_000_000,
                heartbeat: Duration = .seconds(1), liveness: Int = 3,
                recoveryWindow: Duration = .seconds(5), shutdownWorkers: Bool = false,
                maxMessageSize: Int64 = 64 << 20, batchLimit: Int = 1_000, softwareVersion: String = "unknown",
                keysDirectory: String? = nil, stragglers: StragglerPolicy = StragglerPolicy(), leaseSecret: String? = nil,
                metrics: (any MetricsFactory)? = nil,
                maxWorkers: Int = 10_000, maxClients: Int = 10_000, maxReplayPrefixes: Int = FeedReplay.maxPrefixes) {
        self.endpoint = endpoint
        self.feedEndpoint = feedEndpoint
        self.feedReplayEndpoint = feedReplayEndpoint
        self.feedJournal = feedJournal
        self.feedRetention = feedRetention
        self.feedHighWaterMark = feedHighWaterMark
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.recoveryWindow = recoveryWindow
        self.shutdownWorkers = shutdownWorkers
        self.maxMessageSize = maxMessageSize
        self.batchLimit = batchLimit
        self.softwareVersion = softwareVersion
        self.keysDirectory = keysDirectory
        self.stragglers = stragglers
        self.leaseSecret = leaseSecret
        self.metrics = metrics
        self.maxWorkers = maxWorkers
        self.maxClients = maxClients
        self.maxReplayPrefixes = min(max(1, maxReplayPrefixes), FeedReplay.maxPrefixes)
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
    /// The ZAP handler, when peers are authenticated.
    private var zap: ZAPHandler?
    /// The broker's CURVE key pair, when peers are authenticated.
    private var serverKey: ZMQCurveKeyPair?
    /// The user ids allowed by the allowlist loaded last.
    private var allowedUsers: Set<String> = []
    private var machine: BrokerStateMachine
    /// The feed's journal, heartbeats and replay socket.
    private let publisher: FeedPublisher
    private let logger: Logger
    /// Messages that could not be sent because a peer's queue was full.
    public private(set) var dropped = 0
    /// The broker's metrics, when `config.metrics` is set.
    private let metrics: BrokerMetrics?

    /// Opens the feed journal (repairing a torn last record) and makes the state machine, whose
    /// feed sequence continues from the journal's last event.
    public init(config: BrokerServiceConfig, context: ZMQContext? = nil,
                logger: Logger = Logger(label: "hyperloom.broker")) throws {
        self.config = config
        let journal = try FeedJournal(path: config.feedJournal, retention: config.feedRetention)
        if journal.repairedBytes > 0 {
            let path: Logger.MetadataValue = .string(journal.path)
            let bytes: Logger.MetadataValue = .stringConvertible(journal.repairedBytes)
            logger.warning("feed journal: cut a torn last record", metadata: ["feed.journal": path, "feed.repaired_bytes": bytes])
        }
        publisher = FeedPublisher(journal: journal, logger: logger)
        metrics = config.metrics.map { BrokerMetrics(factory: $0) }
        publisher.maxReplayPrefixes = config.maxReplayPrefixes
        let leaseKey = try config.leaseSecret.map { path throws(LeaseSecret.Failure) in try LeaseSecret.load(path: path) } ?? LeaseSecret.random()
        (self.context, ownsContext) = try ZMQContext.borrowing(context)
        self.logger = logger
        let brokerConfig = BrokerConfig(
            brokerID: "broker-\(UUID().uuidString.prefix(8).lowercased())",
            leaseEpoch: UInt32.random(in: 1...UInt32.max),
            clientHeartbeat: config.heartbeat, liveness: config.liveness,
            recoveryWindow: config.recoveryWindow, softwareVersion: config.softwareVersion, stragglers: config.stragglers,
            lastFeedSeq: journal.lastSeq, maxWorkers: config.maxWorkers, maxClients: config.maxClients, leaseKey: leaseKey)
        // What earlier processes published about results, so a returning worker's attempt of a
        // job finished before this start is neither adopted as an orphan nor published again.
        machine = BrokerStateMachine(config: brokerConfig, results: try journal.publishedResults(), now: .now)
    }

    /// Binds the ROUTER, the feed and its replay socket (as CURVE servers behind the ZAP handler
    /// when `keysDirectory` is set); returns the endpoints actually bound (a `*` port is resolved).
    @discardableResult
    public func bind() throws -> (endpoint: String, feed: String, replay: String) {
        var serverKey: ZMQCurveKeyPair?
        if let directory = config.keysDirectory {
            // The handler must be bound before any CURVE server socket of the context.
            let allowlist = try Allowlist.load(directory: directory)
            serverKey = try KeyFiles.readSecretKey(Allowlist.brokerSecretKeyPath(in: directory))
            zap = try ZAPHandler(context: context, allowlist: allowlist)
            allowedUsers = Set(allowlist.peers.map(\.userID))
            _ = machine.authorize(allowedUsers, now: .now)
            publisher.allowedUsers = allowedUsers
            for problem in allowlist.problems {
                logger.warning("ignored key file", metadata: ["security.problem": "\(problem)"])
            }
            logger.info("peers are authenticated", metadata: ["security.keys": "\(directory)", "security.allowlist": "\(allowlist.summary)"])
        }
        let router = try context.socket(.router)
        try router.setLinger(.milliseconds(500))
        try router.setRouterMandatory(true)
        try router.setMaxMessageSize(config.maxMessageSize)
        try router.setSendHighWaterMark(100_000)
        try router.setReceiveHighWaterMark(100_000)
        try router.setTCPKeepalive(idle: .seconds(60), interval: .seconds(10), count: 6)
        if let serverKey {
            try router.setZAPDomain(ZAPAuthenticator.routerDomain)
            try router.setCurveServer(secretKey: serverKey.secretKey)
        }
        self.serverKey = serverKey
        try router.bind(config.endpoint)
        self.router = router
        let feed = try makeFeed(endpoint: config.feedEndpoint)
        self.feed = feed
        let replay = try publisher.bindReplay(endpoint: config.feedReplayEndpoint, context: context,
                                              serverKey: serverKey, zapDomain: ZAPAuthenticator.feedDomain)
        let bound = (endpoint: try router.lastEndpoint(), feed: try feed.lastEndpoint(), replay: replay)
        machine.announceFeed(feed: bound.feed, replay: bound.replay)
        return bound
    }

    /// Binds the feed again on the port the closed one held; libzmq releases a closed socket's
    /// listener in its I/O thread, so the port may stay busy for a moment (bounded: 2 s).
    private func rebindFeed(endpoint: String) throws(ZMQError) -> ZMQSocket {
        let deadline = ContinuousClock.now + .seconds(2)
        while true {
            do {
                return try makeFeed(endpoint: endpoint)
            } catch where error.code == EADDRINUSE && ContinuousClock.now < deadline {
                var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
                nanosleep(&pause, nil)
            }
        }
    }

    /// The PUB socket of the feed, bound (a CURVE server behind ZAP when keys are set).
    private func makeFeed(endpoint: String) throws(ZMQError) -> ZMQSocket {
        let feed = try context.socket(.pub)
        try feed.setLinger(.milliseconds(500))
        try feed.setSendHighWaterMark(config.feedHighWaterMark)
        // Subscribers send only subscriptions: nothing legitimate comes near this bound.
        try feed.setMaxMessageSize(64 << 10)
        if let serverKey {
            try feed.setZAPDomain(ZAPAuthenticator.feedDomain)
            try feed.setCurveServer(secretKey: serverKey.secretKey)
        }
        try feed.bind(endpoint)
        return feed
    }

    /// Reads the allowlist again (SIGHUP): new keys may connect from now on, and peers whose key
    /// was removed are cut off (a revoked worker's attempts are requeued).
    ///
    /// Subscribers cannot be told apart on a PUB socket, so when a key was removed the feed is
    /// bound anew: every subscriber reconnects through ZAP, and a revoked one is refused.
    func reloadAllowlist() throws {
        guard let directory = config.keysDirectory, let zap else {
            logger.info("SIGHUP: nothing to reload (no --keys)")
            return
        }
        do {
            let allowlist = try Allowlist.load(directory: directory)
            for problem in allowlist.problems {
                logger.warning("ignored key file", metadata: ["security.problem": "\(problem)"])
            }
            zap.reload(allowlist)
            let users = Set(allowlist.peers.map(\.userID))
            let removed = !allowedUsers.isSubset(of: users)
            allowedUsers = users
            publisher.allowedUsers = users
            try perform(machine.authorize(users, now: .now))
            if removed, let old = feed {
                let endpoint = try old.lastEndpoint()
                old.close()
                feed = try rebindFeed(endpoint: endpoint)
            }
            logger.info("allowlist reloaded", metadata: ["security.allowlist": "\(allowlist.summary)", "security.feed_rebound": "\(removed)"])
        } catch let error as ZMQError {
            throw error
        } catch {
            logger.error("cannot reload the allowlist; the previous one stays", metadata: ["error": "\(error)"])
        }
    }

    /// Runs the loop until `stop` fires, then shuts down gracefully. With `reload` (SIGHUP), the
    /// allowlist is read again each time it is raised.
    public func run(until stop: StopLatch, reload: SignalFlag? = nil) throws {
        if router == nil { try bind() }
        guard let router else { return }
        logger.info("broker running", metadata: [
            "broker.id": "\(machine.brokerID)", "broker.endpoint": "\(config.endpoint)",
            "broker.feed": "\(config.feedEndpoint)", "broker.authenticated": "\(zap != nil)",
        ])
        let journalPath: Logger.MetadataValue = .string(publisher.journal.path)
        let lastSeq: Logger.MetadataValue = .stringConvertible(publisher.journal.lastSeq)
        logger.info("feed journal open", metadata: [
            "feed.journal": journalPath, "feed.last_seq": lastSeq, "feed.first_seq": "\(publisher.journal.firstSeq)",
            "feed.segments": "\(publisher.journal.segmentCount)",
        ])
        var poller = Poller()
        let routerIndex = poller.add(router)
        poller.add(fd: stop.fd)
        let zapIndex = zap.map { poller.add($0.socket) }
        let reloadIndex = reload.map { poller.add(fd: $0.fd) }
        let replayIndex = publisher.replaySocket.map { poller.add($0) }
        while !stop.isStopRequested {
            let now = ContinuousClock.now
            let deadline = machine.nextDeadline
            let ready = try poller.poll(timeout: deadline > now ? now.duration(to: deadline) : .zero)
            if let zapIndex, ready.contains(zapIndex), let zap {
                for decision in zap.handlePending() where !decision.isAccepted {
                    logger.warning("peer refused", metadata: ["security.decision": "\(decision)"])
                }
            }
            if let reloadIndex, ready.contains(reloadIndex), reload?.take() == true {
                try reloadAllowlist()
            }
            if ready.contains(routerIndex) {
                var handled = 0
                while handled < config.batchLimit, let message = try router.receiveMessage(dontWait: true) {
                    handled += 1
                    guard let identity = message.frames.first else { continue }
                    try perform(machine.receive(from: identity, frames: message.frames.dropFirst(), userID: message.userID, now: .now))
                }
            }
            try perform(machine.expire(now: .now))
            for line in machine.takeRefusalLines() { logger.warning("message refused", metadata: line.metadata.mapValues { .string($0) }) }
            try publisher.publishPending(on: feed, now: .now, time: Date().timeIntervalSince1970)
            if let replayIndex, ready.contains(replayIndex) { try publisher.serveReplays() }
            updateMetrics()
        }
        logger.info("broker stopping", metadata: ["broker.shutdown_workers": "\(config.shutdownWorkers)"])
        try perform(machine.shutdown(shutdownWorkers: config.shutdownWorkers, now: .now))
        try publisher.publishPending(on: feed, now: .now, time: Date().timeIntervalSince1970)
        close()
    }

    /// Records the turn's dispatch waits; about once a second, sets the gauges and counters from a
    /// snapshot of the machine and the feed.
    private func updateMetrics() {
        guard let metrics else { return }
        metrics.recordDispatchWaits(machine.takeDispatchWaits())
        let now = ContinuousClock.now
        guard now >= metrics.nextRefresh else { return }
        metrics.nextRefresh = now + BrokerMetrics.refreshInterval
        metrics.refresh(machine.gauges(now: now), counters: machine.counters, feed: FeedStatistics(
            journalBytes: publisher.journal.bytes, journalSegments: publisher.journal.segmentCount,
            dropped: publisher.dropped, replaysServed: publisher.replaysServed))
    }

    /// The machine's counters (for tests and the status reply).
    public var counters: BrokerCounters { machine.counters }

    /// Closes the sockets (and the context when the service made it). Idempotent.
    public func close() {
        router?.close()
        feed?.close()
        zap?.close()
        publisher.close()
        zap = nil
        router = nil
        feed = nil
        if ownsContext { context.terminate() }
    }

    /// Feed events the PUB socket refused at its high-water mark (subscribers repair them by replay).
    public var feedDropped: Int { publisher.dropped }

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
                publisher.enqueue(frames, time: Date().timeIntervalSince1970)
            }
        }
    }
}
