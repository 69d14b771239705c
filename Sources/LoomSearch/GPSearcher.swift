import Foundation
import LoomModel

/// Gaussian-process Bayesian optimisation: a Matérn 5/2 ARD process on the unit cube
/// (`GaussianProcess`), expected improvement, hyperparameters fitted by maximising the log
/// marginal likelihood (plus a weak prior) with L-BFGS from two starts.
///
/// **Features.** A numeric parameter is its unit coordinate (`ModelSpace`; logs in log space,
/// integers at their cell centre), a categorical one is one-hot, an inactive parameter is 0.5
/// (numeric) or all zeros (categorical). Targets are oriented losses, standardised.
///
/// **Proposal.** A scrambled Sobol design (`ResultBook.proposeStartup`) until the startup
/// results are complete (`nStartupTrials`, by default `d + 1` for `d` features, within 3...10),
/// random (as `RandomSearcher`) for a `randomFraction` of the proposals after; else the config
/// maximising expected improvement over `randomCandidates` random points and `localCandidates`
/// perturbations — half around the best results on every coordinate with TPE's wide kernels
/// (`broadScale`), half of the incumbent on one to three coordinates at scales from 0.15 down to
/// 0.015 — then a hill-climb from the `refined` best of those. Every perturbation is a normal
/// draw truncated to the cube (redrawn, not clamped: clamping piles candidates on the faces,
/// where expected improvement in many dimensions already looks best).
///
/// **Pending** trials are handled by the kriging believer: each joins the data with the
/// posterior mean as its value, so its neighbourhood loses its variance, hence its EI; believed
/// values count for the incumbent, so a pending point never improves on itself.
///
/// **Size.** The fit sees at most `maxFitPoints` results and the posterior at most
/// `maxPosteriorPoints`: the best third of that many, then the most recent (`ResultBook` order).
/// The cost of an ask is then bounded whatever the history (see Docs/benchmarks.md).
///
/// **Constraints** (`GPSearcher+Constraints.swift`): one more process per constraint models its
/// reported value, and expected improvement over the best *feasible* result is multiplied by
/// the probability that every constraint holds (as Optuna's `GPSampler` and BoTorch do).
///
/// **Determinism.** The fit starts from fixed and stream-drawn points and every choice is drawn
/// from stream `model(n)`, so a restored history gives the same next proposal.
public struct GPSearcher: Searcher {
    /// Defaults in the manner of Optuna's `GPSampler`.
    public struct Options: Equatable, Sendable {
        /// Complete results before the model is used (the startup design until then); nil for
        /// `d + 1` with `d` features, clamped to `startupRange` (BoTorch and Ax start from a
        /// Sobol design of about that size; Optuna's `GPSampler` uses 10 whatever `d`).
        public var nStartupTrials: Int?
        /// Fraction of proposals drawn at random.
        public var randomFraction = 0.0
        /// Most results the hyperparameter fit sees.
        public var maxFitPoints = 100
        /// Most results the posterior holds.
        public var maxPosteriorPoints = 300
        /// Uniformly random candidates for expected improvement.
        public var randomCandidates = 512
        /// Candidates perturbed around the best results and the incumbent.
        public var localCandidates = 256
        /// Best candidates refined by hill climbing.
        public var refined = 4
        /// Steps of each hill climb.
        public var refinementSteps = 25

        public init() {}

        /// These defaults overridden by the spec's options.
        public init(_ options: SearcherOptions) {
            nStartupTrials = options.nStartupTrials
            randomFraction = options.randomFraction ?? randomFraction
        }
    }

    /// Candidates closer than this (Euclidean, in feature space) to a point the model holds are
    /// skipped: once the model is confident, EI is tiny everywhere and its argmax can sit right
    /// next to a pending or evaluated point, which would waste a trial.
    static let minimumSeparation = 1e-3

    /// The default number of startup results: `d + 1` within this range. Below 3 the first fit
    /// has too little to fit lengthscales on; past 10 the design would eat the budgets that the
    /// model uses best (25 trials in 10-d).
    static let startupRange = 3...10

    /// Scales of the incumbent's sparse perturbations (unit-cube standard deviations), cycled.
    /// They were 0.3, 0.1, 0.03 with clamped draws; with truncated draws the halved scales do
    /// better on Ackley 10-d (seeds 0–29 at 25 trials: 19.68 → 19.33) and no worse elsewhere.
    /// Finer ones with clamped draws (down to 0.003) let EI polish a ripple of the startup
    /// design's best point on Levy 10-d and doubled its regret at 25 trials.
    static let incumbentScales = [0.15, 0.05, 0.015]

    /// Standard deviation (unit cube) of the perturbations around the best results: as wide as
    /// TPE's kernels around a lone good point, so that in many dimensions some candidates leave
    /// the startup design's shell (a truncated wide normal leans towards the middle of the
    /// range, as TPE's proposals do). It was 0.1: Levy 10-d at 25 trials, seeds 0–29,
    /// 28.7 → 27.1 with truncated draws.
    static let broadScale = 0.5

