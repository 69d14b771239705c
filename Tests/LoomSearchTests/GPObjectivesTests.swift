import Foundation
import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// GP-BO with several objectives (ParEGO): each proposal scalarises the objectives with fresh
/// weights, the run spreads along the front, and a restore continues exactly.
@Suite struct GPObjectivesTests {
    static let problem = MultiObjectiveProblem.zdt1(n: 4)

    static func gp(seed: UInt64) -> GPSearcher {
        GPSearcher(space: problem.space, mode: .min, seed: seed, modes: [.min, .min])
    }

    static func evaluation(_ config: Config) -> Evaluation {
        let values = problem.evaluate(config).values
        return Evaluation(config: config, state: .complete, value: values[0], values: values)
    }

    static func run(_ searcher: inout some Searcher, _ count: Int) -> [Evaluation] {
        (0..<count).compactMap { _ in
            guard case .config(let config) = searcher.suggest(pending: []) else { return nil }
            let evaluation = evaluation(config)
            searcher.observe(evaluation)
            return evaluation
        }
    }

    static func hypervolume(_ evaluations: [Evaluation]) -> Double {
        Pareto.hypervolume(Pareto.nonDominated(evaluations.compactMap(\.values)), reference: problem.reference)
    }

    @Test func theScalarisationIsAChebyshevOfNormalisedLosses() {
        var gp = Self.gp(seed: 1)
        for (i, values) in [[0.0, 4.0], [1.0, 0.0], [0.5, 2.0]].enumerated() {
            gp.observe(Evaluation(config: ["x0": .number(Double(i) / 4)], state: .complete, value: values[0], values: values))
        }
        var random = Xoshiro256StarStar(seed: 1, stream: SearchStream.model(0))
        var copy = random
        let draws = [-log(copy.unit()), -log(copy.unit())]
        let weights = draws.map { $0 / draws.reduce(0, +) }
        let (ordered, ranked) = gp.scalarisedResults(&random)
        // (0.5, 2) normalises to (0.5, 0.5).
        let expected = max(weights[0], weights[1]) * 0.5 + GPSearcher.augmentation * 0.5
        #expect(abs(ordered[2].loss! - expected) < 1e-12)
        #expect(ranked.count == 3 && ranked[0].loss! <= ranked[1].loss! && ranked[1].loss! <= ranked[2].loss!)
    }

    @Test func parEGOBeatsRandomSearchOnZDT1() {
        var gp = Self.gp(seed: 2)
        var random = RandomSearcher(space: Self.problem.space, seed: 2)
        let (modelled, drawn) = (Self.hypervolume(Self.run(&gp, 40)), Self.hypervolume(Self.run(&random, 40)))
        #expect(modelled > drawn, "ParEGO \(modelled), random \(drawn)")
    }

    @Test func restoringTheEvaluationsContinuesExactly() {
        var live = Self.gp(seed: 6)
        let history = Self.run(&live, 10)
        var restored = Self.gp(seed: 6)
        restored.restore(evaluations: history)
        let pending: [Config] = [history[0].config.merging(["x0": .number(0.42)]) { $1 }]
        #expect(live.suggest(pending: pending) == restored.suggest(pending: pending))
    }
}
