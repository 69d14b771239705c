import LoomModel

/// Random search: each config is an independent draw from the space's distributions.
///
/// **Determinism.** Proposal `n` is drawn from stream `n` of the seed (see `Searcher`).
///
/// **Duplicates.** A draw equal to a config already proposed or pending is drawn again from the
/// same stream, up to `maxDraws` draws in all; if every draw is taken (a small discrete space that
/// is used up), the last one is returned anyway. Random search never reports `.exhausted`: the
/// study's budget ends it.
public struct RandomSearcher: Searcher {
    /// Draws per suggestion before a duplicate is accepted. A discrete space with `k` configs of
    /// which one is left is found with probability `1 − (1 − 1/k)¹⁰⁰` (over 99.99 % for k ≤ 10).
    public static let maxDraws = 100

    public let space: SearchSpace
    public let seed: UInt64
    var ledger = TrialLedger()

    public init(space: SearchSpace, seed: UInt64) {
        self.space = space
        self.seed = seed
    }

    public mutating func suggest(pending: [Config]) -> Suggestion {
        let dimensions = space.parameters.count
        return .config(drawDistinct(space: space, seed: seed, ledger: &ledger, pending: pending) { _, random in
            randomPoint(dimensions, &random)
        })
    }

    public mutating func observe(config: Config, value: Double?, state: TrialState) {}

    public mutating func restore(history: [TrialOutcome]) {
        ledger = TrialLedger(history: history)
    }
}

/// `dimensions` coordinates from `random.unit()`.
func randomPoint(_ dimensions: Int, _ random: inout Xoshiro256StarStar) -> [Double] {
    (0..<dimensions).map { _ in random.unit() }
}

/// The draw loop random and quasi-random search share: takes the first point from
/// `first(n, &random)` for proposal number `n`, redraws uniformly random points from the same
/// stream while the config is already proposed or pending, and records the result.
func drawDistinct(
    space: SearchSpace, seed: UInt64, ledger: inout TrialLedger, pending: [Config],
    first: (Int, inout Xoshiro256StarStar) -> [Double]
) -> Config {
    let pending = Set(pending)
    let n = ledger.total
    var random = Xoshiro256StarStar(seed: seed, stream: SearchStream.suggestion(n))
    var candidate = config(from: first(n, &random), in: space)
    var draws = 1
    while ledger.contains(candidate) || pending.contains(candidate), draws < RandomSearcher.maxDraws {
        candidate = config(from: randomPoint(space.parameters.count, &random), in: space)
        draws += 1
    }
    ledger.record(candidate)
    return candidate
}