    /// Complete results before the model is used.
    var startupTrials: Int {
        options.nStartupTrials ?? min(max(featureCount + 1, Self.startupRange.lowerBound), Self.startupRange.upperBound)
    }

    public let seed: UInt64
    public let options: Options
    /// The direction of every objective (one for a single-objective study); with several, see
    /// `GPSearcher+Objectives.swift`.
    public let modes: [Mode]
    var book: ResultBook
    let featureCount: Int

    /// `modes`: every objective's direction when there are several (nil: `mode` alone).
    public init(space: SearchSpace, mode: Mode, seed: UInt64, options: Options = Options(), modes: [Mode]? = nil) {
        self.seed = seed
        self.options = options
        self.modes = modes ?? [mode]
        book = ResultBook(space: space, mode: mode)
        featureCount = book.space.axes.reduce(0) { count, axis in
            switch axis {
            case .numeric: count + 1
            case .categorical(let k): count + k
            case .constant: count
            }
        }
    }

    public mutating func suggest(pending: [Config]) -> Suggestion {
        let n = book.proposalCount
        var random = Xoshiro256StarStar(seed: seed, stream: SearchStream.model(n))
        let (ordered, ranked) = modes.count > 1 ? scalarisedResults(&random) : (book.ordered, feasibleFirst(book.ranked))
        guard ranked.count >= max(startupTrials, 2), featureCount > 0 else {
            return .config(book.proposeStartup(seed: seed, pending: pending))
        }
        guard random.unit() >= options.randomFraction else {
            return .config(book.proposeRandom(seed: seed, pending: pending))
        }
        guard let model = fittedModel(ordered: ordered, ranked: ranked, pending: pending, &random) else {
            return .config(book.proposeRandom(seed: seed, pending: pending))
        }
        let taken = Set(pending)
        for point in bestPoints(model: model, ranked: ranked, &random) {
            let config = config(from: point, in: book.space.space)
            let x = features(book.space.encode(config))
            let unit = [Double](repeating: 1, count: featureCount)
            let crowded = model.process.features.contains { squaredDistance($0, x, unit) < Self.minimumSeparation * Self.minimumSeparation }
            if !crowded && !book.ledger.contains(config) && !taken.contains(config) {
                book.recordProposal(config)
                return .config(config)
            }
        }
        return .config(book.proposeRandom(seed: seed, pending: pending))
    }

    /// The model, the incumbent's standardised target and the constraints' models.
    struct Model {
        var process: GaussianProcess
        /// The best feasible standardised target; nil while no result is feasible.
        var best: Double?
        var constraints: [ConstraintModel] = []
    }

    /// Hyperparameters fitted by `GaussianProcess.fit` from the usual start and one drawn from `random`.
    func fitHyperparameters(features: [[Double]], targets: [Double], _ random: inout Xoshiro256StarStar) -> GPHyperparameters {
        var randomStart = GPHyperparameters.initial(features: featureCount)
        randomStart.logLengthscales = randomStart.logLengthscales.map { _ in log(0.05 + 2 * random.unit()) }
        return GaussianProcess.fit(features: features, targets: targets, starts: [.initial(features: featureCount), randomStart])
    }

    /// `ordered`: the results in `ResultBook` order; `ranked`: the complete ones with a value,
    /// best first, feasible ones first (`feasibleFirst`).
    private func fittedModel(ordered: [ResultBook.Result], ranked: [ResultBook.Result], pending: [Config],
                             _ random: inout Xoshiro256StarStar) -> Model? {
        let ordered = ordered.filter { $0.state == .complete && $0.loss != nil }
        func subset(_ cap: Int) -> [ResultBook.Result] {
            guard ordered.count > cap else { return ordered }
            let best = Array(ranked.prefix(cap / 3))
            let chosen = Set(best.map(\.serial))
            let recent = ordered.filter { !chosen.contains($0.serial) }.suffix(cap - best.count)
            return best + recent
        }
        let posterior = subset(options.maxPosteriorPoints)
        let losses = posterior.map { $0.loss! }
        let mean = losses.reduce(0, +) / Double(losses.count)
        let sd = (losses.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(losses.count)).squareRoot()
        let scale = sd > 0 ? sd : 1
        func standardised(_ r: [ResultBook.Result]) -> [Double] { r.map { ($0.loss! - mean) / scale } }
        let fitSet = subset(options.maxFitPoints)
        let hyperparameters = fitHyperparameters(features: fitSet.map { features($0.coordinates) }, targets: standardised(fitSet), &random)
        var xs = posterior.map { features($0.coordinates) }
        var ys = standardised(posterior)
        if !pending.isEmpty, let believer = GaussianProcess(features: xs, targets: ys, hyperparameters: hyperparameters) {
            for config in pending {
                let x = features(book.space.encode(config))
                xs.append(x)
                ys.append(believer.predict(x).mean)
            }
        }
        guard let process = GaussianProcess(features: xs, targets: ys, hyperparameters: hyperparameters) else { return nil }
        let constraints = constraintModels(posterior: posterior, fitSet: fitSet, &random)
        guard isFeasible(ranked[0]) else { return Model(process: process, best: nil, constraints: constraints) }
        // Believed values count for the incumbent too: else a pending point whose believed value
        // beats the incumbent keeps a positive EI at zero variance and draws the next proposal.
        let believed = ys[posterior.count...].min() ?? .infinity
        return Model(process: process, best: min(standardised([ranked[0]])[0], believed), constraints: constraints)
    }

