import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

@Suite struct Schedulers {
    @Test func fifoLetsEveryTrialRunToCompletion() {
        var scheduler = makeScheduler(SchedulerSpec())
        #expect(scheduler is FIFOScheduler)
        #expect(scheduler.onReport(trial: 1, metrics: ["loss": .number(0.3), "epoch": .number(1)]) == .continue)
        scheduler.onComplete(trial: 1, value: 0.3)
        #expect(scheduler.onReport(trial: 2, metrics: [:]) == .continue)
    }
}

@Suite struct IncumbentTracking {
    @Test func keepsTheLowestValueWhenMinimising() {
        var incumbent = Incumbent(mode: .min)
        #expect(incumbent.best == nil)
        let offers = [(1, 0.5), (2, 0.7), (3, 0.1)].map { incumbent.offer(trial: $0, value: $1) }
        #expect(offers == [true, false, true])
        #expect(incumbent.best == Incumbent.Entry(trial: 3, value: 0.1))
    }

    @Test func keepsTheHighestValueWhenMaximising() {
        let results: [(trial: Int, value: Double?)] = [(1, 0.5), (2, 0.7), (3, 0.1)]
        let incumbent = Incumbent(mode: .max, results: results)
        #expect(incumbent.best == Incumbent.Entry(trial: 2, value: 0.7))
    }

    @Test func ignoresMissingAndNonFiniteValuesAndKeepsTheFirstOfEqualOnes() {
        var incumbent = Incumbent(mode: .min)
        let ignored = ([nil, .nan, -.infinity, .infinity] as [Double?]).map { incumbent.offer(trial: 9, value: $0) }
        #expect(ignored == [false, false, false, false])
        #expect(incumbent.best == nil)
        incumbent.offer(trial: 1, value: 2)
        let tie = incumbent.offer(trial: 2, value: 2)
        #expect(!tie)
        #expect(incumbent.best?.trial == 1)
    }
}

@Suite struct SearcherFactory {
    @Test func theSpecChoosesTheSearcher() throws {
        let space = try Fixture.conditional()
        #expect(makeSearcher(SearcherSpec(kind: .random, seed: 1), space: space, mode: .min, repeats: 1) is RandomSearcher)
        #expect(makeSearcher(SearcherSpec(kind: .grid, seed: 1), space: space, mode: .min, repeats: 3) is GridSearcher)
        let halton = makeSearcher(SearcherSpec(kind: .quasiRandom, seed: 1, sequence: "halton"), space: space, mode: .min, repeats: 1)
        #expect((halton as? QuasiRandomSearcher)?.sequence == .halton)
        let unknown = makeSearcher(SearcherSpec(kind: .quasiRandom, seed: 1, sequence: "faure"), space: space, mode: .min, repeats: 1)
        #expect((unknown as? QuasiRandomSearcher)?.sequence == .sobol)
        #expect((makeSearcher(SearcherSpec(kind: .grid), space: space, mode: .min, repeats: 3) as? GridSearcher)?.remaining == 3)
    }

    @Test func aSearcherWorksThroughTheExistential() throws {
        let space = try Fixture.conditional()
        var searcher = makeSearcher(SearcherSpec(kind: .random, seed: 4), space: space, mode: .min, repeats: 1)
        var direct = RandomSearcher(space: space, seed: 4)
        #expect(searcher.suggest(pending: []) == direct.suggest(pending: []))
    }
}
