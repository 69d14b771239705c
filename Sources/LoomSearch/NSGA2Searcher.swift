import LoomModel

/// NSGA-II (Deb et al. 2002) as Optuna's `NSGAIISampler` runs it: generations of
/// `populationSize` proposals; the first is random; each later child is bred from the parent
/// population by binary tournament, uniform crossover and per-parameter mutation.
///
/// **Generations.** Proposal `n` belongs to generation `n / populationSize` (Optuna instead
/// waits for a generation's results before starting the next; numbering by proposal keeps the
/// searcher a function of its proposals and results, so it restores exactly). Configs it did not
/// propose (warm starts, asked trials it did not suggest) count in generation 0.
/// **Parents.** The parent population of generation g is Optuna's elitist selection over complete
/// trials with every objective: `P₁ = elite(gen 0)`, `P_g = elite(P_{g−1} ∪ gen g−1)`. Each `P_g`
/// is computed once and cached; a result of generation k drops the cached `P_g` for g > k (the
/// ones built from it), so the cache holds exactly what a rebuild from the results would give
/// and a restored searcher, which starts with none, proposes the same configs. `elite` keeps whole fronts of the
/// constraint-dominance sort (`Pareto.ranks`) and fills the last one by decreasing crowding
/// distance, ties in an order shuffled from the seed (Optuna shuffles too).
/// **Breeding** (Optuna's defaults): with probability `crossoverProb` (0.9) two tournament
/// winners are crossed uniformly (each parameter from the second parent with probability
/// `swappingProb`, 0.5), else one winner is copied; then each parameter is resampled at random
/// with probability `mutationProb` (1 / parameters). A tournament draws two parents and keeps
/// the one that constraint-dominates the other, a random one when neither does (Optuna's rule).
/// **Determinism.** Breeding draws from stream `SearchStream.model(n)`; a child equal to a
/// proposed or pending config is replaced by random draws from stream `suggestion(n)`, as
/// random search does. With too few parents (fewer than 2 results) the proposal is random.
public struct NSGA2Searcher: Searcher {
    /// Optuna's defaults, overridable from the spec.
    public struct Options: Equatable, Sendable {
        public var populationSize = 50
        public var crossoverProb = 0.9
        public var swappingProb = 0.5
        /// Nil: 1 / the number of parameters.
        public var mutationProb: Double?

        public init() {}

        public init(_ options: SearcherOptions) {
            if let n = options.populationSize { populationSize = n }
            if let p = options.crossoverProb { crossoverProb = p }
            if let p = options.swappingProb { swappingProb = p }
            mutationProb = options.mutationProb
        }
    }

    /// A complete result as NSGA-II ranks it.
    struct Member: Sendable {
        var config: Config
        var point: Pareto.Point
        /// Where the config sits in the unit cube (nil coordinates: inactive parameters).
        var coordinates: [Double?]
        /// Generation of the config's first proposal; 0 for configs it did not propose.
        var generation: Int
        /// The canonical order of members: proposal number, then coordinates (warm starts).
        var origin: Int
    }

    public let space: SearchSpace
    public let modes: [Mode]
    public let seed: UInt64
    public let options: Options
    let model: ModelSpace
    var ledger = TrialLedger()
    var firstProposal: [Config: Int] = [:]
    /// Complete results with every objective, keyed by config (a later result replaces one).
    var members: [Config: Member] = [:]
    /// `P₁, P₂, …` as far as computed (see **Parents**): `parentCache[g − 1]` is `P_g`.
    var parentCache: [[Member]] = []

    public init(space: SearchSpace, modes: [Mode], seed: UInt64, options: Options = Options()) {
        precondition(!modes.isEmpty, "NSGA-II needs at least one objective")
        self.space = space
        self.modes = modes
        self.seed = seed
        self.options = options
        self.model = ModelSpace(space)
    }

    var mutationProb: Double { options.mutationProb ?? 1 / Double(max(1, space.parameters.count)) }

    public mutating func suggest(pending: [Config]) -> Suggestion {
        let n = ledger.total
        let generation = n / options.populationSize
        let parents = generation == 0 ? [] : cachedParentPopulation(of: generation)
        let dimensions = space.parameters.count
        let child: [Double]? = parents.count < 2 ? nil : breed(parents, proposal: n)
        let config = drawDistinct(space: space, seed: seed, ledger: &ledger, pending: pending) { _, random in
            child ?? randomPoint(dimensions, &random)
        }
        if firstProposal[config] == nil { firstProposal[config] = n }
        return .config(config)
    }

    public mutating func observe(config: Config, value: Double?, state: TrialState) {
        observe(Evaluation(config: config, state: state, value: value, values: value.map { [$0] }))
    }

    public mutating func observe(_ evaluation: Evaluation) {
        guard evaluation.state == .complete, let values = evaluation.values, values.count == modes.count,
              values.allSatisfy(\.isFinite) else { return }
        let origin = firstProposal[evaluation.config] ?? -1
        let generation = max(0, origin) / options.populationSize
        parentCache.removeSubrange(min(generation, parentCache.count)...)
        members[evaluation.config] = Member(
            config: evaluation.config,
            point: Pareto.Point(losses: Pareto.losses(values, modes: modes), feasible: evaluation.feasible,
                                violation: evaluation.violation),
            coordinates: model.encode(evaluation.config),
            generation: generation, origin: origin)
    }

