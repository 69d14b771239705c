import CoreMetrics
import Foundation
import LoomClient
import LoomModel
import LoomRuntime
import LoomStore
import LoomWire
import Logging
import LoomCheckpoint
import ZeroMQ

/// Settings of the optimizer process.
public struct OptimizerConfig: Sendable {
    /// The broker's ROUTER endpoint.
    public var brokerEndpoint: String
    /// Stable client id: a restarted optimizer says HELLO with it and receives the results that
    /// waited for it.
    public var clientID: String
    /// The broker's feed: worker events (joined, lost, left) and trial output are recorded from
    /// it. nil: the feed the broker announces in its WELCOME (none from an older broker).
    public var feedEndpoint: String?
    /// The optimizer's CURVE keys and the broker's public key, when the broker authenticates.
    public var curve: CurveClientKeys?
    /// Where checkpoints are kept and how many per trial.
    public var checkpoints: CheckpointStoreSettings
    /// The feed was created with this optimizer (the embedded fabric's broker, whose journal is
    /// new): trial logs are read from its first event, not after the position stored by an
    /// earlier run against another journal (whose sequence numbers this one reuses).
    public var feedIsNew = false
    /// Where the optimizer's metrics go (`LoomMetrics.PrometheusExport` behind `--metrics-port`).
    /// Nil: no metrics are kept.
    public var metrics: (any MetricsFactory)?
    /// The budget a submitted spec must fit (`spec_max_bytes`, `spec_max_nodes`).
    public var specLimits: SpecBudget.Limits

    public init(brokerEndpoint: String, clientID: String = "optimizer", feedEndpoint: String? = nil,
                curve: CurveClientKeys? = nil, checkpoints: CheckpointStoreSettings = CheckpointStoreSettings(),
                specLimits: SpecBudget.Limits = SpecBudget.Limits()) {
        self.specLimits = specLimits
        self.brokerEndpoint = brokerEndpoint
        self.clientID = clientID
        self.feedEndpoint = feedEndpoint
        self.curve = curve
        self.checkpoints = checkpoints
    }
}

/// The optimizer process: a thin loop around `OptimizerMachine`. Each turn it polls the broker
/// connection, feeds the machine what arrived (events, the feed's worker and log events, the
/// passing of time), applies the turn's store writes in ONE batch (group commit: one sync per
/// turn, however many results arrived), and only then sends the turn's messages, answers the
/// read-only requests from the committed store and performs the blob writes.
///
/// **Threading.** `run(until:)` runs on one thread, which owns the client socket, the store, the
/// blob directory and the machine.
/// **Restart.** On start the machine is rebuilt from the store (`StoredState.read(from:)`) and
/// every unfinished trial is submitted again with the resync flag (the broker, which still runs
/// them, only learns the new owner connection), so completed trials never run again and no result
/// is counted twice. A turn whose commit fails is dropped with its messages and the machine is
/// rebuilt the same way; the workers resend what stayed unacknowledged.
public final class OptimizerService: @unchecked Sendable {
    public let config: OptimizerConfig
    let store: any StudyStore
    let client: BrokerClient
    let logger: Logger
    /// The logic: studies, attempts, uploads (rebuilt from the store on start).
    var machine: OptimizerMachine
    /// The worker events of the feed, when `feedEndpoint` is set.
    var workerFeed: FeedSubscriber?
    /// The `log/` topics of the feed, resumed after the last stored line (`OptimizerService+Logs`).
    var logFeed: FeedSubscriber?
    /// The feed and its replay endpoint in use: `config.feedEndpoint`, else the broker's.
    var feedEndpoints: (feed: String, replay: String?)?
    /// A clock for record timestamps, injectable for tests.
    let wallClock: @Sendable () -> Double
    /// Where checkpoint blobs are kept; nil: checkpoints are not kept.
    let blobs: BlobDirectory?
    /// The context shared with the caller (an embedded fabric on `inproc://`), nil: its own.
    let context: ZMQContext?
    /// Whether the machine was rebuilt from the store (false while the store cannot be read).
    var restored = false
    /// The optimizer's metrics, when `config.metrics` is set.
    let metrics: OptimizerMetrics?

