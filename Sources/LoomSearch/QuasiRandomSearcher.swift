import LoomModel

/// Quasi-random search: configs from a scrambled low-discrepancy sequence, which covers the
/// space more evenly than independent draws (Bergstra & Bengio 2012 recommend it for exactly
/// this).
///
/// Proposal `n` is point `n` of the sequence, mapped with `config(from:in:)`, one
/// coordinate per parameter. The scramble is seeded with the searcher's seed, so different
/// seeds give different (equally even) point sets.
///
/// **Dimensions.** Sobol has direction numbers for `SobolSequence.maxDimensions` (64)
/// coordinates; the parameters beyond those take uniformly random coordinates from the proposal's
/// stream (`SearchStream.suggestion(n)`). Halton has no limit.
///
/// **Duplicates.** As `RandomSearcher`: a point whose config is already proposed or pending is
/// replaced by uniformly random draws from the proposal's stream, up to `RandomSearcher.maxDraws`
/// in all. Low-discrepancy points rarely collide except in small discrete spaces, where the
/// evenness matters least. Never `.exhausted`.
public struct QuasiRandomSearcher: Searcher {
    public let space: SearchSpace
    public let seed: UInt64
    public let sequence: QuasiRandomSequence
    private let source: PointSource
    var ledger = TrialLedger()

    private enum PointSource: Sendable {
        case sobol(SobolSequence)
        case halton(HaltonSequence)
    }

    public init(space: SearchSpace, seed: UInt64, sequence: QuasiRandomSequence = .sobol) {
        self.space = space
        self.seed = seed
        self.sequence = sequence
        let dimensions = space.parameters.count
        switch sequence {
        case .sobol:
            source = .sobol(SobolSequence(dimensions: min(dimensions, SobolSequence.maxDimensions), scrambleSeed: seed))
        case .halton:
            source = .halton(HaltonSequence(dimensions: dimensions, scrambleSeed: seed))
        }
    }

    public mutating func suggest(pending: [Config]) -> Suggestion {
        let dimensions = space.parameters.count
        let source = source
        return .config(drawDistinct(space: space, seed: seed, ledger: &ledger, pending: pending) { n, random in
            switch source {
            case .sobol(let sobol):
                sobol.point(UInt64(n)) + randomPoint(dimensions - sobol.dimensions, &random)
            case .halton(let halton):
                halton.point(UInt64(n))
            }
        })
    }

    public mutating func observe(config: Config, value: Double?, state: TrialState) {}

    public mutating func restore(history: [TrialOutcome]) {
        ledger = TrialLedger(history: history)
    }
}
