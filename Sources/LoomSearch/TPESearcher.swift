import Foundation
import LoomModel

/// Tree-structured Parzen estimator (Bergstra et al. 2011), after Optuna's `TPESampler`.
///
/// **Proposal.** Until `nStartupTrials` results are complete the config is a point of a
/// scrambled Sobol design (`ResultBook.proposeStartup`; Optuna draws these at random), and for
/// a `randomFraction` of the proposals after that it is random (as `RandomSearcher`). Otherwise the complete
/// results are ranked; the best `γ(n) = min(⌈0.1·n⌉, gammaCap)` (n counting complete and pruned
/// results, as Optuna 5.0) form the good group, the rest the bad group, with pruned trials and,
/// as a constant liar (Optuna 5.0's default), every pending trial (so parallel
/// workers do not get the same config: a pending config lowers the score around it). For each
/// group of axes, `nEICandidates` coordinates are drawn from the good density `l` and the one
/// with the highest `log l − log g` wins (the expected-improvement criterion of TPE).
///
/// **Groups.** Univariate: each parameter alone (the default with several objectives, as in
/// Optuna 5). Multivariate (the default with one objective, as in Optuna 5):
/// parameters that share their `when:` condition form one group with a joint density (Optuna's
/// group decomposition, which is exact for our tree-shaped spaces); groups are sampled in
/// parameter order and a group whose condition does not hold in the config so far is skipped.
/// A group's densities see only the results in which it is active.
///
/// **Weights** (Optuna's default): within each group of results, by `ResultBook` order, the last
/// 25 weigh 1 and older ones ramp linearly from `1/n` up; with several objectives the good group
/// weighs uniformly (Optuna 5).
///
/// **Determinism.** Proposal `n` draws its random config from stream `suggestion(n)` and its
/// model choices from stream `model(n)`; the model is a function of the result set (see
/// `ResultBook`), so restoring the history gives the same next proposal.
public struct TPESearcher: Searcher {
    /// Optuna 5's defaults.
    public struct Options: Equatable, Sendable {
        /// Complete results before the model is used (the startup design until then).
        public var nStartupTrials = 10
        /// Candidates drawn from the good density per group.
        public var nEICandidates = 24
        /// Joint densities per group of co-active parameters (see **Groups**); nil: Optuna 5's
        /// default, joint with one objective, one density per parameter with several.
        public var multivariate: Bool?
        /// Weight of each density's prior component.
        public var priorWeight = 1.0
        /// Cap on the good group's size; nil: Optuna 5's default, 25 with one objective and no
        /// cap with several (its `default_gamma_multiobjective`).
        public var gammaCap: Int?
        /// Whether the bounds count as neighbours for the outermost bandwidths.
        public var considerEndpoints = false
        /// Fraction of proposals drawn at random.
        public var randomFraction = 0.0

        public init() {}

        /// These defaults overridden by the spec's options.
        public init(_ options: SearcherOptions) {
            nStartupTrials = options.nStartupTrials ?? nStartupTrials
            nEICandidates = options.nEICandidates ?? nEICandidates
            multivariate = options.multivariate
            priorWeight = options.priorWeight ?? priorWeight
            gammaCap = options.gammaCap
            considerEndpoints = options.considerEndpoints ?? considerEndpoints
            randomFraction = options.randomFraction ?? randomFraction
        }
    }

    public let seed: UInt64
    public let options: Options
    /// The direction of every objective (one for a single-objective study); see
    /// `TPESearcher+Objectives.swift` for several objectives and constraints.
    public let modes: [Mode]
    var book: ResultBook
    /// Axis groups in sampling order (see **Groups**).
    let groups: [[Int]]

    /// `modes`: every objective's direction when there are several (nil: `mode` alone).
    public init(space: SearchSpace, mode: Mode, seed: UInt64, options: Options = Options(), modes: [Mode]? = nil) {
        self.seed = seed
        self.options = options
        self.modes = modes ?? [mode]
        book = ResultBook(space: space, mode: mode)
        groups = Self.groups(ModelSpace(space), multivariate: options.multivariate ?? (self.modes.count <= 1))
    }

    /// The good group's cap (see `Options.gammaCap`).
    var gammaCap: Int { options.gammaCap ?? (modes.count > 1 ? .max : 25) }

    static func groups(_ model: ModelSpace, multivariate: Bool) -> [[Int]] {
        let learnable = model.axes.indices.filter { model.axes[$0] != .constant }
        guard multivariate else { return learnable.map { [$0] } }
        var groups: [[Int]] = []
        for axis in learnable {
            let condition = model.space.parameters[axis].condition
            if let g = groups.firstIndex(where: { model.space.parameters[$0[0]].condition == condition }) {
                groups[g].append(axis)
            } else {
                groups.append([axis])
            }
        }
        return groups
    }