    /// - Parameter context: a ZeroMQ context to share (its owner terminates it after `run`
    ///   returns), e.g. to reach an embedded broker on `inproc://`; nil: the service makes its own.
    public init(config: OptimizerConfig, store: any StudyStore, logger: Logger = Logger(label: "hyperloom.optimizer"),
                wallClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                context: ZMQContext? = nil) throws(ClientError) {
        self.config = config
        self.context = context
        self.store = store
        self.logger = logger
        self.wallClock = wallClock
        machine = OptimizerMachine(settings: Self.settings(config))
        metrics = config.metrics.map { OptimizerMetrics(factory: $0) }
        if let directory = config.checkpoints.directory {
            do {
                blobs = try BlobDirectory(root: directory)
            } catch {
                logger.error("cannot open the checkpoint directory; checkpoints will not be kept", metadata: ["error": "\(error)"])
                blobs = nil
            }
        } else {
            blobs = nil
        }
        do {
            client = try BrokerClient(endpoint: config.brokerEndpoint, clientID: config.clientID, name: "optimizer",
                                      services: [ServiceName.optimizer, ServiceName.checkpoints], curve: config.curve, context: context,
                                      logger: logger)
        } catch {
            throw .transport(error)
        }
    }

    static func settings(_ config: OptimizerConfig, keepsCheckpoints: Bool? = nil) -> OptimizerMachine.Settings {
        var settings = OptimizerMachine.Settings(config.checkpoints, workingDirectory: FileManager.default.currentDirectoryPath)
        if let keepsCheckpoints { settings.keepsCheckpoints = keepsCheckpoints }
        settings.specLimits = config.specLimits
        if config.metrics != nil { settings.suggestClock = { ContinuousClock.now } }
        return settings
    }

    /// Connects (retrying until the broker answers or `stop` fires), resumes the running studies,
    /// and serves until `stop` fires.
    public func run(until stop: StopLatch) throws(ClientError) {
        while !stop.isStopRequested {
            do {
                try client.connect(timeout: .seconds(5))
                break
            } catch .timeout {
                logger.warning("no broker answers yet; retrying", metadata: ["optimizer.broker": "\(config.brokerEndpoint)"])
            }
        }
        guard !stop.isStopRequested else { return client.close() }
        let announced = client.welcome.flatMap { FeedEndpoints.announced(by: $0, broker: config.brokerEndpoint) }
        if let feed = config.feedEndpoint ?? announced?.feed {
            // The announced replay endpoint is the one of the announced feed only.
            let endpoints = (feed: feed, replay: announced?.feed == feed ? announced?.replay : nil)
            feedEndpoints = endpoints
            do {
                workerFeed = try FeedSubscriber(endpoint: feed, topics: ["worker/"], replayEndpoint: endpoints.replay,
                                                curve: config.curve, context: context)
            } catch {
                logger.warning("cannot subscribe to the feed; worker events are not recorded", metadata: ["error": "\(error)"])
            }
            subscribeToLogs(endpoints)
        }
        // Uploads start over after a restart: what an earlier run half-received is garbage.
        blobs?.discardAllPartials()
        restore()
        logger.info("optimizer running", metadata: ["optimizer.studies": "\(machine.studyRecords.filter { $0.state == .running }.count)"])
        while !stop.isStopRequested {
            turn(try client.poll(timeout: .milliseconds(100)))
        }
        logger.info("optimizer stopping")
        workerFeed?.close()
        logFeed?.close()
        client.close()
    }

    /// The moment of an event.
    func now() -> OptimizerMachine.Now { OptimizerMachine.Now(instant: .now, wall: wallClock()) }

    /// Rebuilds the machine from the store and submits the unfinished trials again. While the
    /// store cannot be read the machine knows no study, so it must not handle events (it would
    /// acknowledge results as not its own): `turn` drops them (unacknowledged, the workers send
    /// them again) and tries again.
    func restore() {
        do {
            let state = try StoredState.read(from: store, blobs: blobs?.allBlobs() ?? [])
            machine = OptimizerMachine(settings: Self.settings(config, keepsCheckpoints: blobs != nil), restoring: state)
            restored = true
        } catch {
            logger.error("cannot read the store; events wait until it can be read", metadata: ["error": "\(error)"])
            restored = false
            return
        }
        perform(machine.start(now: now()))
    }

