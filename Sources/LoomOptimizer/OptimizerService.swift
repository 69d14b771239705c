import Foundation
import LoomClient
import LoomModel
import LoomRuntime
import LoomStore
import LoomWire
import Logging
import ZeroMQ

/// Settings of the optimizer process.
public struct OptimizerConfig: Sendable {
    /// The broker's ROUTER endpoint.
    public var brokerEndpoint: String
    /// Stable client id: a restarted optimizer says HELLO with it and receives the results that
    /// waited for it.
    public var clientID: String
    /// The broker's feed; when given, worker events (joined, lost, left) are recorded in the store.
    public var feedEndpoint: String?
    /// The optimizer's CURVE keys and the broker's public key, when the broker authenticates.
    public var curve: CurveClientKeys?
    /// Where checkpoints are kept and how many per trial.
    public var checkpoints: CheckpointStoreSettings
    /// The feed was created with this optimizer (the embedded fabric's broker, whose journal is
    /// new): trial logs are read from its first event, not after the position stored by an
    /// earlier run against another journal (whose sequence numbers this one reuses).
    public var feedIsNew = false

    public init(brokerEndpoint: String, clientID: String = "optimizer", feedEndpoint: String? = nil,
                curve: CurveClientKeys? = nil, checkpoints: CheckpointStoreSettings = CheckpointStoreSettings()) {
        self.brokerEndpoint = brokerEndpoint
        self.clientID = clientID
        self.feedEndpoint = feedEndpoint
        self.curve = curve
        self.checkpoints = checkpoints
    }
}

