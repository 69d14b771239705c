import LoomModel

/// What a model-based searcher knows: the configs it proposed, in order, and the results
/// observed, kept so that the model depends on the *set* of results and the proposal order, never
/// on the order in which results arrived. That is what makes `restore(history:)` exact: the
/// store gives results in creation order, a live run in completion order.
///
/// **Order of results.** `ordered` lists results by origin: first those of configs the searcher
/// did not propose (warm starts), by their coordinates, then the searcher's own by proposal
/// number; equal keys by value. TPE's weights use this order (older results weigh less).
///
/// **Values** are oriented so that lower is better (`mode` max negates them).
struct ResultBook: Sendable {
    /// One finished trial as the models see it.
    struct Result: Sendable {
        var config: Config
        var coordinates: [Double?]
        /// Lower is better; nil for a trial without a finite value.
        var loss: Double?
        var state: TrialState
        /// Proposal number of the config, or −1 for a config the searcher did not propose.
        var origin: Int
        /// Distinguishes results in one book (record order); never used for ordering.
        var serial: Int = -1
        /// Every objective (as losses) and the feasibility of a complete result of a
        /// multi-objective or constrained study; nil otherwise.
        var point: Pareto.Point? = nil
        /// Each constraint's value of a complete result (`Evaluation.constraints`); empty when unknown.
        var constraints: [Double] = []
    }

    let mode: Mode
    let space: ModelSpace
    private(set) var ledger = TrialLedger()
    /// The first proposal number of each proposed config.
    private var firstProposal: [Config: Int] = [:]
    /// Every result in the canonical order (see **Order of results**), kept sorted on insertion.
    private(set) var ordered: [Result] = []
    /// Complete results with a finite loss, best first, ties in `ordered` order; kept sorted.
    private(set) var ranked: [Result] = []
    /// Results at intermediate budgets (`observe(config:budget:value:)`), the latest per config.
    private(set) var budgeted: [Double: [Config: Double]] = [:]

    init(space: SearchSpace, mode: Mode) {
        self.mode = mode
        self.space = ModelSpace(space)
    }

    /// The number of the next proposal.
    var proposalCount: Int { ledger.total }

    mutating func recordProposal(_ config: Config) {
        if firstProposal[config] == nil { firstProposal[config] = ledger.total }
        ledger.record(config)
    }

    /// Records a finished trial; unfinished states are ignored (they arrive as `pending`).
    mutating func recordResult(config: Config, value: Double?, state: TrialState, point: Pareto.Point? = nil, constraints: [Double] = []) {
        guard state.isFinished else { return }
        let loss = value.flatMap { $0.isFinite ? (mode == .min ? $0 : -$0) : nil }
        let complete = state == .complete
        let result = Result(config: config, coordinates: space.encode(config), loss: loss, state: state,
                            origin: firstProposal[config] ?? -1, serial: ordered.count, point: complete ? point : nil,
                            constraints: complete ? constraints : [])
        ordered.insert(result, at: Self.insertionIndex(of: result, in: ordered, by: Self.precedes))
        if state == .complete && loss != nil {
            ranked.insert(result, at: Self.insertionIndex(of: result, in: ranked, by: Self.precedesByLoss))
        }
    }

    /// Records a result at an intermediate budget; a later one for the same config and budget replaces it.
    mutating func recordBudgeted(config: Config, budget: Double, value: Double) {
        guard value.isFinite, budget.isFinite || budget == .infinity else { return }
        budgeted[budget, default: [:]][config] = mode == .min ? value : -value
    }

    /// Rebuilds proposals and results from a history in creation order (see `Searcher.restore`).
    mutating func restore(history: [TrialOutcome]) {
        ledger = TrialLedger()
        firstProposal = [:]
        ordered = []
        ranked = []
        for trial in history { recordProposal(trial.config) }
        for trial in history { recordResult(config: trial.config, value: trial.value, state: trial.state) }
    }

    /// `restore(history:)` from evaluations: each result with its objectives (`point`, nil for
    /// a single-objective result) and its constraint values.
    mutating func restore(evaluations: [Evaluation], point: (Evaluation) -> Pareto.Point?) {
        ledger = TrialLedger()
        firstProposal = [:]
        ordered = []
        ranked = []
        for evaluation in evaluations { recordProposal(evaluation.config) }
        for evaluation in evaluations { record(evaluation, point: point(evaluation)) }
    }

