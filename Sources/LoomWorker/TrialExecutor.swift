import LoomWire

/// What a worker agent needs from whatever runs its trials: child processes (`TrialRunner`) or
/// Swift closures in this process (`InProcessExecutor`).
///
/// **Threading.** Every requirement is called from the agent's loop thread only.
public protocol TrialExecutor: AnyObject {
    /// Descriptors the agent polls for input; `readable(fd:now:)` is called when one is ready.
    var fileDescriptors: [Int32] { get }
    /// Attempts running now.
    var runningCount: Int { get }
    /// The earliest instant `enforceDeadlines(now:)` has work to do.
    var nextDeadline: ContinuousClock.Instant? { get }
    /// Whether running attempts must be reaped by polling (child processes) rather than only when
    /// a descriptor becomes readable.
    var reapsByPolling: Bool { get }
    /// Malformed metric lines seen (for the agent's closing log line).
    var malformedMetricLines: Int { get }
    /// How attempts are contained (READY `isolation`): `process-group`, `cgroup2`,
    /// `cgroup1-freezer`, or `in-process` for closures.
    var isolationName: String { get }

    func start(_ ref: AttemptRef, payload: Frame, now: ContinuousClock.Instant) -> [TrialEvent]
    func readable(fd: Int32, now: ContinuousClock.Instant) -> [TrialEvent]
    func reap(now: ContinuousClock.Instant) -> [TrialEvent]
    func enforceDeadlines(now: ContinuousClock.Instant) -> [TrialEvent]
    func stop(lease: UInt64, reason: String, now: ContinuousClock.Instant)
    /// Stops everything that still runs, waiting a bounded time.
    func stopAll(now: ContinuousClock.Instant)
}

extension TrialRunner: TrialExecutor {
    public var reapsByPolling: Bool { true }
    public var isolationName: String { isolation.name }
}
