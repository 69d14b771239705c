import Foundation
import LoomModel
import LoomWire

/// Standard multi-objective test problems (all objectives minimised) for the multi-objective
/// benchmark (`hyperloom bench multiobjective`) and the tests that compare searchers. Each takes
/// the config its `space` describes (parameters `x0`, `x1`, …, uniform floats).
public struct MultiObjectiveProblem: Sendable {
    public let name: String
    public let space: SearchSpace
    public let objectives: Int
    /// The hypervolume reference point (every objective minimised).
    public let reference: [Double]
    private let function: @Sendable ([Double]) -> (values: [Double], constraints: [Double])

    /// The objective values and the constraint values (≤ 0 satisfied, Optuna's convention) at a config.
    public func evaluate(_ config: Config) -> (values: [Double], constraints: [Double]) {
        function(space.parameters.map { config[$0.name]?.double ?? .nan })
    }

    /// Whether every constraint value is ≤ 0, and the sum of the positive ones.
    public static func feasibility(_ constraints: [Double]) -> (feasible: Bool, violation: Double) {
        (constraints.allSatisfy { $0 <= 0 }, constraints.reduce(0) { $0 + max(0, $1) })
    }

    init(name: String, bounds: [(Double, Double)], objectives: Int, reference: [Double],
         function: @escaping @Sendable ([Double]) -> (values: [Double], constraints: [Double])) {
        self.name = name
        self.objectives = objectives
        self.reference = reference
        self.function = function
        // Names are distinct and unconditional, so the space is valid.
        space = try! SearchSpace(bounds.enumerated().map { i, b in
            Parameter(name: "x\(i)", domain: .uniform(low: b.0, high: b.1, q: nil))
        })
    }

    /// ZDT1 (Zitzler, Deb, Thiele 2000): convex front f₂ = 1 − √f₁; `n` variables in [0, 1].
    public static func zdt1(n: Int = 30) -> MultiObjectiveProblem {
        MultiObjectiveProblem(name: "zdt1", bounds: Array(repeating: (0, 1), count: n), objectives: 2, reference: [1.1, 11]) { x in
            let g = 1 + 9 * x.dropFirst().reduce(0, +) / Double(x.count - 1)
            return ([x[0], g * (1 - (x[0] / g).squareRoot())], [])
        }
    }

    /// ZDT2: concave front f₂ = 1 − f₁²; `n` variables in [0, 1].
    public static func zdt2(n: Int = 30) -> MultiObjectiveProblem {
        MultiObjectiveProblem(name: "zdt2", bounds: Array(repeating: (0, 1), count: n), objectives: 2, reference: [1.1, 11]) { x in
            let g = 1 + 9 * x.dropFirst().reduce(0, +) / Double(x.count - 1)
            return ([x[0], g * (1 - (x[0] / g) * (x[0] / g))], [])
        }
    }

    /// DTLZ2 (Deb et al. 2002) with 3 objectives: the front is the unit sphere's positive octant;
    /// `n` variables in [0, 1] (n − 2 of them in g).
    public static func dtlz2(n: Int = 12) -> MultiObjectiveProblem {
        MultiObjectiveProblem(name: "dtlz2", bounds: Array(repeating: (0, 1), count: n), objectives: 3,
                              reference: [3.5, 3.5, 3.5]) { x in
            let g = x.dropFirst(2).reduce(0) { $0 + ($1 - 0.5) * ($1 - 0.5) }
            let (a, b) = (x[0] * Double.pi / 2, x[1] * Double.pi / 2)
            return ([(1 + g) * cos(a) * cos(b), (1 + g) * cos(a) * sin(b), (1 + g) * sin(a)], [])
        }
    }

    /// Binh and Korn (1997): two objectives, two constraints, x ∈ [0, 5], y ∈ [0, 3].
    public static let bnh = MultiObjectiveProblem(name: "bnh", bounds: [(0, 5), (0, 3)], objectives: 2, reference: [140, 50]) { x in
        let f1 = 4 * x[0] * x[0] + 4 * x[1] * x[1]
        let f2 = (x[0] - 5) * (x[0] - 5) + (x[1] - 5) * (x[1] - 5)
        let c1 = (x[0] - 5) * (x[0] - 5) + x[1] * x[1] - 25
        let c2 = 7.7 - ((x[0] - 8) * (x[0] - 8) + (x[1] + 3) * (x[1] + 3))
        return ([f1, f2], [c1, c2])
    }

    /// The problems of the benchmark, by name.
    public static let all: [String: MultiObjectiveProblem] = ["zdt1": zdt1(), "zdt2": zdt2(), "dtlz2": dtlz2(), "bnh": bnh]
}