/// The optimizer: owns studies, asks their searchers, submits trials as jobs through the broker,
/// records every report and result in the store *before* acknowledging it, and answers the CLI's
/// REQUESTs (service `optimizer`).
///
/// **Threading.** `run(until:)` runs on one thread, which owns the client socket and the store.
/// **Restart.** On start every running study is rebuilt from the store; its unfinished trials are
/// submitted again with the resync flag (the broker, which still runs them, only learns the new
/// owner connection), so completed trials never run again and no result is counted twice.
public final class OptimizerService: @unchecked Sendable {
    public let config: OptimizerConfig
    let store: any StudyStore
    let client: BrokerClient
    let logger: Logger
    /// The running studies' drivers, mutated in place (`drivers[id]?.update(…)`): a copy of a
    /// driver alive while it changes would share its trials and copy every one of them per event.
    var drivers: [String: StudyDriver] = [:]
    /// The worker events of the feed, when `feedEndpoint` is set.
    var workerFeed: FeedSubscriber?
    /// The `log/` topics of the feed, resumed after the last stored line (`OptimizerService+Logs`).
    var logFeed: FeedSubscriber?
    /// Messages held until the current turn's batch commits; nil outside a turn.
    var outbox: [Outbound]?
    /// Work held until the current turn's batch commits (see `whenCommitted`).
    var afterCommit: [() -> Void] = []
    /// A clock for record timestamps, injectable for tests.
    let wallClock: @Sendable () -> Double
    /// The checkpoint store: uploads in flight, blobs, answers to restores.
    let vault: CheckpointVault
    /// The context shared with the caller (an embedded fabric on `inproc://`), nil: its own.
    let context: ZMQContext?

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
        vault = CheckpointVault(settings: config.checkpoints, logger: logger)
        do {
            client = try BrokerClient(endpoint: config.brokerEndpoint, clientID: config.clientID, name: "optimizer",
                                      services: [ServiceName.optimizer, ServiceName.checkpoints], curve: config.curve, context: context,
                                      logger: logger)
        } catch {
            throw .transport(error)
        }
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
        if let feed = config.feedEndpoint {
            do {
                workerFeed = try FeedSubscriber(endpoint: feed, topics: ["worker/"], curve: config.curve, context: context)
            } catch {
                logger.warning("cannot subscribe to the feed; worker events are not recorded", metadata: ["error": "\(error)"])
            }
            subscribeToLogs(feed: feed)
        }
        resumeStudies()
        logger.info("optimizer running", metadata: ["optimizer.studies": "\(drivers.count)"])
        while !stop.isStopRequested {
            turn(try client.poll(timeout: .milliseconds(100)))
        }
        logger.info("optimizer stopping")
        workerFeed?.close()
        logFeed?.close()
        client.close()
    }

    /// Handles what arrived, advances every study and records worker events, all in one store
    /// batch (group commit: one sync per turn, however many results arrived); only then are the
    /// acknowledgements, submissions and replies the turn produced sent. If the commit fails,
    /// nothing of the turn was sent: the studies are rebuilt from the store and the workers
    /// resend what stayed unacknowledged.
    func turn(_ events: [ClientEvent]) {
        outbox = []
        defer { outbox = nil }
        do {
            try store.batch {
                for event in events { handle(event) }
                expireTransfers()
                for id in Array(drivers.keys) { advance(id) }
                recordWorkerEvents()
                recordLogs()
            }
        } catch {
            logger.error("cannot commit the turn; rebuilding the studies from the store", metadata: ["error": "\(error)"])
            outbox = nil
            afterCommit = []
            drivers.removeAll()
            resumeStudies()
            if let feed = config.feedEndpoint {
                // The log events taken this turn were not stored: take them again from the feed.
                logFeed?.close()
                subscribeToLogs(feed: feed)
            }
            return
        }
        // Acknowledgements go first: a job resubmitted in the turn that acknowledges its last
        // result (a budget-style trial promoted by its own FINAL) must reach the broker after
        // that ACK, or the broker, still delivering the result, takes the SUBMIT for a re-sync
        // of the same job and the new attempt is never queued.
        let pending = outbox ?? []
        let messages = pending.filter(\.isAcknowledgement) + pending.filter { !$0.isAcknowledgement }
        outbox = nil
        let cleanups = afterCommit
        afterCommit = []
        for message in messages { send(message) }
        for cleanup in cleanups { cleanup() }
    }

    /// Runs `cleanup` once the current turn commits (at once outside a turn); a turn that rolls
    /// back drops it. For what must not happen before the store says so, e.g. deleting the
    /// blobs of checkpoints the batch stopped referencing.
    func whenCommitted(_ cleanup: @escaping () -> Void) {
        if outbox != nil { afterCommit.append(cleanup) } else { cleanup() }
    }

    /// Sends a message to the broker now, or after the current turn's commit.
    func post(_ message: Outbound) {
        if outbox != nil { outbox?.append(message) } else { send(message) }
    }

    private func send(_ message: Outbound) {
        do {
            switch message {
            case .acknowledge(let update): try client.acknowledge(update)
            case .submit(let jobs): try client.submit(jobs)
            case .respond(let request, let to, let body): try client.respond(request: request, to: to, body: body)
            }
        } catch {
            logger.warning("cannot send to the broker", metadata: ["optimizer.message": "\(message.name)", "error": "\(error)"])
        }
    }

    /// Stores the worker events the feed delivered since the last turn.
    func recordWorkerEvents() {
        guard let feed = workerFeed else { return }
        while let event = try? feed.next(timeout: .zero) {
            let parts = event.topic.split(separator: "/")
            guard parts.count == 3 else { continue }
            let body = (try? JSONValue(parsing: event.body))?.object ?? [:]
            let detail = body["reason"]?.argument ?? body["host"].map { "host \($0.argument)" }
            do {
                try store.recordWorkerEvent(WorkerEventRecord(time: body["time"]?.double ?? wallClock(), worker: String(parts[1]),
                                                              event: String(parts[2]), detail: detail))
            } catch {
                logger.warning("cannot record a worker event", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Studies

    /// Rebuilds every running study from the store and submits its unfinished trials again.
    func resumeStudies() {
        do {
            for study in try store.studies() where study.state == .running {
                do {
                    let spec = try SpecParser.parse(study.specText, file: "\(study.id).yaml")
                    let trials = try store.trials(study: study.id)
                    var reports: [ReportRecord] = []
                    if spec.scheduler.kind != .fifo {
                        for trial in trials where trial.source != "ask" { reports += try store.reports(study: study.id, trial: trial.number) }
                    }
                    drivers[study.id] = StudyDriver(studyID: study.id, spec: spec, createdAt: study.createdAt, trials: trials,
                                                    reports: reports)
                    let unfinished = trials.filter { !$0.state.isFinished && $0.state != .paused && $0.source != "ask" }
                    submit(unfinished, of: study, resync: true)
                    logger.info("study resumed", metadata: ["study.name": "\(study.id)", "study.unfinished": "\(unfinished.count)"])
                } catch {
                    logger.error("cannot resume study", metadata: ["study.name": "\(study.id)", "error": "\(error)"])
                }
            }
        } catch {
            logger.error("cannot read the store", metadata: ["error": "\(error)"])
        }
    }

    /// Creates a study from a spec's text; returns its id.
    func createStudy(specText: String, file: String, baseDirectory: String, owner: String? = nil) throws -> String {
        let spec = try SpecParser.parse(specText, file: file)
        let existing = try store.studies().filter { $0.name == spec.name }.count
        var n = existing + 1
        while try store.study("\(spec.name)-\(n)") != nil { n += 1 }
        let id = "\(spec.name)-\(n)"
        let now = wallClock()
        try store.createStudy(StudyRecord(id: id, name: spec.name, specText: specText, baseDirectory: baseDirectory,
                                          createdAt: now, owner: owner))
        drivers[id] = StudyDriver(studyID: id, spec: spec, createdAt: now, trials: [])
        logger.info("study created", metadata: ["study.name": "\(id)"])
        advance(id)
        return id
    }

    /// Creates, resumes and submits the trials the study may start now, or finishes it.
    func advance(_ id: String) {
        guard drivers[id] != nil else { return }
        let now = wallClock()
        if let (state, reason) = drivers[id]?.hardStopReason(now: now) {
            finish(id, state: state, reason: reason)
            return
        }
        guard let plan = drivers[id]?.fillSlots(now: now) else { return }
        if plan != SlotPlan(), let study = try? store.study(id) {
            do {
                for trial in plan.created { try store.insertTrial(trial) }
                for trial in plan.resumed { try store.updateTrial(trial) }
                for trial in plan.pruned { try store.recordResult(trial: trial, attempt: nil) }
            } catch {
                logger.error("cannot store new or resumed trials", metadata: ["study.name": "\(id)", "error": "\(error)"])
                return
            }
            submit(plan.created + plan.resumed, of: study, resync: false)
        }
        if let (state, reason) = drivers[id]?.stopReason(now: now) { finish(id, state: state, reason: reason) }
    }

    /// Ends a study: its active trials are cancelled at the broker and in the store.
    func finish(_ id: String, state: StudyState, reason: String) {
        guard var driver = drivers.removeValue(forKey: id), var study = try? store.study(id) else { return }
        let now = wallClock()
        let active = driver.active
        if !active.isEmpty {
            // Trials from `ask` run outside the fabric: only the others are jobs to cancel (and an
            // empty CANCEL_JOBS is malformed: it would only wait for an answer that never comes).
            let jobs = active.filter { $0.source != "ask" }.map(\.jobID)
            if !jobs.isEmpty { _ = try? client.cancel(jobs, reason: "the study ended: \(reason)") }
            for var trial in active {
                trial.state = .cancelled
                trial.error = "the study ended: \(reason)"
                trial.finishedAt = now
                _ = try? store.recordResult(trial: trial, attempt: nil)
                driver.update(trial)
            }
        }
        for trial in driver.abandonPaused(now: now, reason: reason) {
            _ = try? store.recordResult(trial: trial, attempt: nil)
        }
        study.state = state
        study.reason = reason
        study.finishedAt = now
        do {
            try store.updateStudy(study)
        } catch {
            logger.error("cannot store the study's end", metadata: ["study.name": "\(id)", "error": "\(error)"])
        }
        logger.info("study finished", metadata: ["study.name": "\(id)", "study.state": "\(state.rawValue)", "study.reason": "\(reason)"])
    }

    /// Submits trials as jobs: spec, resources, and the attempts left.
    func submit(_ trials: [TrialRecord], of study: StudyRecord, resync: Bool) {
        guard let spec = drivers[study.id]?.spec, !trials.isEmpty else { return }
        let jobs = trials.map { trial in
            job(for: trial, spec: spec, study: study, resync: resync)
        }
        post(.submit(jobs))
    }

    func job(for trial: TrialRecord, spec: StudySpec, study: StudyRecord, resync: Bool) -> JobSubmission {
        let cwd = spec.trial.cwd.map { URL(fileURLWithPath: $0, relativeTo: URL(fileURLWithPath: study.baseDirectory, isDirectory: true)).standardizedFileURL.path }
            ?? study.baseDirectory
        let payload = JobSpec(command: spec.trial.command, config: trial.config, env: spec.trial.env, cwd: cwd,
                              timeoutS: spec.trial.timeoutSeconds, stallTimeoutS: spec.trial.stallTimeoutSeconds,
                              gpu: spec.trial.gpu > 0 ? spec.trial.gpu : nil,
                              budget: trial.budget, restoreFrom: trial.restoreFrom.map { "\(study.id)/\($0)" },
                              workerLabels: spec.trial.workerLabels.isEmpty ? nil : spec.trial.workerLabels).payload
        let allowed = UInt32(1 + spec.trial.maxRetries)
        let first = UInt32(trial.attempts + 1)
        var requirements = Requirements(
            cpuMilli: UInt32((spec.trial.cpu * 1000).rounded()), gpuMilli: UInt32((spec.trial.gpu * 1000).rounded()),
            maxAttempts: allowed > UInt32(trial.attempts) ? allowed - UInt32(trial.attempts) : 1, firstAttempt: first,
            flags: resync ? Requirements.Flags.resync : 0)
        requirements.quarantineAfter = UInt32(spec.trial.quarantineAfter)
        return JobSubmission(id: trial.jobID, requirements: requirements, payload: payload)
    }

    static func parseJobID(_ job: String) -> (study: String, number: Int)? {
        guard let slash = job.lastIndex(of: "/"), let n = Int(job[job.index(after: slash)...]) else { return nil }
        return (String(job[..<slash]), n)
    }
}

/// A message to the broker that must not leave before what it announces is stored.
enum Outbound {
    case acknowledge(Update)
    case submit([JobSubmission])
    case respond(request: UInt64, to: String, body: Frame)

    var isAcknowledgement: Bool {
        if case .acknowledge = self { true } else { false }
    }

    var name: String {
        switch self {
        case .acknowledge: "ACK"
        case .submit: "SUBMIT"
        case .respond: "RESPOND"
        }
    }
}