    /// One loop turn: what arrived, the feed, and the passing of time, into the machine; its
    /// actions carried out.
    func turn(_ events: [ClientEvent]) {
        guard restored else { return restore() }
        let moment = now()
        var actions = OptimizerActions()
        for event in events { actions.append(machine.handle(event, now: moment)) }
        actions.append(machine.tick(now: moment))
        if let metrics {
            metrics.suggested(actions.suggestTimes)
            if moment.instant >= metrics.nextRefresh {
                metrics.nextRefresh = moment.instant + OptimizerMetrics.refreshInterval
                metrics.refresh(machine)
            }
        }
        if let feed = workerFeed {
            while let event = try? feed.next(timeout: .zero) { actions.append(machine.workerEvent(event, now: moment)) }
        }
        if let feed = logFeed {
            for _ in 0..<Self.logEventsPerTurn {
                guard let event = try? feed.next(timeout: .zero) else { break }
                actions.append(machine.logEvent(event, now: moment))
            }
        }
        perform(actions)
    }

    /// Commits the writes in one batch; then sends, answers and writes blobs; then hands the
    /// machine what the store and the disk answered, until nothing follows. A failed commit drops
    /// everything and rebuilds the machine from the store.
    func perform(_ first: OptimizerActions) {
        var actions = first
        while !actions.isEmpty {
            let garbage: [String]
            do {
                let started = ContinuousClock.now
                let (unreferenced, skipped) = try StoreWrite.commit(actions.writes, to: store)
                metrics?.committed(in: started.duration(to: .now))
                garbage = unreferenced
                for error in skipped { logger.debug("a best-effort write was not stored", metadata: ["error": "\(error)"]) }
            } catch {
                logger.error("cannot commit the turn; rebuilding the studies from the store", metadata: ["error": "\(error)"])
                metrics?.commitFailed()
                if let feedEndpoints {
                    // The log events taken this turn were not stored: take them again from the feed.
                    logFeed?.close()
                    subscribeToLogs(feedEndpoints)
                }
                return restore()
            }
            for note in actions.notes { log(note) }
            for message in actions.orderedMessages { send(message) }
            for query in actions.queries {
                send(.respond(request: query.request, to: query.from,
                              body: OptimizerQueries.answer(query, store: store, logFeedPosition: logFeed?.position ?? 0)))
            }
            for fetch in actions.fetches {
                send(.transfer(CheckpointServer.answer(fetch, index: store as? any CheckpointIndex, blobs: blobs)))
            }
            var outcomes: [DiskOutcome] = []
            metrics?.received(actions.disk)
            if let blobs {
                for action in actions.disk { if let outcome = action.perform(on: blobs) { outcomes.append(outcome) } }
            }
            actions = OptimizerActions()
            if !garbage.isEmpty { actions.append(machine.unreferenced(garbage)) }
            if !outcomes.isEmpty { actions.append(machine.diskDone(outcomes, now: now())) }
        }
    }

    private func send(_ message: OptimizerMessage) {
        do {
            switch message {
            case .acknowledge(let update): try client.acknowledge(update)
            case .submit(let jobs): try client.submit(jobs)
            case .cancel(let jobs, let reason): try client.sendCancel(jobs, reason: reason)
            case .follow(let jobs): client.follow(jobs)
            case .respond(let request, let to, let body): try client.respond(request: request, to: to, body: body)
            case .transfer(let transfer):
                try client.transfer(transfer)
                metrics?.sent(transfer)
            }
        } catch {
            logger.warning("cannot send to the broker", metadata: ["optimizer.message": "\(message.name)", "error": "\(error)"])
        }
    }

    /// The searcher kinds of the studies whose new trials `actions` submit.
    private func log(_ note: OptimizerNote) {
        let metadata = note.metadata.mapValues { Logger.MetadataValue.string($0) }
        switch note.level {
        case .debug: logger.debug("\(note.message)", metadata: metadata)
        case .info: logger.info("\(note.message)", metadata: metadata)
        case .warning: logger.warning("\(note.message)", metadata: metadata)
        case .error: logger.error("\(note.message)", metadata: metadata)
        }
    }
}
