/// What the plots are drawn from: a study as plain values, read from a store or a feed log by
/// the caller. Times are seconds since the Unix epoch.
///
/// **Invariants.** `trials` are ordered by `number`; each trial's `curve` is ordered by
/// `resource` with at most one point per resource level (the latest report at that level wins,
/// so a resumed attempt that reports a level again replaces the earlier value).
public struct StudyData: Equatable, Sendable {
    /// The study id, shown in titles.
    public var id: String
    /// The metric the study optimises (the key in the trials' metric lines).
    public var metric: String
    public var goal: Goal
    /// The metric-line key that measures progress (`epoch`, …); `nil` when reports are numbered.
    public var resource: String?
    /// The parameters and how to draw their axes, in the spec's order.
    public var parameters: [ParameterInfo]
    public var trials: [TrialData]
    /// When the study started: the origin of every time axis.
    public var startedAt: Double
    /// A multi-objective study's objectives, in the spec's order (empty for one objective):
    /// with two or more, the Pareto-front and hypervolume charts are drawn too.
    public var objectives: [ObjectiveInfo] = []

    public init(id: String, metric: String, goal: Goal, resource: String?, parameters: [ParameterInfo],
                trials: [TrialData], startedAt: Double) {
        self.id = id
        self.metric = metric
        self.goal = goal
        self.resource = resource
        self.parameters = parameters
        self.trials = trials.sorted { $0.number < $1.number }
        self.startedAt = startedAt
    }

    /// The resource axis label: the resource key, or `report` when reports are only numbered.
    public var resourceLabel: String { resource ?? "report" }

    /// The last moment anything happened: the end of every time axis.
    public var endedAt: Double {
        let times = trials.flatMap { trial in
            trial.runs.flatMap { [$0.start, $0.end].compactMap { $0 } } + trial.curve.map(\.time) + [trial.finishedAt].compactMap { $0 }
        }
        return times.max() ?? startedAt
    }

    /// The number of attempts running at each moment: +1 at every start, −1 at every end (an
    /// attempt still running ends at the study's last event).
    public func runningAttempts() -> [(time: Double, running: Int)] {
        let end = endedAt
        var changes: [(Double, Int)] = []
        for trial in trials {
            for run in trial.runs {
                changes.append((run.start, 1))
                changes.append((Swift.max(run.end ?? end, run.start), -1))
            }
        }
        // At equal times ends come first, so back-to-back attempts on one slot do not count twice.
        changes.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var running = 0
        var out: [(Double, Int)] = []
        for (time, delta) in changes {
            running += delta
            if let last = out.last, last.0 == time { out[out.count - 1].1 = running } else { out.append((time, running)) }
        }
        return out
    }
}

/// One objective of a multi-objective study.
public struct ObjectiveInfo: Equatable, Sendable {
    public var name: String
    public var goal: Goal

    public init(name: String, goal: Goal) {
        self.name = name
        self.goal = goal
    }
}

/// Whether smaller or larger metric values are better.
public enum Goal: String, Equatable, Sendable {
    case min, max

    /// Whether `a` is better than `b`.
    public func isBetter(_ a: Double, than b: Double) -> Bool { self == .min ? a < b : a > b }
}

/// A hyperparameter value as plotted: a number, or a category shown by its text.
public enum ParameterValue: Hashable, Sendable {
    case number(Double)
    case category(String)
}

/// One hyperparameter and how its axis is drawn.
public struct ParameterInfo: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// Numbers on a linear axis.
        case linear
        /// Positive numbers on a logarithmic axis (`loguniform`, `lograndint`).
        case log
        /// Categories in this order.
        case categorical([String])
    }

    public var name: String
    public var kind: Kind

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

/// A trial's outcome as the plots distinguish it.
public enum TrialOutcome: String, Equatable, Sendable, CaseIterable {
    case complete, failed, pruned, cancelled, running, paused, waiting

    /// Whether the trial has ended.
    public var isFinished: Bool { self != .running && self != .paused && self != .waiting }
}

/// One point of a learning curve: the metric at a resource level, reported at `time`.
public struct CurvePoint: Equatable, Sendable {
    public var resource: Double
    public var value: Double
    public var time: Double

    public init(resource: Double, value: Double, time: Double) {
        self.resource = resource
        self.value = value
        self.time = time
    }
}

/// One attempt's time on a worker; `end` is nil while it runs.
public struct RunInterval: Equatable, Sendable {
    public var start: Double
    public var end: Double?

    public init(start: Double, end: Double?) {
        self.start = start
        self.end = end
    }
}

/// One trial.
public struct TrialData: Equatable, Sendable {
    /// 1, 2, … in creation order.
    public var number: Int
    public var config: [String: ParameterValue]
    public var outcome: TrialOutcome
    /// The study's metric at the end of a complete trial.
    public var value: Double?
    public var finishedAt: Double?
    /// Its attempts' intervals on workers.
    public var runs: [RunInterval]
    /// A complete trial of a multi-objective study: every objective, in `StudyData.objectives` order.
    public var values: [Double]? = nil
    /// Whether it kept the study's constraints.
    public var feasible = true
    /// Its learning curve, kept sorted by resource with one point per level (see `StudyData`).
    public var curve: [CurvePoint] {
        didSet { curve = Self.normalized(curve) }
    }

    public init(number: Int, config: [String: ParameterValue], outcome: TrialOutcome, value: Double?,
                finishedAt: Double?, runs: [RunInterval], curve: [CurvePoint]) {
        self.number = number
        self.config = config
        self.outcome = outcome
        self.value = value
        self.finishedAt = finishedAt
        self.runs = runs
        self.curve = Self.normalized(curve)
    }

    /// Sorted by resource, one point per level (the latest report wins).
    static func normalized(_ curve: [CurvePoint]) -> [CurvePoint] {
        var latest: [Double: CurvePoint] = [:]
        for point in curve where point.value.isFinite && point.resource.isFinite {
            if let seen = latest[point.resource], seen.time > point.time { continue }
            latest[point.resource] = point
        }
        return latest.values.sorted { $0.resource < $1.resource }
    }

    /// The metric this trial reported at `resource`, if it did.
    public func value(at resource: Double) -> Double? {
        curve.first { $0.resource == resource }?.value
    }
}
