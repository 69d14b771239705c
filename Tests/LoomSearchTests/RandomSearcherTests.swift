import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

@Suite struct RandomSearch {
    @Test func sameSeedGivesTheSameConfigsAndOtherSeedsOtherOnes() throws {
        let space = try Fixture.everyDomain()
        var a = RandomSearcher(space: space, seed: 7)
        var b = RandomSearcher(space: space, seed: 7)
        var c = RandomSearcher(space: space, seed: 8)
        let first = Fixture.proposals(&a, 50)
        #expect(first == Fixture.proposals(&b, 50))
        let other = Fixture.proposals(&c, 50)
        #expect(zip(first, other).allSatisfy { $0["u"] != $1["u"] })
    }

    @Test func everyProposalIsValidAndDistinct() throws {
        let space = try Fixture.conditional()
        var searcher = RandomSearcher(space: space, seed: 1)
        let configs = Fixture.proposals(&searcher, 2000)
        #expect(configs.count == 2000)
        #expect(configs.allSatisfy { space.validate($0) == nil })
        #expect(Set(configs).count == 2000)
    }

    @Test func aSmallDiscreteSpaceIsCoveredWithoutDuplicatesThenRepeatsRatherThanStopping() throws {
        let space = try Fixture.sixConfigs()
        for seed in UInt64(0)..<20 {
            var searcher = RandomSearcher(space: space, seed: seed)
            let six = Fixture.proposals(&searcher, 6)
            #expect(Set(six).count == 6, "seed \(seed)")
            guard case .config(let seventh) = searcher.suggest(pending: []) else {
                Issue.record("random search never reports .exhausted")
                return
            }
            #expect(six.contains(seventh))
        }
    }

    @Test func pendingConfigsFromElsewhereAreAvoided() throws {
        let space = try Fixture.sixConfigs()
        let all: [Config] = [0.0, 1.0].flatMap { a in
            ["x", "y", "z"].map { b in ["a": .number(a), "b": .string(b)] }
        }
        let warmStarts = Array(all.dropLast())
        var searcher = RandomSearcher(space: space, seed: 3)
        #expect(searcher.suggest(pending: warmStarts) == .config(all.last!))
    }

    @Test(arguments: [0, 1, 5, 6, 7, 40])
    func restoringTheFirstNProposalsContinuesExactlyWithProposalNPlusOne(_ n: Int) throws {
        for space in [try Fixture.conditional(), try Fixture.sixConfigs()] {
            var fresh = RandomSearcher(space: space, seed: 12)
            let run = Fixture.proposals(&fresh, n + 1)
            var restored = RandomSearcher(space: space, seed: 12)
            restored.restore(history: Fixture.history(Array(run.prefix(n))))
            #expect(restored.suggest(pending: []) == .config(run[n]))
        }
    }

    @Test func restoreIsExactWhenWarmStartsWerePendingButAreNotInTheHistory() throws {
        let space = try Fixture.sixConfigs()
        let warmStart: Config = ["a": .number(1), "b": .string("y")]
        var fresh = RandomSearcher(space: space, seed: 8)
        var run: [Config] = []
        for _ in 0..<4 {
            guard case .config(let c) = fresh.suggest(pending: [warmStart]) else { return }
            run.append(c)
        }
        #expect(!run.contains(warmStart))
        var restored = RandomSearcher(space: space, seed: 8)
        restored.restore(history: Fixture.history(Array(run.prefix(3))))
        #expect(restored.suggest(pending: [warmStart]) == .config(run[3]))
    }

    @Test func restoreReplacesStateRatherThanAddingToIt() throws {
        let space = try Fixture.conditional()
        var searcher = RandomSearcher(space: space, seed: 2)
        let run = Fixture.proposals(&searcher, 10)
        searcher.restore(history: Fixture.history(Array(run.prefix(3))))
        #expect(searcher.suggest(pending: []) == .config(run[3]))
        searcher.restore(history: [])
        #expect(searcher.suggest(pending: []) == .config(run[0]))
    }

