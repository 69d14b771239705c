import Foundation
import LoomModel
import LoomWire

/// Standard synthetic minimisation problems with known optima, for the sample-efficiency
/// benchmark (`hyperloom bench efficiency`) and the tests that compare searchers. Each takes
/// the config its `space` describes (parameters `x0`, `x1`, …, uniform floats).
public struct BenchmarkFunction: Sendable {
    public let name: String
    public let space: SearchSpace
    /// The global minimum of `evaluate`.
    public let minimum: Double
    private let function: @Sendable ([Double]) -> Double

    /// The function's value at a config of `space`.
    public func evaluate(_ config: Config) -> Double {
        function(space.parameters.map { config[$0.name]?.double ?? .nan })
    }

    init(name: String, bounds: [(Double, Double)], minimum: Double, function: @escaping @Sendable ([Double]) -> Double) {
        self.name = name
        self.minimum = minimum
        self.function = function
        // Names are distinct and unconditional, so the space is valid.
        space = try! SearchSpace(bounds.enumerated().map { i, b in
            Parameter(name: "x\(i)", domain: .uniform(low: b.0, high: b.1, q: nil))
        })
    }

    /// Branin–Hoo, 2-d on [−5, 10] × [0, 15]; minimum 0.397887 at three points.
    public static let branin = BenchmarkFunction(name: "branin", bounds: [(-5, 10), (0, 15)], minimum: 0.397887357729739) { x in
        let (a, b, c) = (1.0, 5.1 / (4 * Double.pi * Double.pi), 5 / Double.pi)
        let (r, s, t) = (6.0, 10.0, 1 / (8 * Double.pi))
        let u = x[1] - b * x[0] * x[0] + c * x[0] - r
        return a * u * u + s * (1 - t) * cos(x[0]) + s
    }

    /// Hartmann, 6-d on [0, 1]⁶; minimum −3.32237.
    public static let hartmann6 = BenchmarkFunction(name: "hartmann6", bounds: Array(repeating: (0, 1), count: 6),
                                                    minimum: -3.322368011415515) { x in
        let alpha = [1.0, 1.2, 3.0, 3.2]
        let a: [[Double]] = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                             [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
        let p: [[Double]] = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
                             [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]
        var sum = 0.0
        for i in 0..<4 {
            var inner = 0.0
            for j in 0..<6 { inner += a[i][j] * (x[j] - p[i][j]) * (x[j] - p[i][j]) }
            sum += alpha[i] * exp(-inner)
        }
        return -sum
    }

    /// Levy, 10-d on [−10, 10]¹⁰; minimum 0 at (1, …, 1).
    public static let levy10 = BenchmarkFunction(name: "levy10", bounds: Array(repeating: (-10, 10), count: 10), minimum: 0) { x in
        let w = x.map { 1 + ($0 - 1) / 4 }
        let first = pow(sin(Double.pi * w[0]), 2)
        let last = (w[w.count - 1] - 1) * (w[w.count - 1] - 1) * (1 + pow(sin(2 * Double.pi * w[w.count - 1]), 2))
        var middle = 0.0
        for i in 0..<(w.count - 1) {
            middle += (w[i] - 1) * (w[i] - 1) * (1 + 10 * pow(sin(Double.pi * w[i] + 1), 2))
        }
        return first + middle + last
    }

    /// Ackley, 10-d on [−32.768, 32.768]¹⁰; minimum 0 at the origin.
    public static let ackley10 = BenchmarkFunction(name: "ackley10", bounds: Array(repeating: (-32.768, 32.768), count: 10), minimum: 0) { x in
        let d = Double(x.count)
        let squares = x.reduce(0) { $0 + $1 * $1 } / d
        let cosines = x.reduce(0) { $0 + cos(2 * Double.pi * $1) } / d
        return -20 * exp(-0.2 * squares.squareRoot()) - exp(cosines) + 20 + M_E
    }

    /// The sphere `Σ xᵢ²` in `dimensions` dimensions on [−5, 5]; minimum 0 at the origin.
    public static func sphere(_ dimensions: Int) -> BenchmarkFunction {
        BenchmarkFunction(name: "sphere\(dimensions)", bounds: Array(repeating: (-5, 5), count: dimensions), minimum: 0) { x in
            x.reduce(0) { $0 + $1 * $1 }
        }
    }

    /// The functions of `hyperloom bench efficiency`, 2 to 10 dimensions.
    public static let standard: [BenchmarkFunction] = [.branin, .hartmann6, .levy10, .ackley10]
}

/// Runs a searcher sequentially on a benchmark function for `trials` trials (one at a time, no
/// pending trials) and returns the best value after each trial.
public func bestValues(of searcher: inout any Searcher, on function: BenchmarkFunction, trials: Int) -> [Double] {
    var best = Double.infinity
    var trace: [Double] = []
    for _ in 0..<trials {
        guard case .config(let config) = searcher.suggest(pending: []) else { break }
        let value = function.evaluate(config)
        searcher.observe(config: config, value: value, state: .complete)
        best = min(best, value)
        trace.append(best)
    }
    return trace
}
