import LoomWire

/// Whether the metric is minimised or maximised.
public enum Mode: String, Codable, Sendable, CaseIterable {
    case min, max

    /// Whether `a` is better than `b` in this mode.
    public func isBetter(_ a: Double, than b: Double) -> Bool { self == .min ? a < b : a > b }
}

/// Which searcher proposes configs.
public struct SearcherSpec: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case random
        case grid
        /// Scrambled Sobol points (`sequence: halton` for scrambled Halton).
        case quasiRandom = "quasi_random"
    }

    public var kind: Kind
    /// Seed of every random choice; the same seed and event order give the same configs.
    public var seed: UInt64
    /// For quasi-random: `sobol` (default) or `halton`.
    public var sequence: String

    public init(kind: Kind = .random, seed: UInt64 = 0, sequence: String = "sobol") {
        self.kind = kind
        self.seed = seed
        self.sequence = sequence
    }
}

/// Which scheduler decides continue / stop for running trials. Only FIFO (run every trial to
/// completion) in this version; the multi-fidelity fields are parsed so specs can carry them.
public struct SchedulerSpec: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case fifo
    }

    public var kind: Kind
    /// The time attribute in reports (e.g. `epoch`).
    public var resource: String?
    public var maxT: Double?
    public var gracePeriod: Double?
    public var reductionFactor: Double?

    public init(kind: Kind = .fifo, resource: String? = nil, maxT: Double? = nil, gracePeriod: Double? = nil,
                reductionFactor: Double? = nil) {
        self.kind = kind
        self.resource = resource
        self.maxT = maxT
        self.gracePeriod = gracePeriod
        self.reductionFactor = reductionFactor
    }
}

/// How each trial runs.
public struct TrialSpec: Equatable, Sendable {
    /// Program and arguments, with `{param}` placeholders (see Docs/trial-protocol.md).
    public var command: [String]
    public var env: [String: String]
    /// Working directory; relative paths are resolved against the spec file's directory.
    public var cwd: String?
    /// CPU and GPU shares; fractions allowed.
    public var cpu: Double
    public var gpu: Double
    /// Wall-clock limit of one attempt, in seconds.
    public var timeoutSeconds: Double?
    /// Attempts after the first when an attempt fails (non-zero exit, lost worker, timeout).
    public var maxRetries: Int
    /// Whether the trial writes checkpoints (announced with `"checkpoint": true`).
    public var checkpointing: Bool
    /// The trial is quarantined (failed, not retried) once this many different workers were lost
    /// while running its attempts; 0: never.
    public var quarantineAfter: Int = TrialSpec.defaultQuarantineAfter
    /// Three lost workers: one lost worker is bad luck, two may be, three running the same trial
    /// is a trial that takes machines down.
    public static let defaultQuarantineAfter = 3

    public init(command: [String], env: [String: String] = [:], cwd: String? = nil, cpu: Double = 1, gpu: Double = 0,
                timeoutSeconds: Double? = nil, maxRetries: Int = 0, checkpointing: Bool = false) {
        self.command = command
        self.env = env
        self.cwd = cwd
        self.cpu = cpu
        self.gpu = gpu
        self.timeoutSeconds = timeoutSeconds
        self.maxRetries = maxRetries
        self.checkpointing = checkpointing
    }
}

/// When a study stops.
public struct Budget: Equatable, Sendable {
    /// Trials to create, points to evaluate included (random and quasi-random searchers; the
    /// spec requires it). For the grid searcher: how many times the whole grid runs, each pass
    /// sampling the numeric parameters afresh (Ray Tune's `num_samples`); nil: once.
    public var maxTrials: Int?
    /// Trials running at once.
    public var maxConcurrent: Int
    /// Wall-clock limit of the whole study, in seconds.
    public var maxWallclockSeconds: Double?
    /// Stop as soon as a trial's final metric reaches this value (≤ for min, ≥ for max).
    public var stopAt: Double?
    /// Stop the study at the first failed trial.
    public var failFast: Bool

    public init(maxTrials: Int? = nil, maxConcurrent: Int = 4, maxWallclockSeconds: Double? = nil, stopAt: Double? = nil,
                failFast: Bool = false) {
        self.maxTrials = maxTrials
        self.maxConcurrent = maxConcurrent
        self.maxWallclockSeconds = maxWallclockSeconds
        self.stopAt = stopAt
        self.failFast = failFast
    }
}

/// A study as its YAML spec describes it (see Docs/study-spec.md).
public struct StudySpec: Equatable, Sendable {
    public var name: String
    /// The metric key in the trial's reports that the study optimises.
    public var metric: String
    public var mode: Mode
    public var space: SearchSpace
    public var searcher: SearcherSpec
    public var scheduler: SchedulerSpec
    public var trial: TrialSpec
    public var budget: Budget
    /// Configs evaluated first, in order (warm start); each is valid in `space`.
    public var pointsToEvaluate: [Config]

    public init(name: String, metric: String, mode: Mode, space: SearchSpace, searcher: SearcherSpec = SearcherSpec(),
                scheduler: SchedulerSpec = SchedulerSpec(), trial: TrialSpec, budget: Budget = Budget(),
                pointsToEvaluate: [Config] = []) {
        self.name = name
        self.metric = metric
        self.mode = mode
        self.space = space
        self.searcher = searcher
        self.scheduler = scheduler
        self.trial = trial
        self.budget = budget
        self.pointsToEvaluate = pointsToEvaluate
    }
}

/// Trial states, as Optuna and Syne Tune name them.
public enum TrialState: String, Codable, Sendable, CaseIterable {
    /// Created, not yet running (queued at the broker).
    case waiting
    case running
    /// Stopped at a rung, may be resumed (promotion schedulers).
    case paused
    /// Finished with a final metric.
    case complete
    /// Stopped early by the scheduler.
    case pruned
    /// Every attempt failed.
    case failed
    /// Cancelled by a user.
    case cancelled

    /// Whether the trial has finished for good.
    public var isFinished: Bool { self == .complete || self == .pruned || self == .failed || self == .cancelled }
}

/// Study states.
public enum StudyState: String, Codable, Sendable, CaseIterable {
    case running
    /// Its stopping criteria were met.
    case complete
    case cancelled
    /// Stopped by `fail_fast` or an unrecoverable error.
    case failed
}
