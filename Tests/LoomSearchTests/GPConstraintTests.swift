import Foundation
import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// GP-BO with constraints: the probability of feasibility steers proposals into the feasible
/// region, the incumbent is the best feasible result, and a restore continues exactly.
@Suite struct GPConstraintTests {
    /// Minimise `x + y` on [0, 1]² subject to `x + y ≥ 0.8` (constraint value `0.8 − x − y`):
    /// the unconstrained minimum (0, 0) is infeasible, the constrained one is the line `x + y = 0.8`.
    static func evaluation(_ config: Config) -> Evaluation {
        let (x, y) = (config["x"]!.double!, config["y"]!.double!)
        let c = 0.8 - x - y
        return Evaluation(config: config, state: .complete, value: x + y, values: [x + y], feasible: c <= 0, violation: max(0, c),
                          constraints: [c])
    }

    static func space() throws -> SearchSpace {
        try Fixture.space(["x", "y"].map { Parameter(name: $0, domain: .uniform(low: 0, high: 1, q: nil)) })
    }

    /// `count` sequential trials; `modelled: false` hides the constraint values from the
    /// searcher (it sees only which results are feasible).
    static func run(_ searcher: inout GPSearcher, _ count: Int, modelled: Bool = true) -> [Evaluation] {
        (0..<count).compactMap { _ in
            guard case .config(let config) = searcher.suggest(pending: []) else { return nil }
            var evaluation = evaluation(config)
            if !modelled { evaluation.constraints = [] }
            searcher.observe(evaluation)
            return evaluation
        }
    }

    @Test func modelProposalsFollowTheFeasibleBoundary() throws {
        var gp = GPSearcher(space: try Self.space(), mode: .min, seed: 3)
        let evaluations = Self.run(&gp, 24)
        let modelled = evaluations.dropFirst(gp.startupTrials).compactMap(\.value)
        let near = modelled.filter { abs($0 - 0.8) < 0.05 }
        #expect(near.count * 4 >= modelled.count * 3, "\(modelled)")
        let best = evaluations.filter(\.feasible).compactMap(\.value).min() ?? .infinity
        #expect(best < 0.81, "best feasible \(best)")
        // Without the constraint's model, expected improvement chases (0, 0), deep in the infeasible region.
        var blind = GPSearcher(space: try Self.space(), mode: .min, seed: 3)
        let chased = Self.run(&blind, 24, modelled: false).dropFirst(blind.startupTrials).compactMap(\.value)
        #expect(chased.filter { $0 < 0.6 }.count * 2 >= chased.count, "\(chased)")
    }

    @Test func withoutAFeasibleResultTheFeasibilityAloneLeads() throws {
        var gp = GPSearcher(space: try Self.space(), mode: .min, seed: 5)
        // Four infeasible startup results, all near the origin (x + y < 0.4).
        for (x, y) in [(0.05, 0.1), (0.2, 0.1), (0.1, 0.25), (0.3, 0.05)] {
            gp.observe(Self.evaluation(["x": .number(x), "y": .number(y)]))
        }
        guard case .config(let next) = gp.suggest(pending: []) else { Issue.record("no config"); return }
        // Not a point near the best infeasible value: a point likely to be feasible.
        #expect(Self.evaluation(next).feasible, "\(next)")
    }

    @Test func feasibleResultsRankFirstThenByViolation() throws {
        var gp = GPSearcher(space: try Self.space(), mode: .min, seed: 1)
        for (x, y) in [(0.1, 0.1), (0.5, 0.5), (0.3, 0.2), (0.45, 0.4)] {
            gp.observe(Self.evaluation(["x": .number(x), "y": .number(y)]))
        }
        let order = gp.feasibleFirst(gp.book.ranked).map { $0.loss! }
        #expect(order.map { ($0 * 100).rounded() / 100 } == [0.85, 1.0, 0.5, 0.2])
    }

    @Test func restoringTheEvaluationsContinuesExactly() throws {
        var live = GPSearcher(space: try Self.space(), mode: .min, seed: 9)
        let history = Self.run(&live, 12)
        let pending: [Config] = [["x": .number(0.6), "y": .number(0.3)]]
        var restored = GPSearcher(space: try Self.space(), mode: .min, seed: 9)
        restored.restore(evaluations: history)
        #expect(live.suggest(pending: pending) == restored.suggest(pending: pending))
        // Results arriving in another order make the same model.
        var reordered = GPSearcher(space: try Self.space(), mode: .min, seed: 9)
        reordered.restore(evaluations: history.map { Evaluation(config: $0.config, state: .running, value: nil) })
        for evaluation in history.reversed() { reordered.observe(evaluation) }
        var again = GPSearcher(space: try Self.space(), mode: .min, seed: 9)
        again.restore(evaluations: history)
        #expect(reordered.suggest(pending: []) == again.suggest(pending: []))
    }
}
