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
        /// Tree-structured Parzen estimator (Optuna's default sampler).
        case tpe
        /// Gaussian-process Bayesian optimisation (Matérn 5/2, expected improvement); alias `bayesopt`.
        case gp
        /// BOHB's model: a KDE per budget (Falkner et al. 2018), fed by a Hyperband scheduler.
        case bohb
        /// NSGA-II (Deb et al. 2002) with Optuna's defaults; several objectives, constraint-dominance.
        case nsga2

        /// Whether the searcher learns from results (and so takes the model options below).
        public var isModelBased: Bool { self == .tpe || self == .gp || self == .bohb }
    }

    public var kind: Kind
    /// Seed of every random choice; the same seed and event order give the same configs.
    public var seed: UInt64
    /// For quasi-random: `sobol` (default) or `halton`.
    public var sequence: String
    /// Model-based searchers: the options of `SearcherOptions`; nil fields take each searcher's default.
    public var options: SearcherOptions

    public init(kind: Kind = .random, seed: UInt64 = 0, sequence: String = "sobol", options: SearcherOptions = SearcherOptions()) {
        self.kind = kind
        self.seed = seed
        self.sequence = sequence
        self.options = options
    }
}

/// The options of the model-based searchers, in Optuna's and HpBandSter's words. Nil means the
/// searcher's default (Docs/study-spec.md lists them per searcher).
public struct SearcherOptions: Equatable, Sendable {
    /// Fraction of proposals drawn at random instead of from the model (all model-based searchers).
    public var randomFraction: Double?
    /// Results needed before the model is used; random proposals until then (TPE, GP).
    public var nStartupTrials: Int?
    /// Candidates drawn from the good-config density per proposal (TPE; BOHB's `num_samples`).
    public var nEICandidates: Int?
    /// TPE: one joint density per group of co-active parameters instead of one per parameter.
    public var multivariate: Bool?
    /// TPE: weight of the prior component of each density.
    public var priorWeight: Double?
    /// TPE: cap on the size of the good group (Optuna's gamma is `min(ceil(0.1·n), cap)`).
    public var gammaCap: Int?
    /// TPE: whether the first and last kernels look at the bounds when choosing their bandwidth
    /// (Optuna's `consider_endpoints`).
    public var considerEndpoints: Bool?
    /// BOHB: percentage of a budget's results that form the good group.
    public var topNPercent: Double?
    /// BOHB: results a budget needs per group before it has a model (default: dimensions + 1).
    public var minPointsInModel: Int?
    /// BOHB: factor by which the bandwidths are widened when sampling candidates.
    public var bandwidthFactor: Double?
    /// BOHB: smallest bandwidth of a kernel.
    public var minBandwidth: Double?
    /// NSGA-II: individuals per generation (Optuna's `population_size`, default 50).
    public var populationSize: Int?
    /// NSGA-II: probability that a child is a crossover of two parents (default 0.9).
    public var crossoverProb: Double?
    /// NSGA-II: probability that uniform crossover takes a parameter from the second parent (default 0.5).
    public var swappingProb: Double?
    /// NSGA-II: probability that a parameter of a child is resampled (default 1 / parameters).
    public var mutationProb: Double?

    public init(randomFraction: Double? = nil, nStartupTrials: Int? = nil, nEICandidates: Int? = nil, multivariate: Bool? = nil,
                priorWeight: Double? = nil, gammaCap: Int? = nil, considerEndpoints: Bool? = nil, topNPercent: Double? = nil,
                minPointsInModel: Int? = nil, bandwidthFactor: Double? = nil, minBandwidth: Double? = nil) {
        self.randomFraction = randomFraction
        self.nStartupTrials = nStartupTrials
        self.nEICandidates = nEICandidates
        self.multivariate = multivariate
        self.priorWeight = priorWeight
        self.gammaCap = gammaCap
        self.considerEndpoints = considerEndpoints
        self.topNPercent = topNPercent
        self.minPointsInModel = minPointsInModel
        self.bandwidthFactor = bandwidthFactor
        self.minBandwidth = minBandwidth
    }
}

