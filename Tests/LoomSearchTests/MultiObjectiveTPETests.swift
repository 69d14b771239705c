import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// TPE with several objectives (MOTPE's ranking) and with constraints (c-TPE).
@Suite struct MultiObjectiveTPETests {
    static let problem = MultiObjectiveProblem.zdt1(n: 4)

    static func tpe(_ problem: MultiObjectiveProblem = problem, seed: UInt64 = 4) -> TPESearcher {
        TPESearcher(space: problem.space, mode: .min, seed: seed, modes: Array(repeating: .min, count: problem.objectives))
    }

    @Test func theFrontRanksFirstThenTheGreedyHypervolumeSubset() {
        var tpe = Self.tpe()
        // (0, 1) and (1, 0) bound the front; (0.5, 0.5) adds the most between them; (0.9, 0.9) is dominated.
        let points: [[Double]] = [[0.9, 0.9], [0, 1], [0.5, 0.5], [1, 0], [0.45, 0.95]]
        for (i, losses) in points.enumerated() {
            tpe.observe(Evaluation(config: ["x0": .number(Double(i) / 10)], state: .complete, value: losses[0], values: losses))
        }
        // A good group of 1 cuts the front of four: the point with the largest box comes first.
        let order = tpe.objectiveRanking(goodCount: 1).map { $0.point!.losses }
        #expect(order.first == [0.5, 0.5])
        #expect(order.last == [0.9, 0.9])
        #expect(Set(order.prefix(4).map { $0 }) == Set([[0, 1], [0.5, 0.5], [1, 0], [0.45, 0.95]]))
        // A good group of 4 takes the whole front: its order is left as the book's.
        #expect(tpe.objectiveRanking(goodCount: 4).prefix(4).map { $0.point!.losses } == [[0, 1], [0.5, 0.5], [1, 0], [0.45, 0.95]])
    }

    @Test func severalObjectivesTakeOptunasMultiObjectiveDefaults() {
        let space = MultiObjectiveProblem.dtlz2(n: 4).space
        let several = TPESearcher(space: space, mode: .min, seed: 1, modes: [.min, .min, .min])
        #expect(several.groups == [[0], [1], [2], [3]])
        #expect(several.gammaCap == .max)
        let single = TPESearcher(space: space, mode: .min, seed: 1)
        #expect(single.groups == [[0, 1, 2, 3]])
        #expect(single.gammaCap == 25)
        var options = TPESearcher.Options()
        options.multivariate = true
        options.gammaCap = 7
        let chosen = TPESearcher(space: space, mode: .min, seed: 1, options: options, modes: [.min, .min, .min])
        #expect(chosen.groups == [[0, 1, 2, 3]])
        #expect(chosen.gammaCap == 7)
    }

    @Test func infeasibleResultsRankAfterEveryFeasibleOne() {
        let space = MultiObjectiveProblem.bnh.space
        var tpe = TPESearcher(space: space, mode: .min, seed: 1)
        tpe.observe(Evaluation(config: ["x0": .number(1), "x1": .number(1)], state: .complete, value: 0.1, values: [0.1], feasible: false, violation: 2))
        tpe.observe(Evaluation(config: ["x0": .number(2), "x1": .number(1)], state: .complete, value: 5, values: [5]))
        tpe.observe(Evaluation(config: ["x0": .number(3), "x1": .number(1)], state: .complete, value: 0.2, values: [0.2], feasible: false, violation: 1))
        #expect(tpe.ranksByObjectives)
        #expect(tpe.objectiveRanking(goodCount: 1).map(\.loss) == [5, 0.2, 0.1])
    }

    @Test func withoutConstraintsASingleObjectiveKeepsTheValueRanking() {
        var tpe = TPESearcher(space: Self.problem.space, mode: .min, seed: 1)
        tpe.observe(Evaluation(config: ["x0": .number(0.5)], state: .complete, value: 1, values: [1]))
        #expect(!tpe.ranksByObjectives)
    }

    @Test func restoringTheEvaluationsContinuesExactly() {
        var live = Self.tpe()
        var history: [Evaluation] = []
        for _ in 0..<30 {
            guard case .config(let c) = live.suggest(pending: []) else { return }
            let values = Self.problem.evaluate(c).values
            let evaluation = Evaluation(config: c, state: .complete, value: values[0], values: values)
            live.observe(evaluation)
            history.append(evaluation)
        }
        var restored = Self.tpe()
        restored.restore(evaluations: history)
        #expect(live.suggest(pending: []) == restored.suggest(pending: []))
    }

    @Test func motpeBeatsRandomSearchOnZDT1() {
        func hypervolume(_ searcher: inout some Searcher) -> Double {
            var front: [[Double]] = []
            for _ in 0..<120 {
                guard case .config(let c) = searcher.suggest(pending: []) else { break }
                let values = Self.problem.evaluate(c).values
                searcher.observe(Evaluation(config: c, state: .complete, value: values[0], values: values))
                front.append(values)
            }
            return Pareto.hypervolume(Pareto.nonDominated(front), reference: Self.problem.reference)
        }
        var tpe = Self.tpe(seed: 2)
        var random = RandomSearcher(space: Self.problem.space, seed: 2)
        let (modelled, drawn) = (hypervolume(&tpe), hypervolume(&random))
        #expect(modelled > drawn, "MOTPE \(modelled), random \(drawn)")
    }
}
