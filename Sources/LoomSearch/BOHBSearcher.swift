import Foundation
import LoomModel

/// BOHB's searcher (Falkner, Klein & Hutter 2018, after HpBandSter's `CG_BOHB`): a multivariate
/// kernel density estimate per budget, learnt from `observe(config:budget:value:)`; the
/// Hyperband brackets that pick budgets are the scheduler's.
///
/// **Which model.** The largest budget whose results make a model: with `n` results at it, the
/// best `max(m, ⌊top_n_percent·n/100⌋)` are good and the next `max(m, ⌊(100 − top_n_percent)·n/100⌋)`
/// bad, where `m = min_points_in_model` (default: dimensions + 1), and both groups must hold more
/// points than there are dimensions. Without any intermediate result at all (a study without a
/// multi-fidelity scheduler) the complete trials' final values form the one budget.
///
/// **Proposal.** A `randomFraction` of proposals (default 1/3), and every proposal while no
/// budget has a model, are random (as `RandomSearcher`). Otherwise `numSamples` candidates are
/// drawn from the good KDE with bandwidths widened by `bandwidthFactor`, and the one with the
/// largest `l(x)/g(x)` wins.
///
/// **Kernels.** Bandwidths follow the normal reference rule `1.06 · sd · n^(−1/(d+4))` (at least
/// `minBandwidth`); numeric axes use a Gaussian kernel (truncated to [0, 1] when sampling),
/// categorical ones Aitchison–Aitken (`1 − λ` on the datum's category, `λ/(c − 1)` on each other).
/// An axis inactive in a datum contributes nothing to that datum's kernel, and sampling from it
/// draws the axis uniformly (HpBandSter imputes instead).
///
/// **Determinism.** Choices come from stream `model(n)`; the models are functions of the result
/// sets (see `ResultBook`), so `restore` followed by the replay of intermediate results gives the
/// same next proposal.
public struct BOHBSearcher: Searcher {
    /// HpBandSter's defaults.
    public struct Options: Equatable, Sendable {
        /// Fraction of proposals drawn at random.
        public var randomFraction = 1.0 / 3.0
        /// Percentage of a budget's results in the good group.
        public var topNPercent = 15.0
        /// Least size of each group for a budget to have a model; nil: dimensions + 1.
        public var minPointsInModel: Int?
        /// Candidates drawn per proposal.
        public var numSamples = 64
        /// Widening of the bandwidths when candidates are drawn.
        public var bandwidthFactor = 3.0
        /// Least bandwidth of a kernel.
        public var minBandwidth = 1e-3

        public init() {}

        /// These defaults overridden by the spec's options.
        public init(_ options: SearcherOptions) {
            randomFraction = options.randomFraction ?? randomFraction
            topNPercent = options.topNPercent ?? topNPercent
            minPointsInModel = options.minPointsInModel ?? minPointsInModel
            numSamples = options.nEICandidates ?? numSamples
            bandwidthFactor = options.bandwidthFactor ?? bandwidthFactor
            minBandwidth = options.minBandwidth ?? minBandwidth
        }
    }

    public let seed: UInt64
    public let options: Options
    var book: ResultBook
    /// The axes that are modelled (constants are not).
    private let axes: [Int]

    public init(space: SearchSpace, mode: Mode, seed: UInt64, options: Options = Options()) {
        self.seed = seed
        self.options = options
        let book = ResultBook(space: space, mode: mode)
        self.book = book
        axes = book.space.axes.indices.filter { book.space.axes[$0] != .constant }
    }

    /// The good and bad coordinates of the budget the next model-based proposal learns from.
    struct BudgetModel {
        var budget: Double
        var good: [[Double?]]
        var bad: [[Double?]]
    }

    /// The largest budget that has a model (see **Which model**), nil when none has.
    func modelBudget() -> BudgetModel? {
        let dimensions = axes.count
        let minimum = options.minPointsInModel ?? dimensions + 1
        // Budgets from the largest down; a level's results are encoded only when it is reached.
        let budgets = book.budgeted.isEmpty ? [Double.infinity] : book.budgeted.keys.sorted(by: >)
        for budget in budgets {
            let sorted: [ResultBook.Result]
            if book.budgeted.isEmpty {
                sorted = book.ranked
            } else {
                sorted = (book.budgeted[budget] ?? [:]).map { config, loss in
                    ResultBook.Result(config: config, coordinates: book.space.encode(config), loss: loss, state: .complete,
                                      origin: book.origin(of: config))
                }.sorted(by: ResultBook.precedesByLoss)
            }
            let n = sorted.count
            let goodCount = max(minimum, Int(options.topNPercent * Double(n) / 100))
            let badCount = max(minimum, Int((100 - options.topNPercent) * Double(n) / 100))
            let good = sorted.prefix(goodCount).map(\.coordinates)
            let bad = sorted.dropFirst(goodCount).prefix(badCount).map(\.coordinates)
            if good.count > dimensions && bad.count > dimensions {
                return BudgetModel(budget: budget, good: good, bad: Array(bad))
            }
        }
        return nil
    }