/// Which scheduler decides continue / stop / pause / promote for running trials, with the
/// parameters users know from Ray Tune, Syne Tune and AutoGluon (Docs/study-spec.md).
///
/// **Defaults.** Optional fields are nil when the spec leaves them out; the `resolved…`
/// properties give the value the scheduler uses (Ray Tune's defaults where it has one).
public struct SchedulerSpec: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Every trial runs to completion.
        case fifo
        /// Asynchronous successive halving; several `brackets` make it asynchronous Hyperband.
        case asha
        /// Synchronous Hyperband; `brackets: 1` is synchronous successive halving.
        case hyperband
        /// Ray Tune's median stopping rule.
        case medianStopping = "median_stopping"
        /// Population Based Training.
        case pbt
    }

    /// ASHA's two variants (`type`).
    public enum ASHAType: String, Sendable, CaseIterable {
        /// A trial is stopped at a rung when it is not in the top 1/η (Ray Tune's ASHA).
        case stopping
        /// Trials pause at rungs and the best are resumed to the next one (the ASHA paper,
        /// AutoGluon's `type='promotion'`).
        case promotion
    }

    public var kind: Kind
    /// The time attribute in reports (e.g. `epoch`); nil: the number of reports so far.
    public var resource: String?
    public var maxT: Double?
    public var gracePeriod: Double?
    public var reductionFactor: Double?
    /// ASHA: how many brackets (asynchronous Hyperband when > 1); Hyperband: at most this many.
    public var brackets: Int?
    /// ASHA only: `stopping` (default) or `promotion`.
    public var type: ASHAType?
    /// ASHA promotion: promote from a rung only while it keeps at least η times as many
    /// results as it promoted (AutoGluon / Syne Tune `keep_size_ratios`).
    public var keepSizeRatios: Bool
    /// Median stopping: results of at least this many other trials before a trial is judged.
    public var minSamplesRequired: Int?
    /// PBT: resource between two exploit/explore steps of a trial.
    public var perturbationInterval: Double?
    /// PBT: the fraction of trials in the bottom (which exploit) and in the top (donors).
    public var quantileFraction: Double?
    /// PBT: the probability that explore resamples a parameter instead of perturbing it.
    public var resampleProbability: Double?
    /// PBT: the parameters explore may change; nil: every parameter of the space that is not a
    /// constant.
    public var hyperparamMutations: [String]?
    /// The objective the scheduler ranks trials by in a multi-objective study (`metric`); nil:
    /// the first objective, except for stopping ASHA, which then ranks by every objective (MO-ASHA).
    public var metric: String?

    public init(kind: Kind = .fifo, resource: String? = nil, maxT: Double? = nil, gracePeriod: Double? = nil,
                reductionFactor: Double? = nil, brackets: Int? = nil, type: ASHAType? = nil, keepSizeRatios: Bool = false,
                minSamplesRequired: Int? = nil, perturbationInterval: Double? = nil, quantileFraction: Double? = nil,
                resampleProbability: Double? = nil, hyperparamMutations: [String]? = nil) {
        self.kind = kind
        self.resource = resource
        self.maxT = maxT
        self.gracePeriod = gracePeriod
        self.reductionFactor = reductionFactor
        self.brackets = brackets
        self.type = type
        self.keepSizeRatios = keepSizeRatios
        self.minSamplesRequired = minSamplesRequired
        self.perturbationInterval = perturbationInterval
        self.quantileFraction = quantileFraction
        self.resampleProbability = resampleProbability
        self.hyperparamMutations = hyperparamMutations
    }

    /// `max_t`, default 100 (Ray Tune).
    public var resolvedMaxT: Double { maxT ?? 100 }
    /// `grace_period`, default 1 (Ray Tune's ASHA; the median rule counts it in `resource` too).
    public var resolvedGracePeriod: Double { gracePeriod ?? 1 }
    /// η: default 4 for ASHA (Ray Tune's `ASHAScheduler`), 3 for Hyperband (`HyperBandScheduler`).
    public var resolvedReductionFactor: Double { reductionFactor ?? (kind == .hyperband ? 3 : 4) }
    /// `min_samples_required`, default 3 (Ray Tune).
    public var resolvedMinSamplesRequired: Int { minSamplesRequired ?? 3 }
    /// `perturbation_interval`, default 1 resource unit (every report of an epoch-reporting trial).
    public var resolvedPerturbationInterval: Double { perturbationInterval ?? 1 }
    /// `quantile_fraction`, default 0.25 (Ray Tune).
    public var resolvedQuantileFraction: Double { quantileFraction ?? 0.25 }
    /// `resample_probability`, default 0.25 (Ray Tune).
    public var resolvedResampleProbability: Double { resampleProbability ?? 0.25 }
    /// Whether the scheduler's only decision besides "continue" is "stop" (fifo, median
    /// stopping, stopping ASHA): it can judge trials it does not run (asked trials).
    public var onlyStops: Bool {
        switch kind {
        case .fifo, .medianStopping: true
        case .asha: type != .promotion
        case .hyperband, .pbt: false
        }
    }
    /// Whether trials run in pieces, one budget at a time, pausing between (promotion ASHA,
    /// Hyperband): their jobs carry `budget`.
    public var pausesTrials: Bool { kind == .hyperband || (kind == .asha && type == .promotion) }
}

