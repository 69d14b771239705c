import LoomModel
@testable import LoomSearch
import LoomWire

/// Shared fixtures: spaces, sample collectors and the statistical bounds the tests use.
///
/// **Bounds.** Every statistical check uses a fixed seed, so it cannot flake; the bounds are
/// still set where a correct sampler fails with negligible probability for *any* seed (six
/// standard deviations of a binomial count: about 2·10⁻⁹ two-sided), while a wrong distribution
/// misses them by far.
enum Fixture {
    static func space(_ parameters: [Parameter]) throws -> SearchSpace {
        try SearchSpace(parameters)
    }

    /// `count` values of `domain` at uniform coordinates from `seed`.
    static func samples(_ domain: Domain, count: Int = 10_000, seed: UInt64 = 1) -> [JSONValue] {
        var random = Xoshiro256StarStar(seed: seed)
        return (0..<count).map { _ in domain.value(at: random.unit()) }
    }

    static func numbers(_ domain: Domain, count: Int = 10_000, seed: UInt64 = 1) -> [Double] {
        samples(domain, count: count, seed: seed).map { $0.double ?? .nan }
    }

    /// Whether `count` of `n` independent trials with success probability `p` lies within
    /// `sigmas` binomial standard deviations of `n·p`.
    static func withinBinomial(_ count: Int, of n: Int, p: Double, sigmas: Double = 6) -> Bool {
        let sd = (Double(n) * p * (1 - p)).squareRoot()
        return abs(Double(count) - Double(n) * p) <= sigmas * sd
    }

    /// Pearson's χ² statistic of `counts` against equal expected frequencies.
    static func chiSquare(_ counts: [Int]) -> Double {
        let expected = Double(counts.reduce(0, +)) / Double(counts.count)
        return counts.reduce(0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
    }

    /// The largest distance of a bin count from the mean count, for values in [0, 1).
    static func maxBinDeviation(_ values: [Double], bins: Int) -> Double {
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(Int(v * Double(bins)), bins - 1)] += 1 }
        let mean = Double(values.count) / Double(bins)
        return counts.map { abs(Double($0) - mean) }.max() ?? 0
    }

    /// Suggestions until `.exhausted` or `limit`, each passing the earlier ones as pending.
    static func drain(_ searcher: inout some Searcher, limit: Int) -> (configs: [Config], exhausted: Bool) {
        var configs: [Config] = []
        while configs.count < limit {
            guard case .config(let c) = searcher.suggest(pending: configs) else { return (configs, true) }
            configs.append(c)
        }
        return (configs, false)
    }

    /// Proposals `0..<count` of a searcher, with no pending trials.
    static func proposals(_ searcher: inout some Searcher, _ count: Int) -> [Config] {
        (0..<count).compactMap { _ in
            if case .config(let c) = searcher.suggest(pending: []) { c } else { nil }
        }
    }

    static func history(_ configs: [Config]) -> [TrialOutcome] {
        configs.map { (config: $0, value: nil, state: .complete) }
    }

    /// One parameter of every kind of domain, each always active.
    static func everyDomain() throws -> SearchSpace {
        try space([
            Parameter(name: "u", domain: .uniform(low: -2, high: 3, q: nil)),
            Parameter(name: "qu", domain: .uniform(low: 0.1, high: 1, q: 0.25)),
            Parameter(name: "lu", domain: .logUniform(low: 1e-4, high: 1e-1, q: nil)),
            Parameter(name: "qlu", domain: .logUniform(low: 1e-3, high: 1, q: 1e-3)),
            Parameter(name: "n", domain: .normal(mean: 3, sd: 2, q: nil)),
            Parameter(name: "qn", domain: .normal(mean: 0, sd: 1, q: 0.5)),
            Parameter(name: "ri", domain: .randInt(low: -3, high: 4, q: nil)),
            Parameter(name: "qri", domain: .randInt(low: 1, high: 20, q: 3)),
            Parameter(name: "lri", domain: .logRandInt(low: 1, high: 1000)),
            Parameter(name: "c", domain: .choice([.string("a"), .number(2), .bool(true)])),
            Parameter(name: "o", domain: .ordinal([.number(8), .number(16), .number(32)])),
            Parameter(name: "k", domain: .constant(.string("fixed"))),
            Parameter(name: "g", domain: .grid([.string("x"), .string("y")])),
        ])
    }

    /// A model choice with branches, a nested choice and a constant:
    /// `model ∈ {linear, tree, net}`; `linear.alpha` for linear; `tree.depth` and `tree.kind ∈
    /// {gbm, rf}` for tree; `tree.gbm.lr` for gbm trees; `net.layers` and `net.act` for nets.
    static func conditional() throws -> SearchSpace {
        let model = "model"
        return try space([
            Parameter(name: model, domain: .choice([.string("linear"), .string("tree"), .string("net")])),
            Parameter(name: "linear.alpha", domain: .logUniform(low: 1e-4, high: 1, q: nil),
                      condition: Condition(parent: model, values: [.string("linear")])),
            Parameter(name: "tree.depth", domain: .randInt(low: 1, high: 10, q: nil),
                      condition: Condition(parent: model, values: [.string("tree")])),
            Parameter(name: "tree.kind", domain: .choice([.string("gbm"), .string("rf")]),
                      condition: Condition(parent: model, values: [.string("tree")])),
            Parameter(name: "tree.gbm.lr", domain: .uniform(low: 0.01, high: 0.3, q: nil),
                      condition: Condition(parent: "tree.kind", values: [.string("gbm")])),
            Parameter(name: "net.layers", domain: .randInt(low: 1, high: 4, q: nil),
                      condition: Condition(parent: model, values: [.string("net")])),
            Parameter(name: "net.act", domain: .constant(.string("relu")),
                      condition: Condition(parent: model, values: [.string("net")])),
        ])
    }

    /// Two categorical parameters: 2 × 3 = 6 configs.
    static func sixConfigs() throws -> SearchSpace {
        try space([
            Parameter(name: "a", domain: .choice([.number(0), .number(1)])),
            Parameter(name: "b", domain: .ordinal([.string("x"), .string("y"), .string("z")])),
        ])
    }
}
