import LoomModel
import LoomWire

/// What a scheduler tells the optimizer to do with a running trial.
public enum SchedulerDecision: Equatable, Sendable {
    /// Let the trial run on.
    case `continue`
    /// Stop the trial now (it becomes `pruned`); `reason` is shown to the user.
    case stop(reason: String)
    /// Stop the trial so it may be resumed later (`paused`); for promotion schedulers to come.
    case pause
}

/// Decides, from intermediate reports, whether running trials continue (Syne Tune's and
/// Optuna's scheduler / pruner). A value type with no clocks and no I/O; time is whatever
/// resource the reports carry (e.g. `epoch`).
public protocol Scheduler: Sendable {
    /// Trial `trial` reported `metrics` (one line of its report stream).
    mutating func onReport(trial: Int, metrics: [String: JSONValue]) -> SchedulerDecision

    /// Trial `trial` finished with final metric `value` (nil when it has none).
    mutating func onComplete(trial: Int, value: Double?)
}

/// Runs every trial to completion: always `.continue`.
public struct FIFOScheduler: Scheduler {
    public init() {}

    public mutating func onReport(trial: Int, metrics: [String: JSONValue]) -> SchedulerDecision { .continue }

    public mutating func onComplete(trial: Int, value: Double?) {}
}

/// The scheduler a study spec asks for.
public func makeScheduler(_ spec: SchedulerSpec) -> any Scheduler {
    switch spec.kind {
    case .fifo: FIFOScheduler()
    }
}