/// How each trial runs.
public struct TrialSpec: Equatable, Sendable {
    /// Program and arguments, with `{param}` placeholders (see Docs/trial-protocol.md); empty
    /// for an ask-only study (no `trial.command`), whose trials only ask/tell clients evaluate.
    public var command: [String]
    /// The study creates no trial of its own: only `ask` hands trials out.
    public var isAskOnly: Bool { command.isEmpty }
    public var env: [String: String]
    /// Working directory; relative paths are resolved against the spec file's directory.
    public var cwd: String?
    /// CPU and GPU shares; fractions allowed.
    public var cpu: Double
    public var gpu: Double
    /// Wall-clock limit of one attempt, in seconds.
    public var timeoutSeconds: Double?
    /// Silence (no metric line) after which an attempt counts as stalled and is retried; nil:
    /// derived by the broker from the attempt's own report interval (Docs/stragglers.md).
    public var stallTimeoutSeconds: Double?
    /// Attempts after the first when an attempt fails (non-zero exit, lost worker, timeout).
    public var maxRetries: Int
    /// Whether the trial writes checkpoints (announced with `"checkpoint": true`).
    public var checkpointing: Bool
    /// The trial is quarantined (failed, not retried) once this many different workers were lost
    /// while running its attempts; 0: never.
    public var quarantineAfter: Int = TrialSpec.defaultQuarantineAfter
    /// The pool labels a worker must carry to run this study's trials (`worker_labels`).
    public var workerLabels: [String] = []
    /// Three lost workers: one lost worker is bad luck, two may be, three running the same trial
    /// is a trial that takes machines down.
    public static let defaultQuarantineAfter = 3

    public init(command: [String], env: [String: String] = [:], cwd: String? = nil, cpu: Double = 1, gpu: Double = 0,
                timeoutSeconds: Double? = nil, stallTimeoutSeconds: Double? = nil, maxRetries: Int = 0,
                checkpointing: Bool = false) {
        self.command = command
        self.env = env
        self.cwd = cwd
        self.cpu = cpu
        self.gpu = gpu
        self.timeoutSeconds = timeoutSeconds
        self.stallTimeoutSeconds = stallTimeoutSeconds
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
    /// The metric key in the trial's reports that the study optimises; in a multi-objective
    /// study, the primary objective (`scheduler.metric`, else the first of `metrics`): the one
    /// single-objective schedulers, `stop_at` and `TrialRecord.value` use.
    public var metric: String
    public var mode: Mode
    /// Every objective, in the spec's order (one, `metric`/`mode`, for a single-objective study).
    public var objectives: [Objective]
    /// Bounds on reported values; a trial that breaks one is infeasible.
    public var constraints: [MetricConstraint]
    public var space: SearchSpace
    public var searcher: SearcherSpec
    public var scheduler: SchedulerSpec
    public var trial: TrialSpec
    public var budget: Budget
    /// Configs evaluated first, in order (warm start); each is valid in `space`.
    public var pointsToEvaluate: [Config]

    public init(name: String, metric: String, mode: Mode, space: SearchSpace, searcher: SearcherSpec = SearcherSpec(),
                scheduler: SchedulerSpec = SchedulerSpec(), trial: TrialSpec, budget: Budget = Budget(),
                pointsToEvaluate: [Config] = [], objectives: [Objective]? = nil, constraints: [MetricConstraint] = []) {
        self.name = name
        self.metric = metric
        self.mode = mode
        self.objectives = objectives ?? [Objective(name: metric, mode: mode)]
        self.constraints = constraints
        self.space = space
        self.searcher = searcher
        self.scheduler = scheduler
        self.trial = trial
        self.budget = budget
        self.pointsToEvaluate = pointsToEvaluate
    }

    /// What is valid but probably not meant, for `submit`, `run` and `status` to show.
    public var warnings: [String] {
        var warnings: [String] = []
        if scheduler.pausesTrials, !trial.isAskOnly, !trial.checkpointing {
            let kind = scheduler.kind == .hyperband ? "hyperband" : "asha with type: promotion"
            warnings.append("\(kind) pauses trials and resumes the best with a larger budget, but trial.checkpointing is "
                + "not true: a resumed trial retrains from its first epoch. Write a checkpoint to $HYPERLOOM_CHECKPOINT_DIR, "
                + "resume from it when HYPERLOOM_RESUME=1, and set trial.checkpointing: true (Docs/trial-protocol.md)")
        }
        return warnings
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