    public mutating func suggest(pending: [Config]) -> Suggestion {
        let n = book.proposalCount
        var random = Xoshiro256StarStar(seed: seed, stream: SearchStream.model(n))
        guard !axes.isEmpty, random.unit() >= options.randomFraction, let model = modelBudget() else {
            return .config(book.proposeRandom(seed: seed, pending: pending))
        }
        let good = KernelDensity(model.good, axes: axes, space: book.space, minBandwidth: options.minBandwidth)
        let bad = KernelDensity(model.bad, axes: axes, space: book.space, minBandwidth: options.minBandwidth)
        var candidates: [(coordinates: [Double?], score: Double)] = []
        for _ in 0..<options.numSamples {
            let x = good.sample(widenedBy: options.bandwidthFactor, count: book.space.count, &random)
            candidates.append((x, good.logDensity(x) - bad.logDensity(x)))
        }
        let taken = Set(pending)
        for candidate in candidates.sorted(by: { $0.score > $1.score }) {
            let config = book.space.decode(candidate.coordinates)
            if !book.ledger.contains(config) && !taken.contains(config) {
                book.recordProposal(config)
                return .config(config)
            }
        }
        return .config(book.proposeRandom(seed: seed, pending: pending))
    }

    public mutating func observe(config: Config, value: Double?, state: TrialState) {
        book.recordResult(config: config, value: value, state: state)
    }

    public mutating func observe(config: Config, budget: Double, value: Double) {
        book.recordBudgeted(config: config, budget: budget, value: value)
    }

    public mutating func restore(history: [TrialOutcome]) {
        book.restore(history: history)
    }
}

/// A product-kernel density over the modelled axes (see `BOHBSearcher`'s **Kernels**).
struct KernelDensity: Sendable {
    let data: [[Double?]]
    let axes: [Int]
    let space: ModelSpace
    /// Per modelled axis: a Gaussian bandwidth (numeric) or `λ` (categorical).
    let bandwidths: [Double]

    init(_ data: [[Double?]], axes: [Int], space: ModelSpace, minBandwidth: Double) {
        self.data = data
        self.axes = axes
        self.space = space
        let n = Double(data.count)
        let factor = 1.06 * pow(n, -1 / Double(axes.count + 4))
        bandwidths = axes.map { axis in
            let column = data.compactMap { $0[axis] }
            let mean = column.reduce(0, +) / Double(max(column.count, 1))
            let variance = column.count > 1 ? column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count - 1) : 0
            var bandwidth = max(factor * variance.squareRoot(), minBandwidth)
            if case .categorical(let count) = space.axes[axis] { bandwidth = min(bandwidth, Double(count - 1) / Double(count)) }
            return bandwidth
        }
    }

    /// A draw: a uniformly chosen datum, then each axis from its kernel widened by `factor`.
    func sample(widenedBy factor: Double, count: Int, _ random: inout Xoshiro256StarStar) -> [Double?] {
        let datum = data[random.index(below: data.count)]
        var x = [Double?](repeating: nil, count: count)
        for (j, axis) in axes.enumerated() {
            let categories: Int? = if case .categorical(let c) = space.axes[axis] { c } else { nil }
            switch (datum[axis], categories) {
            case (let value?, let c?):
                x[axis] = random.unit() < 1 - bandwidths[j] ? value : Double(random.index(below: c))
            case (nil, let c?):
                x[axis] = Double(random.index(below: c))
            case (let value?, nil):
                x[axis] = sampleTruncatedNormal(mu: value, sigma: min(bandwidths[j] * factor, 1e3), &random)
            case (nil, nil):
                x[axis] = random.unit()
            }
        }
        return x
    }

    /// The log of the mean product kernel at `x`; axes inactive in `x` or a datum are skipped.
    func logDensity(_ x: [Double?]) -> Double {
        // Per modelled axis: the term for a numeric kernel is −½z² − log bw; a categorical one
        // adds log(1 − λ) on a match, log(λ/(c − 1)) otherwise.
        var terms = [Double](repeating: 0, count: data.count)
        for (j, axis) in axes.enumerated() {
            guard let a = x[axis] else { continue }
            let bandwidth = bandwidths[j]
            if case .categorical(let c) = space.axes[axis] {
                let (same, other) = (log(1 - bandwidth), log(bandwidth / Double(c - 1)))
                for (i, datum) in data.enumerated() {
                    guard let b = datum[axis] else { continue }
                    terms[i] += Int(a) == Int(b) ? same : other
                }
            } else {
                let (inverse, logBandwidth) = (1 / bandwidth, log(bandwidth))
                for (i, datum) in data.enumerated() {
                    guard let b = datum[axis] else { continue }
                    let z = (a - b) * inverse
                    terms[i] -= 0.5 * z * z + logBandwidth
                }
            }
        }
        return terms.withUnsafeBufferPointer { logSumExp($0) } - log(Double(max(data.count, 1)))
    }
}
