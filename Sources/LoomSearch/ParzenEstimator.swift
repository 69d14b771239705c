import Foundation

/// A Parzen estimator (kernel mixture) over a group of model axes, as in Optuna's TPE: one
/// component per observation plus a prior component, each a product of a truncated normal on
/// [0, 1] per numeric axis and a smoothed one-hot distribution per categorical axis.
///
/// **Bandwidths** (unit coordinates, so every range is 1), Optuna's rules:
/// - univariate (one axis): the larger distance to the neighbouring centres, the bounds 0 and 1
///   counting as neighbours; without `considerEndpoints` the outermost kernels use their inner
///   neighbour only;
/// - multivariate: `0.2 · max(n, 1)^(−1/(d + 4))` on every axis (Scott's rule);
/// - then clipped into `[1 / min(100, n + 2), 1]` (Optuna's "magic clip"; `n + 1` kernels + 1).
/// The prior is `N(0.5, 1)` truncated to [0, 1], and uniform over categories.
///
/// **Categories.** Component `k` gives category `c` the weight `prior/C + [c = observed]`,
/// normalised (Optuna's rule); the prior component is uniform.
///
/// **Weights.** The observations' `weights` then `priorWeight`, normalised.
struct ParzenEstimator: Sendable {
    /// How many categories each axis of the group has; 0 for a numeric axis.
    let categoryCounts: [Int]
    let componentCount: Int
    /// Per component: log weight minus the log normalisers of its numeric kernels.
    private var base: [Double]
    private var cumulativeWeights: [Double]
    /// Per axis, per component (numeric axes; empty for categorical ones).
    private var mus: [[Double]]
    private var sigmas: [[Double]]
    /// Per axis, `component * count + category` (categorical axes; empty for numeric ones).
    private var categoryLogProbabilities: [[Double]]

    /// - Parameters:
    ///   - observations: one row of coordinates per observation, one per axis of the group
    ///     (numeric in [0, 1], categorical as an index).
    ///   - weights: one non-negative weight per observation.
    init(observations: [[Double]], weights: [Double], categoryCounts: [Int], priorWeight: Double,
         multivariate: Bool, considerEndpoints: Bool) {
        let n = observations.count
        let dimensions = categoryCounts.count
        self.categoryCounts = categoryCounts
        componentCount = n + 1
        let total = weights.reduce(0, +) + priorWeight
        let logWeights = (weights + [priorWeight]).map { log($0 / total) }
        var running = 0.0
        cumulativeWeights = (weights + [priorWeight]).map { running += $0 / total; return running }
        base = logWeights
        mus = Array(repeating: [], count: dimensions)
        sigmas = Array(repeating: [], count: dimensions)
        categoryLogProbabilities = Array(repeating: [], count: dimensions)
        let minSigma = 1 / min(100, Double(n) + 2)
        for axis in 0..<dimensions {
            let column = observations.map { $0[axis] }
            let count = categoryCounts[axis]
            if count > 0 {
                var table = [Double](repeating: 0, count: componentCount * count)
                for k in 0..<componentCount {
                    let observed = k < n ? Int(column[k]) : -1
                    let sum = k < n ? priorWeight + 1 : 1
                    for c in 0..<count {
                        let mass = k < n ? priorWeight / Double(count) + (c == observed ? 1 : 0) : 1 / Double(count)
                        table[k * count + c] = log(mass / (k < n ? sum : 1))
                    }
                }
                categoryLogProbabilities[axis] = table
                continue
            }
            var bandwidths = multivariate
                ? [Double](repeating: 0.2 * pow(Double(max(n, 1)), -1 / Double(dimensions + 4)), count: n)
                : Self.neighbourBandwidths(column, considerEndpoints: considerEndpoints)
            bandwidths = bandwidths.map { min(max($0, minSigma), 1) }
            mus[axis] = column + [0.5]
            sigmas[axis] = bandwidths + [1]
            for k in 0..<componentCount {
                let (mu, sigma) = (mus[axis][k], sigmas[axis][k])
                let mass = standardNormalCDF((1 - mu) / sigma) - standardNormalCDF(-mu / sigma)
                base[k] -= log(sigma * (2 * Double.pi).squareRoot() * max(mass, 1e-300))
            }
        }
    }