    public mutating func restore(history: [TrialOutcome]) {
        restore(evaluations: history.map { Evaluation(config: $0.config, state: $0.state, value: $0.value, values: $0.value.map { [$0] }) })
    }

    public mutating func restore(evaluations: [Evaluation]) {
        ledger = TrialLedger()
        firstProposal = [:]
        members = [:]
        parentCache = []
        for evaluation in evaluations {
            if firstProposal[evaluation.config] == nil { firstProposal[evaluation.config] = ledger.total }
            ledger.record(evaluation.config)
        }
        for evaluation in evaluations { observe(evaluation) }
    }

    // MARK: Selection

    /// `P_g` from the cache, extending it as far as `g` (see **Parents**).
    mutating func cachedParentPopulation(of generation: Int) -> [Member] {
        while parentCache.count < generation {
            let g = parentCache.count
            let born = members.values.filter { $0.generation == g }.sorted(by: Self.precedes)
            parentCache.append(elite((parentCache.last ?? []) + born, generation: g + 1))
        }
        return parentCache[generation - 1]
    }

    /// `P_g` (see **Parents**) rebuilt from the results, in a canonical order: what the cache
    /// must equal.
    func parentPopulation(of generation: Int) -> [Member] {
        let all = members.values.sorted(by: Self.precedes)
        var byGeneration: [Int: [Member]] = [:]
        for member in all where member.generation < generation { byGeneration[member.generation, default: []].append(member) }
        var parents: [Member] = []
        for g in 0..<generation {
            parents = elite(parents + (byGeneration[g] ?? []), generation: g + 1)
        }
        return parents
    }

    /// Optuna's `_select_elite_population`: whole fronts while they fit, then the last front by
    /// decreasing crowding distance (ties in a seeded shuffle).
    func elite(_ candidates: [Member], generation: Int) -> [Member] {
        let size = options.populationSize
        guard candidates.count > size else { return candidates }
        let ranks = Pareto.ranks(candidates.map(\.point))
        var selected: [Member] = []
        for rank in 0...(ranks.max() ?? 0) {
            var front = candidates.indices.filter { ranks[$0] == rank }.map { candidates[$0] }
            if selected.count + front.count <= size {
                selected += front
                if selected.count == size { break }
                continue
            }
            var random = Xoshiro256StarStar(seed: seed, stream: Self.selectionStream(generation))
            front.shuffle(using: &random)
            let distances = Pareto.crowdingDistances(front.map(\.point.losses))
            let order = front.indices.sorted { distances[$0] > distances[$1] || (distances[$0] == distances[$1] && $0 < $1) }
            selected += order.prefix(size - selected.count).map { front[$0] }
            break
        }
        return selected
    }

    /// A child's unit-cube point bred from `parents` for proposal `n`.
    func breed(_ parents: [Member], proposal n: Int) -> [Double] {
        var random = Xoshiro256StarStar(seed: seed, stream: SearchStream.model(n))
        let first = tournament(parents, &random)
        var child = first.coordinates
        if random.unit() < options.crossoverProb {
            let second = tournament(parents, &random)
            for i in child.indices where random.unit() < options.swappingProb { child[i] = second.coordinates[i] }
        }
        let mutation = mutationProb
        return child.enumerated().map { i, coordinate in
            let fresh = random.unit()
            guard random.unit() >= mutation, let coordinate else { return fresh }
            return unit(coordinate, axis: model.axes[i])
        }
    }

    /// A coordinate as the unit-cube value `config(from:in:)` maps back to it.
    func unit(_ coordinate: Double, axis: ModelSpace.Axis) -> Double {
        if case .categorical(let count) = axis { return (coordinate.rounded(.down) + 0.5) / Double(count) }
        return coordinate
    }

    /// Optuna's binary tournament: the constraint-dominant of two random parents, else either.
    func tournament(_ parents: [Member], _ random: inout Xoshiro256StarStar) -> Member {
        let a = parents[random.index(below: parents.count)]
        let b = parents[random.index(below: parents.count)]
        if Pareto.constraintDominates(a.point, b.point) { return a }
        if Pareto.constraintDominates(b.point, a.point) { return b }
        return random.unit() < 0.5 ? a : b
    }

    /// The stream that shuffles the last front when generation `g`'s parents are selected.
    static func selectionStream(_ g: Int) -> UInt64 { (1 << 61) &+ UInt64(max(0, g)) }

    /// The canonical order: proposal number, then (for configs not proposed) coordinates, then losses.
    static func precedes(_ a: Member, _ b: Member) -> Bool {
        if a.origin != b.origin { return a.origin < b.origin }
        if let order = ResultBook.lexicographicOrder(a.coordinates, b.coordinates) { return order }
        return a.point.losses.lexicographicallyPrecedes(b.point.losses)
    }
}