    @Test func resultsDoNotChangeWhatRandomSearchProposes() throws {
        let space = try Fixture.conditional()
        var quiet = RandomSearcher(space: space, seed: 5)
        var told = RandomSearcher(space: space, seed: 5)
        let first = Fixture.proposals(&told, 1)[0]
        told.observe(config: first, value: 0.5, state: .complete)
        _ = Fixture.proposals(&quiet, 1)
        #expect(Fixture.proposals(&quiet, 5) == Fixture.proposals(&told, 5))
    }
}

@Suite struct QuasiRandomSearch {
    static func unitCube(_ dimensions: Int) throws -> SearchSpace {
        try Fixture.space((0..<dimensions).map { Parameter(name: "x\($0)", domain: .uniform(low: 0, high: 1, q: nil)) })
    }

    @Test func sobolSearchStratifiesEveryParameter() throws {
        var searcher = QuasiRandomSearcher(space: try Self.unitCube(5), seed: 4, sequence: .sobol)
        let configs = Fixture.proposals(&searcher, 256)
        for d in 0..<5 {
            #expect(Set(configs.map { Int($0["x\(d)"]!.double! * 256) }).count == 256)
        }
    }

    @Test func haltonSearchStratifiesEveryParameterInItsBase() throws {
        var searcher = QuasiRandomSearcher(space: try Self.unitCube(3), seed: 4, sequence: .halton)
        let configs = Fixture.proposals(&searcher, 625)
        for (d, count) in [(0, 512), (1, 243), (2, 625)] {
            #expect(Set(configs.prefix(count).map { Int($0["x\(d)"]!.double! * Double(count)) }).count == count)
        }
    }

    @Test func parametersBeyondTheDirectionNumbersAreFilledWithRandomCoordinates() throws {
        let space = try Self.unitCube(70)
        var a = QuasiRandomSearcher(space: space, seed: 1)
        var b = QuasiRandomSearcher(space: space, seed: 1)
        let configs = Fixture.proposals(&a, 64)
        #expect(configs == Fixture.proposals(&b, 64))
        #expect(configs.allSatisfy { $0.count == 70 && space.validate($0) == nil })
        #expect(Set(configs.map { $0["x69"]! }).count == 64)
        let sobol = SobolSequence(dimensions: 64, scrambleSeed: 1)
        #expect(configs[9]["x63"] == .number(sobol.point(9)[63]), "the first 64 follow the sequence")
    }

    @Test func sameSeedRepeatsAndOtherSeedsDiffer() throws {
        for sequence in QuasiRandomSequence.allCases {
            let space = try Fixture.conditional()
            var a = QuasiRandomSearcher(space: space, seed: 1, sequence: sequence)
            var b = QuasiRandomSearcher(space: space, seed: 1, sequence: sequence)
            var c = QuasiRandomSearcher(space: space, seed: 2, sequence: sequence)
            let first = Fixture.proposals(&a, 30)
            #expect(first == Fixture.proposals(&b, 30))
            #expect(first != Fixture.proposals(&c, 30))
            #expect(first.allSatisfy { space.validate($0) == nil })
        }
    }

    @Test(arguments: [0, 1, 6, 33])
    func restoringTheFirstNProposalsContinuesExactlyWithProposalNPlusOne(_ n: Int) throws {
        for sequence in QuasiRandomSequence.allCases {
            for space in [try Fixture.conditional(), try Fixture.sixConfigs()] {
                var fresh = QuasiRandomSearcher(space: space, seed: 12, sequence: sequence)
                let run = Fixture.proposals(&fresh, n + 1)
                var restored = QuasiRandomSearcher(space: space, seed: 12, sequence: sequence)
                restored.restore(history: Fixture.history(Array(run.prefix(n))))
                #expect(restored.suggest(pending: []) == .config(run[n]), "\(sequence)")
            }
        }
    }

    @Test func aSmallDiscreteSpaceIsCoveredWithoutDuplicates() throws {
        for sequence in QuasiRandomSequence.allCases {
            var searcher = QuasiRandomSearcher(space: try Fixture.sixConfigs(), seed: 0, sequence: sequence)
            #expect(Set(Fixture.proposals(&searcher, 6)).count == 6)
        }
    }
}
