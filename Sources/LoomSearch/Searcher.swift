import LoomModel

/// What a searcher proposes next.
public enum Suggestion: Equatable, Sendable {
    /// Create a trial with this config.
    case config(Config)
    /// Nothing left to propose (a grid whose every point has been handed out).
    case exhausted
}

/// One trial as a searcher sees it: its config, its final metric (nil until there is one, or
/// when it failed), and its state.
public typealias TrialOutcome = (config: Config, value: Double?, state: TrialState)

/// Decides which config to try next (Syne Tune's and Optuna's searcher). A value type with no
/// clocks and no I/O: the optimizer owns it and feeds it events.
///
/// **Determinism.** For a seed, the same sequence of calls gives the same configs on every
/// platform (see `Xoshiro256StarStar` for the one caveat about `log`/`cos`).
///
/// **Ledger.** A searcher counts the configs it has proposed, in order; `restore(history:)`
/// sets that count and those configs. The random choices of its `n`-th suggestion (0-based)
/// are drawn from stream `SearchStream.suggestion(n)` of the seed, so they depend only on
/// `(seed, n)`, plus, for duplicate avoidance, on the configs already proposed and the pending
/// ones (the grid numbers its streams by grid slot instead, see `GridSearcher`). Hence restoring
/// the first `n` proposals makes the next suggestion equal the `(n+1)`-th of an uninterrupted run.
/// Model-based searchers (TPE, GP, BOHB) also draw from stream `SearchStream.model(n)` and depend
/// on the *set* of results observed, never on their arrival order (see `ResultBook`): restoring
/// the history, observing the warm starts' results and replaying the intermediate results gives
/// the same next suggestion as an uninterrupted run that has seen the same results.
///
/// **Pending.** `pending` lists the configs of trials created and not finished, whatever made
/// them (warm starts included). Searchers avoid proposing them again but do not count them:
/// only `suggest`'s own results and `restore`'s history move the counter.
public protocol Searcher: Sendable {
    /// The next config, or `.exhausted`. `pending` holds the configs of trials created but not
    /// finished (see **Pending**); a returned config counts as proposed.
    mutating func suggest(pending: [Config]) -> Suggestion

    /// A trial's result or state change. Random, quasi-random and grid search ignore results;
    /// model-based searchers learn from them. Creation is never inferred from this call.
    mutating func observe(config: Config, value: Double?, state: TrialState)

    /// An intermediate result: `config` reached `value` at resource level `budget` (an epoch, a
    /// rung of a multi-fidelity scheduler, the budget of a budget-style job). Schedulers call it
    /// for every result they rank; BOHB learns one model per budget from these. A later value for
    /// the same config and budget replaces the earlier one. The default implementation ignores it.
    ///
    /// **Restart.** These results are not in `restore(history:)`'s history: after `restore`, the
    /// optimizer replays the stored intermediate results through this method, in their original
    /// order, before the next `suggest`.
    mutating func observe(config: Config, budget: Double, value: Double)

    /// Replaces the searcher's state with the one its proposals imply, e.g. after the optimizer
    /// restarts: `history` lists, in creation order, every trial whose config came from this
    /// searcher's `suggest` (not warm starts). Trials listed that it did not propose are
    /// counted as if it had: no duplicates follow, but the continuation is no longer exact.
    mutating func restore(history: [TrialOutcome])

    /// A finished trial with every objective and its feasibility (multi-objective or constrained
    /// studies). The default passes the primary value to `observe(config:value:state:)`.
    mutating func observe(_ evaluation: Evaluation)

    /// `restore(history:)` with every objective and the feasibility of each finished trial. The
    /// default passes the primary values to `restore(history:)`.
    mutating func restore(evaluations: [Evaluation])
}

extension Searcher {
    /// Ignores intermediate results: searchers that learn only from final results need nothing more.
    public mutating func observe(config: Config, budget: Double, value: Double) {}

    public mutating func observe(_ evaluation: Evaluation) {
        observe(config: evaluation.config, value: evaluation.value, state: evaluation.state)
    }