    /// Optuna's univariate rule (see the type's comment), for centres `mus` and the prior's 0.5.
    static func neighbourBandwidths(_ mus: [Double], considerEndpoints: Bool) -> [Double] {
        let withPrior = mus + [0.5]
        let order = withPrior.indices.sorted { withPrior[$0] != withPrior[$1] ? withPrior[$0] < withPrior[$1] : $0 < $1 }
        let points = [0.0] + order.map { withPrior[$0] } + [1.0]
        var sorted: [Double] = []
        for i in 1..<(points.count - 1) {
            let left: Double = points[i] - points[i - 1]
            let right: Double = points[i + 1] - points[i]
            sorted.append(max(left, right))
        }
        if !considerEndpoints && points.count >= 4 {
            sorted[0] = points[2] - points[1]
            sorted[sorted.count - 1] = points[points.count - 2] - points[points.count - 3]
        }
        var bandwidths = [Double](repeating: 0, count: withPrior.count)
        for (rank, index) in order.enumerated() { bandwidths[index] = sorted[rank] }
        return Array(bandwidths.prefix(mus.count))
    }

    /// A draw: a component by weight, then each axis from that component's kernel.
    func sample(_ random: inout Xoshiro256StarStar) -> [Double] {
        let u = random.unit()
        var k = cumulativeWeights.firstIndex { u < $0 } ?? componentCount - 1
        k = min(k, componentCount - 1)
        return categoryCounts.indices.map { axis in
            let count = categoryCounts[axis]
            if count > 0 {
                let v = random.unit()
                var sum = 0.0
                for c in 0..<count {
                    sum += exp(categoryLogProbabilities[axis][k * count + c])
                    if v < sum { return Double(c) }
                }
                return Double(count - 1)
            }
            return sampleTruncatedNormal(mu: mus[axis][k], sigma: sigmas[axis][k], &random)
        }
    }

    /// The log density at each point (rows of group coordinates).
    func logDensities(_ points: [[Double]]) -> [Double] {
        var terms = [Double](repeating: 0, count: componentCount)
        return points.map { point in
            terms.withUnsafeMutableBufferPointer { acc in
                base.withUnsafeBufferPointer { base in
                    for k in 0..<componentCount { acc[k] = base[k] }
                }
                for axis in categoryCounts.indices {
                    let x = point[axis]
                    let count = categoryCounts[axis]
                    if count > 0 {
                        let c = Int(x)
                        categoryLogProbabilities[axis].withUnsafeBufferPointer { table in
                            for k in 0..<componentCount { acc[k] += table[k * count + c] }
                        }
                    } else {
                        mus[axis].withUnsafeBufferPointer { mu in
                            sigmas[axis].withUnsafeBufferPointer { sigma in
                                for k in 0..<componentCount {
                                    let z = (x - mu[k]) / sigma[k]
                                    acc[k] -= 0.5 * z * z
                                }
                            }
                        }
                    }
                }
                return logSumExp(UnsafeBufferPointer(acc))
            }
        }
    }
}

/// `log Σ exp(xᵢ)`, shifted by the maximum so it neither overflows nor underflows.
func logSumExp(_ x: UnsafeBufferPointer<Double>) -> Double {
    var top = -Double.infinity
    for v in x where v > top { top = v }
    guard top.isFinite else { return top }
    var sum = 0.0
    for v in x { sum += exp(v - top) }
    return top + log(sum)
}

/// A draw from `N(mu, sigma²)` truncated to [0, 1], by inverting the distribution function.
func sampleTruncatedNormal(mu: Double, sigma: Double, _ random: inout Xoshiro256StarStar) -> Double {
    let low = standardNormalCDF(-mu / sigma)
    let high = standardNormalCDF((1 - mu) / sigma)
    let p = low + random.unit() * (high - low)
    let x = mu + sigma * standardNormalQuantile(min(max(p, 1e-300), 1 - 1e-16))
    return min(max(x, 0), 1.0.nextDown)
}