    public mutating func suggest(pending: [Config]) -> Suggestion {
        let n = book.proposalCount
        let byObjectives = ranksByObjectives
        let rankedCount = byObjectives ? book.ordered.count { $0.state == .complete && $0.point != nil } : book.ranked.count
        var random = Xoshiro256StarStar(seed: seed, stream: SearchStream.model(n))
        guard rankedCount >= max(options.nStartupTrials, 1) else {
            return .config(book.proposeStartup(seed: seed, pending: pending))
        }
        guard random.unit() >= options.randomFraction else {
            return .config(book.proposeRandom(seed: seed, pending: pending))
        }
        let prunedCount = book.ordered.count { $0.state == .pruned }
        let good = min(Int((0.1 * Double(rankedCount + prunedCount)).rounded(.up)), gammaCap)
        let ranked = byObjectives ? objectiveRanking(goodCount: good) : book.ranked
        let liars = pending.map {
            ResultBook.Result(config: $0, coordinates: book.space.encode($0), loss: nil, state: .running, origin: book.origin(of: $0))
        }
        let goodResults = ranked.prefix(good).sorted(by: ResultBook.precedes)
        let goodSerials = Set(goodResults.map(\.serial))
        let rankedSerials = Set(ranked.map(\.serial))
        let badResults = book.ordered.filter {
            $0.state == .pruned || (rankedSerials.contains($0.serial) && !goodSerials.contains($0.serial))
        }
        let below = goodResults
        let above = ResultBook.merged(badResults, liars.sorted(by: ResultBook.precedes))
        var coordinates = [Double?](repeating: nil, count: book.space.count)
        for group in groups {
            let partial = book.space.decode(coordinates)
            guard book.space.space.isActive(book.space.space.parameters[group[0]], in: partial) else { continue }
            let chosen = choose(group: group, below: below, above: above, &random)
            for (axis, value) in zip(group, chosen) { coordinates[axis] = value }
        }
        let config = book.space.decode(coordinates)
        if book.ledger.contains(config) || pending.contains(config) {
            return .config(book.proposeRandom(seed: seed, pending: pending))
        }
        book.recordProposal(config)
        return .config(config)
    }

    /// The candidate with the best `log l − log g` for one group of axes.
    /// `below` and `above` are in `ResultBook` order and weigh `weights(count)`.
    private func choose(group: [Int], below: [ResultBook.Result], above: [ResultBook.Result],
                        _ random: inout Xoshiro256StarStar) -> [Double] {
        let counts = group.map { axis -> Int in
            if case .categorical(let count) = book.space.axes[axis] { return count }
            return 0
        }
        func estimator(_ results: [ResultBook.Result], _ allWeights: [Double]) -> ParzenEstimator {
            var columns = [[Double]](repeating: [], count: group.count)
            for j in group.indices { columns[j].reserveCapacity(results.count) }
            var weights: [Double] = []
            weights.reserveCapacity(results.count)
            for (result, weight) in zip(results, allWeights) where group.allSatisfy({ result.coordinates[$0] != nil }) {
                for (j, axis) in group.enumerated() { columns[j].append(result.coordinates[axis]!) }
                weights.append(weight)
            }
            return ParzenEstimator(columns: columns, weights: weights, categoryCounts: counts, priorWeight: options.priorWeight,
                                   considerEndpoints: options.considerEndpoints)
        }
        // Several objectives: the good group weighs uniformly (Optuna 5's MOTPE).
        let l = estimator(below, modes.count > 1 ? [Double](repeating: 1, count: below.count) : Self.weights(below.count))
        let g = estimator(above, Self.weights(above.count))
        let candidates = (0..<max(1, options.nEICandidates)).map { _ in l.sample(&random) }
        let scores = zip(l.logDensities(candidates), g.logDensities(candidates)).map { $0 - $1 }
        var best = 0
        for i in scores.indices where scores[i] > scores[best] { best = i }
        return candidates[best]
    }

    /// Optuna's `default_weights(n)`: ones below 25, else a ramp from `1/n` to 1 for the oldest
    /// `n − 25` and ones for the newest 25.
    static func weights(_ n: Int) -> [Double] {
        guard n >= 25 else { return [Double](repeating: 1, count: n) }
        let rampCount = n - 25
        let ramp = (0..<rampCount).map { i in
            rampCount == 1 ? 1.0 / Double(n) : 1.0 / Double(n) + (1 - 1.0 / Double(n)) * Double(i) / Double(rampCount - 1)
        }
        return ramp + [Double](repeating: 1, count: 25)
    }

    public mutating func observe(config: Config, value: Double?, state: TrialState) {
        book.recordResult(config: config, value: value, state: state)
    }

    public mutating func restore(history: [TrialOutcome]) {
        book.restore(history: history)
    }
}
