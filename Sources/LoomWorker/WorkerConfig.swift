import LoomWire

/// Settings of a worker's link to the broker: who it is, what it offers, and its timers.
public struct WorkerConfig: Sendable {
    /// Stable id of the worker, kept across reconnects (the broker matches held attempts by it).
    public var workerID: String
    /// Job slots (CPU units) offered.
    public var slots: Int
    /// Whole GPUs offered: the `gpus` of READY. A worker process keeps it equal to the number of
    /// its device ids (`WorkerAgentConfig.gpuDevices`).
    public var gpus: Int
    /// Heartbeat interval proposed in READY; the broker's WELCOME decides the one used.
    public var heartbeat: Duration
    /// Heartbeat intervals of silence after which the broker is considered dead (proposed in
    /// READY; the broker's WELCOME decides).
    public var liveness: Int
    /// Host name, for the broker's status and logs.
    public var host: String
    /// Process id, for the broker's status and logs.
    public var pid: Int32
    /// Version of the worker software (informational).
    public var version: String
    /// First reconnect delay after the broker is found dead; doubles per consecutive failure.
    public var backoffInitial: Duration
    /// Longest reconnect delay.
    public var backoffMax: Duration
    /// How long a stopping worker waits for its trials to exit and its updates to be
    /// acknowledged before it says DISCONNECT anyway.
    public var drainTimeout: Duration
    /// How long an update waits for its ACK before it is sent again.
    public var resendInterval: Duration
    /// Most unacknowledged REPORT updates kept; beyond it the oldest reports are dropped.
    /// CHECKPOINT, FINAL and FAILED updates are never dropped, so a long broker outage costs
    /// intermediate metrics at worst, never a result.
    public var maxUnacknowledged: Int
    /// Pool labels offered in READY: jobs whose spec requires `worker_labels` run only on workers
    /// carrying all of them (`--labels`).
    public var labels: [String] = []
    /// How attempts are isolated (`AttemptIsolation.name`), said in READY; nil: not said.
    public var isolation: String?

    public init(workerID: String, slots: Int, gpus: Int, heartbeat: Duration, liveness: Int,
                host: String, pid: Int32, version: String,
                backoffInitial: Duration = .seconds(1), backoffMax: Duration = .seconds(32),
                drainTimeout: Duration = .seconds(10), resendInterval: Duration = .seconds(5),
                maxUnacknowledged: Int = 10_000) {
        self.workerID = workerID
        self.slots = slots
        self.gpus = gpus
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.host = host
        self.pid = pid
        self.version = version
        self.backoffInitial = backoffInitial
        self.backoffMax = backoffMax
        self.drainTimeout = drainTimeout
        self.resendInterval = resendInterval
        self.maxUnacknowledged = maxUnacknowledged
    }
}

/// What the I/O layer does for the worker state machine.
public enum WorkerAction: Equatable, Sendable {
    /// Close any socket, open a new DEALER and connect it to the broker.
    case connect
    /// Send a message to the broker on the current socket.
    case send([Frame])
    /// Start the trial process of an attempt; the runner's events come back as `trialStarted`,
    /// `trialReported` and `trialExited`.
    case startTrial(AttemptRef, payload: Frame)
    /// Stop the trial process of the attempt with this lease (SIGTERM, SIGKILL after the grace).
    case stopTrial(lease: UInt64, reason: String)
    /// A FETCH or CHUNK from the optimizer about a checkpoint: answer it or feed a restore.
    case transfer(Transfer)
    /// Snapshot the attempt's checkpoint directory (the trial announced a checkpoint with the
    /// metric line `metrics`). Done off the loop thread; the outcome comes back as
    /// `snapshotTaken(_:payload:now:)` with the CHECKPOINT payload (metrics and manifest, or
    /// `checkpoint_error`). At most one per attempt is outstanding.
    case snapshot(AttemptRef, metrics: Frame)
    /// The worker is done: stop any process left and leave the loop.
    case exit
}

/// Reasons the worker gives when it stops a trial of its own accord.
public enum StopReason {
    /// The worker is shutting down; the broker requeues the attempt when the worker says
    /// DISCONNECT, so the exit is not reported as a failure.
    public static let shutdown = "shutdown"
}
