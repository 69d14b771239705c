import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// Non-dominated sorting with constraint-dominance, crowding distance and hypervolume.
@Suite struct ParetoTests {
    @Test func ranksFollowTheFrontsThenTheViolations() {
        let points: [Pareto.Point] = [
            .init(losses: [1, 4]), .init(losses: [2, 2]), .init(losses: [4, 1]),  // front 0
            .init(losses: [3, 3]), .init(losses: [2, 5]),                           // front 1
            .init(losses: [4, 4]),                                                  // front 2
            .init(losses: [0, 0], feasible: false, violation: 2),                    // after every feasible point
            .init(losses: [9, 9], feasible: false, violation: 0.5),
            .init(losses: [0, 9], feasible: false, violation: 0.5),
        ]
        #expect(Pareto.ranks(points) == [0, 0, 0, 1, 1, 2, 4, 3, 3])
    }

    @Test func constraintDominanceOrdersFeasibilityThenViolationThenPareto() {
        let good = Pareto.Point(losses: [5, 5])
        let better = Pareto.Point(losses: [4, 5])
        let slightlyOff = Pareto.Point(losses: [0, 0], feasible: false, violation: 0.1)
        let farOff = Pareto.Point(losses: [0, 0], feasible: false, violation: 3)
        #expect(Pareto.constraintDominates(good, slightlyOff))
        #expect(!Pareto.constraintDominates(slightlyOff, good))
        #expect(Pareto.constraintDominates(slightlyOff, farOff))
        #expect(Pareto.constraintDominates(better, good))
        #expect(!Pareto.constraintDominates(good, good))
    }

    @Test func crowdingDistanceGivesTheExtremesInfinity() {
        let front: [[Double]] = [[0, 4], [1, 2], [3, 1], [4, 0]]
        let d = Pareto.crowdingDistances(front)
        #expect(d[0] == .infinity && d[3] == .infinity)
        #expect(abs(d[1] - (3.0 / 4 + 3.0 / 4)) < 1e-12)
        #expect(abs(d[2] - (3.0 / 4 + 2.0 / 4)) < 1e-12)
    }

    @Test func hypervolumeIsExactIn2DAnd3D() {
        // Two boxes of the reference (4, 4): [1,4]×[3,4] ∪ [2,4]×[1,4] = 3 + 6 − 2 (overlap) = 7; a
        // dominated point and one outside the reference add nothing.
        #expect(Pareto.hypervolume([[1, 3], [2, 1], [3, 3], [5, 0]], reference: [4, 4]) == 7)
        // In 3-D, reference (2, 2, 2): the box of (1, 1, 1) is 1, that of (0, 0, 1.5) is 2, they
        // overlap in [1, 2]² × [1.5, 2] = 0.5.
        #expect(abs(Pareto.hypervolume([[1, 1, 1], [0, 0, 1.5]], reference: [2, 2, 2]) - 2.5) < 1e-12)
        #expect(Pareto.hypervolume([], reference: [1, 1]) == 0)
    }

    /// Fronts and selections printed by Optuna 5.1's `_solve_hssp` with its
    /// `_get_reference_point` (the sphere and curve points were drawn with numpy seed 7).
    @Test func greedySubsetSelectionMatchesOptunas() {
        let sphere: [[Double]] = [[0.336, 0.934, 0.12], [0.325, 0.7, 0.635], [0.023, 0.026, 0.999], [0.701, 0.08, 0.708],
                                  [0.645, 0.645, 0.409], [0.146, 0.46, 0.876], [0.822, 0.085, 0.563], [0.127, 0.89, 0.437],
                                  [0.716, 0.616, 0.329], [0.108, 0.004, 0.994], [0.046, 0.585, 0.81], [0.609, 0.71, 0.354]]
        #expect(Pareto.greedySubset(sphere, count: 5) == [10, 2, 11, 3, 7])
        let curve: [[Double]] = [[0.133, 0.635], [0.205, 0.547], [0.372, 0.39], [0.468, 0.316], [0.477, 0.309],
                                 [0.491, 0.299], [0.523, 0.277], [0.669, 0.182], [0.75, 0.134], [0.909, 0.047]]
        #expect(Pareto.greedySubset(curve, count: 4) == [4, 8, 1, 2])
    }

    @Test func greedySubsetTakesDistinctPointsBeforeDuplicates() {
        let front: [[Double]] = [[0, 1], [0, 1], [1, 0], [1, 0]]
        #expect(Set(Pareto.greedySubset(front, count: 3)) == [0, 1, 2])
        #expect(Set(Pareto.greedySubset(front, count: 2)) == [0, 2])
        #expect(Pareto.greedySubset(front, count: 4) == [0, 1, 2, 3])
        #expect(Pareto.greedySubset(front, count: 0) == [])
    }

    @Test func lossesTurnMaximisedObjectivesAround() {
        #expect(Pareto.losses([0.9, 20], modes: [.max, .min]) == [-0.9, 20])
    }

    @Test func theTestProblemsHaveTheirKnownFronts() {
        let zdt1 = MultiObjectiveProblem.zdt1(n: 5)
        let onFront: Config = ["x0": .number(0.25), "x1": .number(0), "x2": .number(0), "x3": .number(0), "x4": .number(0)]
        #expect(zdt1.evaluate(onFront).values == [0.25, 0.5])
        let bnh = MultiObjectiveProblem.bnh
        #expect(MultiObjectiveProblem.feasibility(bnh.evaluate(["x0": .number(5), "x1": .number(3)]).constraints) == (true, 0))
        // (0, 3) is 9 outside the first constraint's disc.
        #expect(MultiObjectiveProblem.feasibility(bnh.evaluate(["x0": .number(0), "x1": .number(3)]).constraints) == (false, 9))
    }
}
