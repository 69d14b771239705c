import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

@Suite struct GridSearch {
    /// `opt ∈ {sgd, adam}` × `batch ∈ {32, 64, 128}` grids, a sampled `lr` and a sampled `act`.
    static func plain() throws -> SearchSpace {
        try Fixture.space([
            Parameter(name: "opt", domain: .grid([.string("sgd"), .string("adam")])),
            Parameter(name: "lr", domain: .logUniform(low: 1e-4, high: 1e-1, q: nil)),
            Parameter(name: "batch", domain: .grid([.number(32), .number(64), .number(128)])),
            Parameter(name: "act", domain: .choice([.string("relu"), .string("tanh")])),
        ])
    }

    /// `momentum` is a grid for sgd only and `beta` for adam only: 2 + 2 points, not 8.
    static func conditional() throws -> SearchSpace {
        try Fixture.space([
            Parameter(name: "opt", domain: .grid([.string("sgd"), .string("adam")])),
            Parameter(name: "momentum", domain: .grid([.number(0.9), .number(0.99)]),
                      condition: Condition(parent: "opt", values: [.string("sgd")])),
            Parameter(name: "beta", domain: .grid([.number(0.9), .number(0.999)]),
                      condition: Condition(parent: "opt", values: [.string("adam")])),
            Parameter(name: "nesterov", domain: .grid([.bool(true), .bool(false)]),
                      condition: Condition(parent: "momentum", values: [.number(0.99)])),
        ])
    }

    static func gridValues(_ config: Config, _ names: [String]) -> Config {
        config.filter { names.contains($0.key) }
    }

    @Test func onlyGridDomainsAreEnumeratedFirstParameterSlowest() throws {
        let searcher = GridSearcher(space: try Self.plain(), seed: 0)
        #expect(searcher.gridSize == 6)
        let expected: [Config] = ["sgd", "adam"].flatMap { opt in
            [32.0, 64, 128].map { ["opt": .string(opt), "batch": .number($0)] }
        }
        #expect(searcher.points == expected)
    }

    @Test func everyPointComesExactlyRepeatsTimesThenTheGridIsExhausted() throws {
        let space = try Self.plain()
        var searcher = GridSearcher(space: space, seed: 1, repeats: 3)
        #expect(searcher.remaining == 18)
        let (configs, exhausted) = Fixture.drain(&searcher, limit: 100)
        #expect(exhausted && configs.count == 18 && searcher.remaining == 0)
        #expect(searcher.suggest(pending: []) == .exhausted)
        for point in searcher.points {
            #expect(configs.filter { Self.gridValues($0, ["opt", "batch"]) == point }.count == 3)
        }
        #expect(configs.allSatisfy { space.validate($0) == nil })
        let firstPass = configs.prefix(6).map { Self.gridValues($0, ["opt", "batch"]) }
        #expect(firstPass == searcher.points, "the whole grid before any repeat, in order")
    }

    @Test func repeatsOfAPointSampleTheOtherParametersAfresh() throws {
        var searcher = GridSearcher(space: try Self.plain(), seed: 1, repeats: 4)
        let configs = Fixture.drain(&searcher, limit: 100).configs
        let first = configs.filter { Self.gridValues($0, ["opt", "batch"]) == searcher.points[0] }
        #expect(Set(first.map { $0["lr"]! }).count == 4)
        #expect(Set(configs.map { $0["act"]! }) == [.string("relu"), .string("tanh")], "choice is sampled")
    }