    /// Records a finished evaluation with its objectives and constraint values.
    mutating func record(_ evaluation: Evaluation, point: Pareto.Point?) {
        recordResult(config: evaluation.config, value: evaluation.value, state: evaluation.state, point: point,
                     constraints: evaluation.constraints)
    }

    /// The origin of a pending config (its proposal number, or −1).
    func origin(of config: Config) -> Int { firstProposal[config] ?? -1 }

    /// Pruned trials (stopped early for looking bad), in `ordered` order.
    var pruned: [Result] { ordered.filter { $0.state == .pruned } }

    /// The first index of `sorted` whose element does not precede `element`: inserting there
    /// keeps the order (after any equal elements).
    static func insertionIndex(of element: Result, in sorted: [Result], by precedes: (Result, Result) -> Bool) -> Int {
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if precedes(element, sorted[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }

    /// Two lists sorted by `precedes` merged into one.
    static func merged(_ a: [Result], _ b: [Result]) -> [Result] {
        guard !b.isEmpty else { return a }
        var result: [Result] = []
        result.reserveCapacity(a.count + b.count)
        var j = 0
        for element in a {
            while j < b.count && precedes(b[j], element) { result.append(b[j]); j += 1 }
            result.append(element)
        }
        result.append(contentsOf: b[j...])
        return result
    }

    static func precedes(_ a: Result, _ b: Result) -> Bool {
        if a.origin != b.origin { return a.origin < b.origin }
        if a.origin < 0, let order = lexicographicOrder(a.coordinates, b.coordinates) { return order }
        switch (a.loss, b.loss) {
        case let (x?, y?) where x != y: return x < y
        case (_?, nil): return true
        case (nil, _?): return false
        default: return a.state.rawValue < b.state.rawValue
        }
    }

    /// Whether `a` is better than `b`, ties broken by `precedes`.
    static func precedesByLoss(_ a: Result, _ b: Result) -> Bool {
        switch (a.loss, b.loss) {
        case let (x?, y?) where x != y: return x < y
        case (_?, nil): return true
        case (nil, _?): return false
        default: return precedes(a, b)
        }
    }

    /// Whether `a` sorts before `b` (nil coordinates first); nil when they are equal.
    static func lexicographicOrder(_ a: [Double?], _ b: [Double?]) -> Bool? {
        for (x, y) in zip(a, b) where x != y {
            switch (x, y) {
            case let (x?, y?): return x < y
            case (nil, _): return true
            default: return false
            }
        }
        return nil
    }
}

extension ResultBook {
    /// A random config, as `RandomSearcher` would propose it as proposal number `proposalCount`
    /// (stream `suggestion(n)`, distinct from proposed and pending configs when possible); recorded.
    mutating func proposeRandom(seed: UInt64, pending: [Config]) -> Config {
        var scratch = ledger
        let dimensions = space.count
        let config = drawDistinct(space: space.space, seed: seed, ledger: &scratch, pending: pending) { _, random in
            randomPoint(dimensions, &random)
        }
        recordProposal(config)
        return config
    }

    /// The startup design of the model-based searchers: point `proposalCount` of a Sobol sequence
    /// scrambled with `seed` (as `QuasiRandomSearcher` proposes it; parameters past the 64th take
    /// random coordinates), distinct from proposed and pending configs when possible; recorded.
    ///
    /// Why not random: the first few proposals are all the model starts from, and a scrambled
    /// Sobol design covers the space more evenly than independent draws (BoTorch and Ax start
    /// the same way), which leaves fewer empty regions for the first model proposals to miss.
    mutating func proposeStartup(seed: UInt64, pending: [Config]) -> Config {
        var scratch = ledger
        let dimensions = space.count
        let sobol = SobolSequence(dimensions: min(dimensions, SobolSequence.maxDimensions), scrambleSeed: seed)
        let config = drawDistinct(space: space.space, seed: seed, ledger: &scratch, pending: pending) { n, random in
            sobol.point(UInt64(n)) + randomPoint(dimensions - sobol.dimensions, &random)
        }
        recordProposal(config)
        return config
    }
}
