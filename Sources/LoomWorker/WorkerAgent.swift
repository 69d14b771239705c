import CoreMetrics
import Foundation
import LoomRuntime
import LoomWire
import Logging
import ZeroMQ

/// Settings of a worker process.
public struct WorkerAgentConfig: Sendable {
    /// The broker's ROUTER endpoint.
    public var brokerEndpoint: String
    /// Where attempt logs and checkpoint directories live.
    public var workDir: String
    /// Time between SIGTERM and SIGKILL when a trial is stopped.
    public var killGrace: Duration
    /// The protocol settings (id, slots, heartbeat, backoff).
    public var worker: WorkerConfig
    /// Set only through `gpuDevices`; nil: derived from `worker.gpus`.
    private var explicitGPUDevices: [String]?
    /// The worker's CURVE keys and the broker's public key, when the broker authenticates.
    public var curve: CurveClientKeys?
    /// How checkpoints travel (shipped through the broker, or a shared directory).
    public var checkpoints = CheckpointSettings()
    /// Where the worker's metrics go (`LoomMetrics.PrometheusExport` behind `--metrics-port`).
    /// Nil: no metrics are kept.
    public var metrics: (any MetricsFactory)?

    /// The GPU device ids the worker hands to its trials through `CUDA_VISIBLE_DEVICES` (from
    /// `GPUDevices.resolve`). Setting it also sets `worker.gpus`, the count advertised in READY,
    /// to its count; never set, it is `"0"` … `"n-1"` for `worker.gpus` = n. The agent trusts
    /// this list: it advertises as many GPUs as it has ids, whatever `worker.gpus` says.
    public var gpuDevices: [String] {
        get { explicitGPUDevices ?? GPUDevices.ids(count: worker.gpus) }
        set {
            explicitGPUDevices = newValue
            worker.gpus = newValue.count
        }
    }

    /// `gpuDevices` nil keeps the devices derived from `worker.gpus`.
    public init(brokerEndpoint: String, workDir: String, killGrace: Duration = .seconds(5), worker: WorkerConfig,
                gpuDevices: [String]? = nil, curve: CurveClientKeys? = nil) {
        self.brokerEndpoint = brokerEndpoint
        self.curve = curve
        self.workDir = workDir
        self.killGrace = killGrace
        self.worker = worker
        if let gpuDevices { self.gpuDevices = gpuDevices }
    }
}

/// The worker process: one poll loop that owns the DEALER socket to the broker and the pipes of
/// every running trial, around `WorkerStateMachine` and `TrialRunner`.
///
/// **Threading.** `run(until:)` runs on one thread, which owns the socket, the runner and the
/// machine. The agent may be made on one thread and handed to another that runs it (`hyperloom run`'s
/// embedded workers): hence `@unchecked Sendable`; it is never used by two threads at once.
/// **Effects.** The machine's actions, the runner's events and the restore coordinator's outcomes
/// go through one work queue, `perform`: the one place the agent does anything.
/// **Liveness.** Trials run as child processes, so the loop keeps heartbeating while they run for
/// hours; the poll timeout is the earliest of the machine's and the runner's deadlines.
/// Checkpoint snapshots (hashing and copying a whole directory) and the rebuild of a restored
/// checkpoint (verifying the received blobs, writing the directory) run on a `BackgroundWork`
/// thread, so a directory of 50,000 files does not stop the heartbeat.
/// **Shutdown.** The goodbye (DISCONNECT) is the last message sent; the socket lingers briefly on
/// close so it reaches the broker, which then requeues at once what the worker held.
public final class WorkerAgent: @unchecked Sendable {
    public let config: WorkerAgentConfig
    private let context: ZMQContext
    private let ownsContext: Bool
    private var socket: ZMQSocket?
    private var machine: WorkerStateMachine
    private let runner: any TrialExecutor
    private let checkpoints: WorkerCheckpoints
    private let logger: Logger
    /// Snapshots and checkpoint rebuilds run here, off the loop thread.
    private let background = BackgroundWork<Finished>(name: "hyperloom.worker.checkpoints")
    /// The machine returned `.exit`: the loop ends after this turn.
    private var exiting = false
    /// Whether the machine was registered at the end of the last loop turn (for logging only).
    private var wasRegistered = false
    /// Broker ERRORs already logged.
    private var loggedBrokerErrors = 0
    /// The worker's metrics, when `config.metrics` is set.
    private let metrics: WorkerMetrics?
    /// How long the last socket may keep flushing the goodbye after the loop ends.
    static let goodbyeLinger: Duration = .milliseconds(500)

