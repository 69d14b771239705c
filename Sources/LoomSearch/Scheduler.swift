import Foundation
import LoomModel
import LoomWire

/// What a scheduler tells the optimizer to do with a trial after one of its results.
public enum SchedulerDecision: Equatable, Sendable {
    /// Let the trial run on (after `onAttemptEnd`: the trial is complete).
    case `continue`
    /// Stop the trial for good (it becomes `pruned`); `reason` is shown to the user.
    case stop(reason: String)
    /// Stop the trial's attempt; it is `paused` and may be resumed by `onFreeSlot` later.
    case pause(reason: String)
    /// PBT: restart the trial from trial `donor`'s latest checkpoint with `config` (the donor's
    /// config, explored).
    case exploit(donor: Int, config: Config, reason: String)
}

/// What a scheduler does with a free slot (a worker slot the study may use).
public enum SlotChoice: Equatable, Sendable {
    /// Create a new trial from the searcher (its budget comes from `onTrialAdd`).
    case new
    /// Resume paused trial `trial`, from its checkpoint, to resource level `budget`.
    case resume(trial: Int, budget: Double, reason: String)
    /// Use no slot now (synchronous Hyperband waits for its rung to fill).
    case wait
}

/// Decides, from intermediate results, which trials continue, stop, pause, resume or exploit
/// another trial (Syne Tune's and Ray Tune's scheduler). A value type with no clocks and no I/O:
/// "time" is the resource the results carry (`resource`, e.g. `epoch`).
///
/// **Events.** The optimizer calls, per trial: `onTrialAdd` once; `onResult` for each result (in
/// arrival order; results of a resumed attempt continue at higher `time`); `onAttemptEnd` when an
/// attempt exits by itself; `onTrialRemove` when the trial finishes for good. Free slots are
/// offered through `onFreeSlot`, which may resume a paused trial instead of creating one.
/// **Values.** `value` is the study's metric as reported; the scheduler knows the mode.
/// **Restart.** Replaying the stored events in their original order rebuilds the same state
/// (every random choice is drawn from a stream of the seed named by the trial it concerns).
public protocol Scheduler: Sendable {
    /// Resource levels at which a result is a rung result, told to the searcher with
    /// `observe(config:budget:value:)`; empty for schedulers without rungs.
    var milestones: [Double] { get }

    /// Trial `trial` was created with `config`; returns the resource level its first attempt
    /// runs to (the job's `budget`), nil for "until it ends by itself".
    mutating func onTrialAdd(trial: Int, config: Config) -> Double?

    /// Trial `trial` reported `value` at resource level `time`.
    mutating func onResult(trial: Int, time: Double, value: Double) -> SchedulerDecision

    /// The same with every objective of a multi-objective study (`values`, in the spec's order;
    /// nil when the report lacks one). The default judges by `value` alone; MO-ASHA uses `values`.
    mutating func onResult(trial: Int, time: Double, value: Double, values: [Double]?) -> SchedulerDecision

    /// Trial `trial`'s attempt exited by itself; `time` and `value` are its final result when it
    /// has one. `.continue`: the trial is complete; `.pause`: it ran to a rung's budget.
    mutating func onAttemptEnd(trial: Int, time: Double?, value: Double?) -> SchedulerDecision

    /// Trial `trial` finished for good (complete, pruned, failed or cancelled).
    mutating func onTrialRemove(trial: Int)

    /// A slot is free; `mayCreate` says whether a new trial may still be created.
    mutating func onFreeSlot(mayCreate: Bool) -> SlotChoice

    /// The resource level paused trial `trial` would be resumed to; nil when it is not paused.
    func resumeBudget(trial: Int) -> Double?

    /// Trial `trial` was resumed to `budget` outside `onFreeSlot`: during a replay after a
    /// restart, when the store shows a later attempt of a trial the replay left paused.
    mutating func onResume(trial: Int, budget: Double)

    /// Paused trials the scheduler will never resume, with the reason; each is returned once.
    mutating func takeAbandoned() -> [(trial: Int, reason: String)]
}

extension Scheduler {
    public mutating func onResult(trial: Int, time: Double, value: Double, values: [Double]?) -> SchedulerDecision {
        onResult(trial: trial, time: time, value: value)
    }
    public var milestones: [Double] { [] }
    public mutating func onTrialAdd(trial: Int, config: Config) -> Double? { nil }
    public mutating func onAttemptEnd(trial: Int, time: Double?, value: Double?) -> SchedulerDecision { .continue }
    public mutating func onTrialRemove(trial: Int) {}
    public mutating func onFreeSlot(mayCreate: Bool) -> SlotChoice { mayCreate ? .new : .wait }
    public func resumeBudget(trial: Int) -> Double? { nil }
    public mutating func onResume(trial: Int, budget: Double) {}
    public mutating func takeAbandoned() -> [(trial: Int, reason: String)] { [] }
}

/// Runs every trial to completion: always `.continue`.
public struct FIFOScheduler: Scheduler {
    public init() {}

    public mutating func onResult(trial: Int, time: Double, value: Double) -> SchedulerDecision { .continue }
}

/// The scheduler a study spec asks for. `seed` seeds its random choices (ASHA's brackets, PBT's
/// donors and explore steps); `space` is what PBT explores.
///
/// `objectives`: the directions of a multi-objective study's objectives; ASHA in its stopping
/// variant without `spec.metric` then ranks rungs by all of them (MO-ASHA), every other scheduler
/// judges by `mode`'s objective alone.
public func makeScheduler(_ spec: SchedulerSpec, space: SearchSpace, mode: Mode, seed: UInt64, objectives: [Mode] = []) -> any Scheduler {
    switch spec.kind {
    case .fifo: FIFOScheduler()
    case .asha:
        ASHAScheduler(spec: spec, mode: mode, seed: seed,
                      objectives: objectives.count > 1 && spec.metric == nil && spec.type != .promotion ? objectives : [])
    case .hyperband: HyperbandScheduler(spec: spec, mode: mode)
    case .medianStopping: MedianStoppingScheduler(spec: spec, mode: mode)
    case .pbt: PBTScheduler(spec: spec, space: space, mode: mode, seed: seed)
    }
}

extension Mode {
    /// A value on the "higher is better" scale the schedulers compare on.
    func score(_ value: Double) -> Double { self == .max ? value : -value }
}

/// The rung levels of a bracket: `grace·η^(k+bracket)` for k = 0, 1, … below `maxT` (Ray Tune's
/// ASHA). A level within 10⁻⁹ (relative) of `maxT` counts as `maxT`, so 1·3² is not a rung
/// below 9.
func rungLevels(grace: Double, eta: Double, maxT: Double, bracket: Int) -> [Double] {
    var levels: [Double] = []
    var level = grace * pow(eta, Double(bracket))
    while level < maxT * (1 - 1e-9) {
        levels.append(level)
        level *= eta
    }
    return levels
}

/// A resource level as users read it: `9`, `2.5`.
func formatLevel(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
}