    @Test func conditionalGridParametersAreEnumeratedOnlyWhereActive() throws {
        let space = try Self.conditional()
        var searcher = GridSearcher(space: space, seed: 0)
        #expect(searcher.gridSize == 5)
        #expect(searcher.points == [
            ["opt": .string("sgd"), "momentum": .number(0.9)],
            ["opt": .string("sgd"), "momentum": .number(0.99), "nesterov": .bool(true)],
            ["opt": .string("sgd"), "momentum": .number(0.99), "nesterov": .bool(false)],
            ["opt": .string("adam"), "beta": .number(0.9)],
            ["opt": .string("adam"), "beta": .number(0.999)],
        ])
        let (configs, exhausted) = Fixture.drain(&searcher, limit: 100)
        #expect(exhausted && configs == searcher.points)
        #expect(configs.allSatisfy { space.validate($0) == nil })
    }

    @Test func aGridUnderASampledParentIsSampledLikeAChoice() throws {
        let space = try Fixture.space([
            Parameter(name: "model", domain: .choice([.string("a"), .string("b")])),
            Parameter(name: "depth", domain: .grid([.number(1), .number(2), .number(3)]),
                      condition: Condition(parent: "model", values: [.string("a")])),
            Parameter(name: "seed", domain: .grid([.number(0), .number(1)])),
        ])
        var searcher = GridSearcher(space: space, seed: 0, repeats: 50)
        #expect(searcher.gridSize == 2)
        let configs = Fixture.drain(&searcher, limit: 1000).configs
        #expect(configs.count == 100 && configs.allSatisfy { space.validate($0) == nil })
        #expect(Set(configs.compactMap { $0["depth"] }).count == 3)
    }

    @Test func aGridUnderAConstantIsEnumerated() throws {
        let space = try Fixture.space([
            Parameter(name: "kind", domain: .constant(.string("cnn"))),
            Parameter(name: "width", domain: .grid([.number(16), .number(32)]),
                      condition: Condition(parent: "kind", values: [.string("cnn")])),
            Parameter(name: "height", domain: .grid([.number(1)]),
                      condition: Condition(parent: "kind", values: [.string("rnn")])),
        ])
        let searcher = GridSearcher(space: space, seed: 0)
        #expect(searcher.points == [["width": .number(16)], ["width": .number(32)]])
    }

    @Test func withoutGridParametersTheGridIsOnePointSampledRepeatsTimes() throws {
        let space = try Fixture.conditional()
        var searcher = GridSearcher(space: space, seed: 0, repeats: 5)
        #expect(searcher.gridSize == 1 && searcher.points == [[:]])
        let (configs, exhausted) = Fixture.drain(&searcher, limit: 100)
        #expect(exhausted && Set(configs).count == 5)
    }

    @Test func pendingProposalsAreNeverHandedOutAgain() throws {
        // Only grid parameters: the configs are the points themselves, so any duplicate shows.
        let space = try Self.conditional()
        var searcher = GridSearcher(space: space, seed: 0, repeats: 1)
        var pending: [Config] = []
        for _ in 0..<3 {
            guard case .config(let c) = searcher.suggest(pending: pending) else { Issue.record("exhausted early"); return }
            #expect(!pending.contains(c))
            pending.append(c)
        }
        pending.removeFirst()
        let rest = Fixture.drain(&searcher, limit: 10).configs
        #expect(rest.count == 2 && Set(rest + pending).count == 4)
    }

    @Test func aWarmStartEqualToAPointDefersThatPointButDoesNotConsumeIt() throws {
        var searcher = GridSearcher(space: try Self.conditional(), seed: 0)
        let warmStart = searcher.points[0]
        var configs: [Config] = []
        while case .config(let c) = searcher.suggest(pending: [warmStart] + configs) { configs.append(c) }
        #expect(configs.count == 5)
        #expect(configs.last == warmStart, "handed out last, once nothing else is left")
    }

    @Test(arguments: [0, 1, 4, 7, 11])
    func restoringTheFirstNProposalsContinuesExactlyWithProposalNPlusOne(_ n: Int) throws {
        let space = try Self.plain()
        var fresh = GridSearcher(space: space, seed: 5, repeats: 2)
        let run = Fixture.proposals(&fresh, 12)
        var restored = GridSearcher(space: space, seed: 5, repeats: 2)
        restored.restore(history: Fixture.history(Array(run.prefix(n))))
        #expect(restored.suggest(pending: []) == .config(run[n]))
        #expect(restored.remaining == 12 - n - 1)
    }

    @Test func restoringTheWholeGridLeavesItExhausted() throws {
        let space = try Self.plain()
        var fresh = GridSearcher(space: space, seed: 5, repeats: 2)
        let run = Fixture.drain(&fresh, limit: 100).configs
        var restored = GridSearcher(space: space, seed: 5, repeats: 2)
        restored.restore(history: Fixture.history(run))
        #expect(restored.suggest(pending: []) == .exhausted)
    }

    @Test func sameSeedRepeatsTheSampledValuesAndOtherSeedsDiffer() throws {
        let space = try Self.plain()
        var a = GridSearcher(space: space, seed: 1)
        var b = GridSearcher(space: space, seed: 1)
        var c = GridSearcher(space: space, seed: 2)
        let first = Fixture.drain(&a, limit: 10).configs
        #expect(first == Fixture.drain(&b, limit: 10).configs)
        #expect(first != Fixture.drain(&c, limit: 10).configs)
    }

    @Test func repeatsBelowOneCountAsOne() throws {
        #expect(GridSearcher(space: try Self.plain(), seed: 0, repeats: 0).remaining == 6)
    }
}