    /// An agent whose trials run as child processes, or through `executor` when one is given
    /// (e.g. an `InProcessExecutor` running Swift closures).
    public convenience init(config: WorkerAgentConfig, executor: (any TrialExecutor)? = nil, context: ZMQContext? = nil,
                            logger: Logger = Logger(label: "hyperloom.worker")) throws(ZMQError) {
        try self.init(config: config, executor: executor, context: context, logger: logger, snapshotter: nil)
    }

    /// An agent whose checkpoint snapshots are taken by `snapshotter` (tests: a slow one).
    init(config: WorkerAgentConfig, executor: (any TrialExecutor)? = nil, context: ZMQContext? = nil,
         logger: Logger = Logger(label: "hyperloom.worker"), snapshotter: WorkerCheckpoints.Snapshotter?) throws(ZMQError) {
        var config = config
        config.worker.gpus = config.gpuDevices.count
        (self.context, ownsContext) = try ZMQContext.borrowing(context)
        var logger = logger
        logger[metadataKey: "worker.id"] = "\(config.worker.workerID)"
        self.logger = logger
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path }
        let workDir = absolute(config.workDir)
        var checkpointSettings = config.checkpoints
        checkpointSettings.sharedDirectory = checkpointSettings.sharedDirectory.map(absolute)
        runner = executor ?? TrialRunner(workDir: workDir, workerID: config.worker.workerID, killGrace: config.killGrace,
                                         gpuDevices: config.gpuDevices, sharedCheckpoints: checkpointSettings.sharedDirectory,
                                         isolation: AttemptIsolation.detect(workerID: config.worker.workerID))
        config.worker.isolation = runner.isolationName
        self.config = config
        machine = WorkerStateMachine(config: config.worker, now: .now)
        checkpoints = snapshotter.map { WorkerCheckpoints(workDir: workDir, settings: checkpointSettings, logger: logger, snapshotter: $0) }
            ?? WorkerCheckpoints(workDir: workDir, settings: checkpointSettings, logger: logger)
        metrics = config.metrics.map { WorkerMetrics(factory: $0, slots: config.worker.slots) }
    }

    /// Runs until `stop` fires (or the broker says "shutdown"), then stops its trials, waits for
    /// the broker to acknowledge what is still unacknowledged (bounded), says DISCONNECT and returns.
    public func run(until stop: StopLatch) throws(ZMQError) {
        logger.info("worker starting", metadata: [
            "worker.broker": "\(config.brokerEndpoint)", "worker.slots": "\(config.worker.slots)",
            "worker.gpus": "\(config.gpuDevices.isEmpty ? "none" : config.gpuDevices.joined(separator: ","))",
            "worker.work_dir": "\(config.workDir)", "worker.isolation": "\(runner.isolationName)",
        ])
        try perform(actions: machine.start(now: .now))
        var stopping = false
        while !exiting {
            if stop.isStopRequested && !stopping {
                stopping = true
                logger.info("worker stopping", metadata: ["worker.running": "\(runner.runningCount)"])
                try perform(actions: machine.shutdown(now: .now))
                if exiting { break }
            }
            var poller = Poller()
            var socketIndex = -1
            if let socket { socketIndex = poller.add(socket) }
            let fds = runner.fileDescriptors
            var fdIndex: [Int: Int32] = [:]
            for fd in fds { fdIndex[poller.add(fd: fd)] = fd }
            let backgroundIndex = poller.add(fd: background.wake.fd)
            if !stopping { poller.add(fd: stop.fd) }
            let now = ContinuousClock.now
            var deadline = machine.nextDeadline
            if let runnerDeadline = runner.nextDeadline { deadline = min(deadline, runnerDeadline) }
            if let restoreDeadline = checkpoints.nextDeadline { deadline = min(deadline, restoreDeadline) }
            // Children are reaped when their pipes close; a child whose pipes stay open (a
            // daemonised grandchild holds them) is still reaped within this bound.
            if runner.reapsByPolling && runner.runningCount > 0 { deadline = min(deadline, now + .milliseconds(200)) }
            let ready = try poller.poll(timeout: deadline > now ? now.duration(to: deadline) : .zero)
            for index in ready {
                if index == socketIndex, let socket {
                    while let frames = try socket.receive(dontWait: true) {
                        try perform(actions: machine.received(frames, now: .now))
                    }
                } else if index == backgroundIndex {
                    try perform(background.collect().map(Work.finished))
                } else if let fd = fdIndex[index] {
                    try perform(runner.readable(fd: fd, now: .now).map(Work.trial))
                }
            }
            try perform(runner.reap(now: .now).map(Work.trial))
            try perform(runner.enforceDeadlines(now: .now).map(Work.trial))
            try perform(checkpoints.expire(now: .now).map(Work.checkpoint))
            checkpoints.collectGarbage(heldJobs: Set(machine.heldAttempts.map(\.job)),
                                       unacknowledged: machine.isUnacknowledged(lease:seq:))
            try perform(actions: machine.tick(now: .now))
            if machine.isRegistered && !wasRegistered {
                // What a restore had in flight went with the old link.
                try perform(checkpoints.retryAll(now: .now).map(Work.checkpoint))
            }
            logLinkChange()
            metrics?.setRunning(runner.runningCount)
        }
        runner.stopAll(now: .now)
        try? socket?.setLinger(Self.goodbyeLinger)
        close()
        if machine.revoked {
            logger.error("the broker revoked this worker's key: stopped; add its public key to the broker's workers/ directory and send the broker SIGHUP to let it back")
        }
        logger.info("worker stopped", metadata: [
            "worker.unacknowledged": "\(machine.unacknowledgedCount)",
            "worker.dropped_reports": "\(machine.droppedReports)",
            "worker.malformed": "\(machine.malformed)",
            "worker.broker_errors": "\(machine.brokerErrors)",
            "worker.malformed_metric_lines": "\(runner.malformedMetricLines)",
            "worker.unsent_log_lines": "\(machine.unsentLogLines)",
        ])
    }

    /// Logs registration and loss of the broker, once per change, and the broker's ERRORs.
    private func logLinkChange() {
        if machine.brokerErrors != loggedBrokerErrors {
            loggedBrokerErrors = machine.brokerErrors
            logger.info("broker reported an error", metadata: ["broker.error": "\(machine.lastBrokerError ?? "")"])
        }
        guard machine.isRegistered != wasRegistered else { return }
        wasRegistered = machine.isRegistered
        if wasRegistered {
            logger.info("registered with broker", metadata: [
                "broker.id": "\(machine.broker?.broker ?? "")",
                "worker.held": "\(machine.heldAttempts.count)",
            ])
        } else if !machine.hasExited {
            logger.info("registration with broker lost; registering again", metadata: ["worker.held": "\(machine.heldAttempts.count)"])
        }
    }

    /// Whether the broker revoked this worker's key (the run ended for that reason).
    public var wasRevoked: Bool { machine.revoked }

    /// Closes the socket (and the context when the agent made it). Idempotent.
    public func close() {
        background.close()
        socket?.close()
        socket = nil
        if ownsContext { context.terminate() }
    }

    /// One item of the agent's work queue: an effect the machine (or the restore coordinator)
    /// asked for, or an outcome to feed back to the machine.
    enum Work {
        /// An effect of the state machine.
        case action(WorkerAction)
        /// What a trial process did (from the runner).
        case trial(TrialEvent)
        /// An effect of a checkpoint restore (from `WorkerCheckpoints`).
        case checkpoint(WorkerCheckpoints.Outcome)
        /// A job of the background thread finished.
        case finished(Finished)
    }

    /// What the background thread hands back.
    enum Finished: Sendable {
        /// A checkpoint snapshot (`.snapshot`).
        case snapshot(WorkerCheckpoints.SnapshotResult)
        /// A restored checkpoint's directory rebuild (`WorkerCheckpoints.Outcome.rebuild`).
        case rebuild(WorkerCheckpoints.RebuildResult)
    }

    private func perform(actions: [WorkerAction]) throws(ZMQError) {
        try perform(actions.map(Work.action))
    }

    /// The one place the agent carries out effects: the machine's actions, and the events and
    /// outcomes it feeds back to the machine, whose actions join the queue in order. Sets
    /// `exiting` on `.exit`. I/O-heavy effects (`.snapshot`) are handed to `background`; their
    /// outcomes come back through this queue as `.snapshotted`.
    private func perform(_ work: [Work]) throws(ZMQError) {
        var queue = work[...]
        while let item = queue.popFirst() {
            switch item {
            case .action(let action):
                queue += try carryOut(action)
            case .trial(let event):
                queue += feed(event).map(Work.action)
            case .checkpoint(let outcome):
                switch outcome {
                case .send(let transfer):
                    queue += machine.sendTransfer(transfer, now: .now).map(Work.action)
                case .launch(let ref, let payload):
                    queue += runner.start(ref, payload: payload, now: .now).map(Work.trial)
                case .fail(let ref, let error):
                    logger.warning("attempt not started", metadata: ["trial.id": "\(ref.job)", "trial.attempt": "\(ref.attempt)", "error": "\(error)"])
                    queue.append(.trial(.exited(ref, kind: .failed, payload: TrialResult.notStarted(error, attemptDir: nil))))
                case .rebuild(let ref):
                    if let job = checkpoints.restoreJob(lease: ref.lease) { background.submit { .rebuild(job()) } }
                }
            case .finished(.snapshot(var result)):
                result.metrics = machine.snapshotLabel(lease: result.ref.lease) ?? result.metrics
                let payload = checkpoints.snapshotFinished(result, seq: machine.nextUpdateSeq(lease: result.ref.lease))
                queue += machine.snapshotTaken(result.ref, payload: payload, now: .now).map(Work.action)
            case .finished(.rebuild(let result)):
                queue += checkpoints.restoreFinished(result, now: .now).map(Work.checkpoint)
            }
        }
    }

    /// Feeds one trial event to the machine.
    private func feed(_ event: TrialEvent) -> [WorkerAction] {
        switch event {
        case .started(let ref, let pid):
            logger.info("trial started", metadata: ["trial.id": "\(ref.job)", "trial.attempt": "\(ref.attempt)", "trial.pid": "\(pid)"])
            return machine.trialStarted(ref, now: .now)
        case .metrics(let ref, let payload, let checkpoint):
            return machine.trialReported(ref, metrics: payload, checkpoint: checkpoint, now: .now)
        case .log(let batch):
            return machine.trialLogged(batch, now: .now)
        case .exited(let ref, let kind, let payload):
            logger.info("trial exited", metadata: ["trial.id": "\(ref.job)", "trial.attempt": "\(ref.attempt)", "trial.outcome": "\(kind)"])
            metrics?.trialExited(kind)
            return machine.trialExited(ref, kind: kind, payload: payload, now: .now)
        }
    }

    /// Carries out one action of the machine; returns the work it leads to.
    private func carryOut(_ action: WorkerAction) throws(ZMQError) -> [Work] {
        switch action {
        case .connect:
            socket?.close()
            let s = try context.socket(.dealer)
            try config.curve?.apply(to: s)
            try s.setLinger(.zero)
            try s.setSendHighWaterMark(100_000)
            try s.setReceiveHighWaterMark(100_000)
            try s.setMaxMessageSize(64 << 20)
            try s.connect(config.brokerEndpoint)
            socket = s
            logger.info("connecting to broker", metadata: ["worker.broker": "\(config.brokerEndpoint)"])
        case .send(let frames):
            // A full queue means the broker is gone; the machine resends what matters.
            _ = try socket?.send(frames, dontWait: true)
        case .startTrial(let ref, let payload):
            return checkpoints.prepare(ref, payload: payload, now: .now).map(Work.checkpoint)
        case .stopTrial(let lease, let reason):
            logger.info("stopping trial", metadata: ["trial.lease": "\(lease)", "trial.reason": "\(reason)"])
            if checkpoints.isRestoring(lease: lease), let ref = machine.heldAttempts.first(where: { $0.lease == lease }) {
                // It never started: it ends here, as a trial stopped before its first line would.
                checkpoints.abandon(lease: lease)
                return [.trial(.exited(ref, kind: .failed, payload: TrialResult.notStarted("cancelled: \(reason)", attemptDir: nil)))]
            }
            runner.stop(lease: lease, reason: reason, now: .now)
        case .transfer(let transfer):
            if transfer.kind == .fetch {
                return machine.sendTransfer(checkpoints.serve(transfer), now: .now).map(Work.action)
            }
            return checkpoints.received(transfer, now: .now).map(Work.checkpoint)
        case .snapshot(let ref, let metrics):
            guard let job = checkpoints.snapshotJob(ref, metrics: metrics) else {
                // Checkpoints do not travel: the CHECKPOINT carries the metrics alone.
                return machine.snapshotTaken(ref, payload: metrics, now: .now).map(Work.action)
            }
            background.submit { .snapshot(job()) }
        case .exit:
            exiting = true
        }
        return []
    }
}
