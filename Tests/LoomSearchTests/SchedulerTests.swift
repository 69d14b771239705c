import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

@Suite struct Schedulers {
    @Test func fifoLetsEveryTrialRunToCompletion() throws {
        var scheduler = makeScheduler(SchedulerSpec(), space: try Fixture.conditional(), mode: .min, seed: 1)
        #expect(scheduler is FIFOScheduler)
        #expect(scheduler.onFreeSlot(mayCreate: true) == .new)
        #expect(scheduler.onTrialAdd(trial: 1, config: [:]) == nil)
        #expect(scheduler.onResult(trial: 1, time: 1, value: 0.3) == .continue)
        #expect(scheduler.onAttemptEnd(trial: 1, time: 2, value: 0.2) == .continue)
        scheduler.onTrialRemove(trial: 1)
        #expect(scheduler.onFreeSlot(mayCreate: false) == .wait)
        #expect(scheduler.milestones.isEmpty && scheduler.takeAbandoned().isEmpty)
    }

    @Test func theSpecChoosesTheScheduler() throws {
        let space = try Fixture.conditional()
        func make(_ spec: SchedulerSpec) -> any Scheduler { makeScheduler(spec, space: space, mode: .max, seed: 3) }
        #expect((make(SchedulerSpec(kind: .asha)) as? ASHAScheduler)?.variant == .stopping)
        #expect((make(SchedulerSpec(kind: .asha, type: .promotion)) as? ASHAScheduler)?.variant == .promotion)
        #expect(make(SchedulerSpec(kind: .hyperband)) is HyperbandScheduler)
        #expect(make(SchedulerSpec(kind: .medianStopping)) is MedianStoppingScheduler)
        #expect(make(SchedulerSpec(kind: .pbt)) is PBTScheduler)
    }

    @Test func rungLevelsStopBelowMaxTAndPercentilesInterpolateLikeNumPy() {
        #expect(rungLevels(grace: 1, eta: 3, maxT: 9, bracket: 0) == [1, 3])
        #expect(rungLevels(grace: 1, eta: 3, maxT: 27, bracket: 1) == [3, 9])
        #expect(rungLevels(grace: 1, eta: 3, maxT: 9, bracket: 2).isEmpty)
        #expect(rungLevels(grace: 2, eta: 2, maxT: 10, bracket: 0) == [2, 4, 8])
        func rung(_ scores: [Double]) -> ASHAScheduler.Rung {
            var rung = ASHAScheduler.Rung(level: 1)
            for (i, score) in scores.enumerated() { rung.record(i, score: score) }
            return rung
        }
        #expect(rung([]).percentile(50) == nil)
        #expect(rung([3, 1, 2, 4]).percentile(50) == 2.5)
        #expect(rung([1, 2]).percentile(75) == 1.75)
        #expect(rung([5]).percentile(66) == 5)
        let tied = rung([2, 5, 2, 5])
        #expect(tied.ranked.map(\.trial) == [1, 3, 0, 2], "best first, ties in arrival order")
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