    public mutating func restore(evaluations: [Evaluation]) {
        restore(history: evaluations.map { (config: $0.config, value: $0.value, state: $0.state) })
    }
}

/// A trial as a multi-objective searcher sees it: its config, state, primary value, and, once
/// complete, every objective's value and how far it is from feasible.
public struct Evaluation: Equatable, Sendable {
    public var config: Config
    public var state: TrialState
    /// The primary objective's value (what single-objective searchers observe).
    public var value: Double?
    /// Every objective, in the spec's order; nil unless complete with every value finite.
    public var values: [Double]?
    /// Whether the trial kept the constraints.
    public var feasible: Bool
    /// The sum of positive constraint values (0 when feasible; see `ObjectiveValues`).
    public var violation: Double
    /// Each constraint's value, ≤ 0 satisfied (`ObjectiveValues.constraints`); empty when the
    /// study has no constraints or the values are not known (a result told with `value` alone).
    public var constraints: [Double]

    public init(config: Config, state: TrialState, value: Double?, values: [Double]? = nil, feasible: Bool = true, violation: Double = 0,
                constraints: [Double] = []) {
        self.config = config
        self.state = state
        self.value = value
        self.values = values
        self.feasible = feasible
        self.violation = violation
        self.constraints = constraints
    }
}

/// Which low-discrepancy sequence a quasi-random searcher follows (`SearcherSpec.sequence`).
public enum QuasiRandomSequence: String, Sendable, CaseIterable {
    case sobol
    case halton
}

/// The searcher a study spec asks for.
///
/// - Parameters:
///   - mode: whether the study minimises or maximises; model-based searchers need it.
///   - repeats: how many times a grid searcher hands out each grid point (Ray Tune's
///     `num_samples`); ignored by the other searchers.
///
/// An unknown `spec.sequence` falls back to Sobol; the spec parser rejects it first
/// (`QuasiRandomSequence(rawValue:)` tells which names are valid).
///   - objectives: every objective of a multi-objective study (NSGA-II ranks by them); empty:
///     the single objective `mode` describes.
public func makeSearcher(_ spec: SearcherSpec, space: SearchSpace, mode: Mode, repeats: Int,
                         objectives: [Objective] = []) -> any Searcher {
    switch spec.kind {
    case .random:
        RandomSearcher(space: space, seed: spec.seed)
    case .grid:
        GridSearcher(space: space, seed: spec.seed, repeats: repeats)
    case .quasiRandom:
        QuasiRandomSearcher(space: space, seed: spec.seed,
                            sequence: QuasiRandomSequence(rawValue: spec.sequence) ?? .sobol)
    case .tpe:
        TPESearcher(space: space, mode: mode, seed: spec.seed, options: TPESearcher.Options(spec.options),
                    modes: objectives.count > 1 ? objectives.map(\.mode) : nil)
    case .gp:
        GPSearcher(space: space, mode: mode, seed: spec.seed, options: GPSearcher.Options(spec.options),
                   modes: objectives.count > 1 ? objectives.map(\.mode) : nil)
    case .bohb:
        BOHBSearcher(space: space, mode: mode, seed: spec.seed, options: BOHBSearcher.Options(spec.options))
    case .nsga2:
        NSGA2Searcher(space: space, modes: objectives.isEmpty ? [mode] : objectives.map(\.mode), seed: spec.seed,
                      options: NSGA2Searcher.Options(spec.options))
    }
}

/// The configs a searcher has proposed (with multiplicity) and how many.
struct TrialLedger: Sendable {
    private(set) var counts: [Config: Int] = [:]
    /// Proposals so far: the number of the next one.
    private(set) var total = 0

    init() {}

    init(history: [TrialOutcome]) {
        for trial in history { record(trial.config) }
    }

    func contains(_ config: Config) -> Bool { counts[config] != nil }

    mutating func record(_ config: Config) {
        counts[config, default: 0] += 1
        total += 1
    }
}