    /// Unit-cube points by decreasing expected improvement.
    private func bestPoints(model: Model, ranked: [ResultBook.Result], _ random: inout Xoshiro256StarStar) -> [[Double]] {
        let dimensions = book.space.count
        var points = (0..<options.randomCandidates).map { _ in randomPoint(dimensions, &random) }
        let anchors = ranked.prefix(8).map { book.space.unitPoint($0.coordinates) }
        let broad = options.localCandidates / 2
        for i in 0..<broad {
            points.append(perturbed(anchors[i % anchors.count], scale: Self.broadScale, &random))
        }
        for i in 0..<(options.localCandidates - broad) {
            let scale = Self.incumbentScales[i % Self.incumbentScales.count]
            points.append(sparselyPerturbed(anchors[0], scale: scale, &random))
        }
        var scored = points.map { ($0, acquisition(model, at: $0)) }
        scored.sort { $0.1 > $1.1 }
        var refinedPoints: [([Double], Double)] = []
        for (start, startScore) in scored.prefix(options.refined) {
            var (point, score) = (start, startScore)
            var scale = 0.05
            for _ in 0..<options.refinementSteps {
                let candidate = perturbed(point, scale: scale, &random)
                let candidateScore = acquisition(model, at: candidate)
                if candidateScore > score {
                    (point, score) = (candidate, candidateScore)
                } else {
                    scale = max(scale * 0.7, 1e-3)
                }
            }
            refinedPoints.append((point, score))
        }
        return (refinedPoints + scored).sorted { $0.1 > $1.1 }.map(\.0)
    }

    /// `point` moved by a normal step of `scale` on every coordinate, truncated to the cube.
    private func perturbed(_ point: [Double], scale: Double, _ random: inout Xoshiro256StarStar) -> [Double] {
        point.map { sampleTruncatedNormal(mu: $0, sigma: scale, &random) }
    }

    /// `point` moved by a normal step of `scale` on one to three random coordinates (fewer when
    /// there are fewer), truncated to the cube: in many dimensions a step on every coordinate
    /// leaves the incumbent's basin, a step on a few explores along it (as BoTorch's
    /// perturbed-subset candidates do).
    private func sparselyPerturbed(_ point: [Double], scale: Double, _ random: inout Xoshiro256StarStar) -> [Double] {
        var moved = point
        let count = min(point.count, 1 + Int(random.unit() * 3))
        for _ in 0..<count {
            let axis = min(Int(random.unit() * Double(point.count)), point.count - 1)
            moved[axis] = sampleTruncatedNormal(mu: moved[axis], sigma: scale, &random)
        }
        return moved
    }

    /// The acquisition at a unit-cube point (its config's features): expected improvement below
    /// the incumbent times the probability of feasibility; that probability alone while no
    /// result is feasible (see `GPSearcher+Constraints.swift`).
    func acquisition(_ model: Model, at point: [Double]) -> Double {
        let x = features(book.space.encode(config(from: point, in: book.space.space)))
        let feasibility = feasibilityProbability(model.constraints, at: x)
        guard let best = model.best else { return feasibility }
        let (mean, variance) = model.process.predict(x)
        let sd = variance.squareRoot()
        let z = (best - mean) / sd
        return ((best - mean) * standardNormalCDF(z) + sd * exp(-0.5 * z * z) / (2 * Double.pi).squareRoot()) * feasibility
    }

    /// The feature vector of coordinates (see **Features**).
    func features(_ coordinates: [Double?]) -> [Double] {
        var x: [Double] = []
        x.reserveCapacity(featureCount)
        for (axis, coordinate) in zip(book.space.axes, coordinates) {
            switch axis {
            case .numeric: x.append(coordinate ?? 0.5)
            case .categorical(let count):
                for c in 0..<count { x.append(coordinate.map { Int($0) == c ? 1 : 0 } ?? 0) }
            case .constant: break
            }
        }
        return x
    }

    public mutating func observe(config: Config, value: Double?, state: TrialState) {
        book.recordResult(config: config, value: value, state: state)
    }

    public mutating func restore(history: [TrialOutcome]) {
        book.restore(history: history)
    }
}
