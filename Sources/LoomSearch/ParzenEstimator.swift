import Foundation

/// A Parzen estimator (kernel mixture) over a group of model axes, as in Optuna 5.0's TPE: one
/// component per observation plus a prior component, each a product of a truncated normal on
/// [0, 1] per numeric axis and a smoothed one-hot distribution per categorical axis.
///
/// **Bandwidths** (unit coordinates, so every range is 1), Optuna 5.0's rule on every numeric
/// axis, univariate or not: the larger distance from an observation to its neighbours, the bounds
/// 0 and 1 counting as neighbours; without `considerEndpoints` the outermost observations use
/// their inner neighbour only; then clipped into `[1 / min(100, n + 2), 1]` (the "magic clip",
/// `n + 1` kernels plus one). The prior is `N(0.5, 1)` truncated to [0, 1], uniform over categories.
///
/// **Categories.** Component `k` gives category `c` the weight `prior/(n + 1) + [c = observed]`,
/// normalised (Optuna 5.0's rule).
///
/// **Weights.** The observations' `weights` then `priorWeight`, normalised; the prior alone
/// when there is no observation.
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
    ///   - columns: per axis of the group, the coordinate of every observation (numeric in
    ///     [0, 1], categorical as an index); all columns have one entry per observation.
    ///   - weights: one non-negative weight per observation.
    init(columns: [[Double]], weights: [Double], categoryCounts: [Int], priorWeight: Double,
         considerEndpoints: Bool) {
        let n = weights.count
        let dimensions = categoryCounts.count
        self.categoryCounts = categoryCounts
        componentCount = n + 1
        let mixture = n == 0 ? [1.0] : weights + [priorWeight]
        let total = mixture.reduce(0, +)
        let logWeights = mixture.map { log($0 / total) }
        var running = 0.0
        cumulativeWeights = mixture.map { running += $0 / total; return running }
        base = logWeights
        mus = Array(repeating: [], count: dimensions)
        sigmas = Array(repeating: [], count: dimensions)
        categoryLogProbabilities = Array(repeating: [], count: dimensions)
        let minSigma = 1 / min(100, Double(n) + 2)
        for axis in 0..<dimensions {
            let column = columns[axis]
            let count = categoryCounts[axis]
            if count > 0 {
                var table = [Double](repeating: 0, count: componentCount * count)
                for k in 0..<componentCount {
                    let observed = k < n ? Int(column[k]) : -1
                    let fill = priorWeight / Double(n + 1)
                    let sum = k < n ? fill * Double(count) + 1 : 1
                    for c in 0..<count {
                        let mass = k < n ? fill + (c == observed ? 1 : 0) : 1 / Double(count)
                        table[k * count + c] = log(mass / sum)
                    }
                }
                categoryLogProbabilities[axis] = table
                continue
            }
            let bandwidths = Self.neighbourBandwidths(column, considerEndpoints: considerEndpoints).map { min(max($0, minSigma), 1) }
            mus[axis] = column + [0.5]
            sigmas[axis] = bandwidths + [1]
            for k in 0..<componentCount {
                let (mu, sigma) = (mus[axis][k], sigmas[axis][k])
                // Beyond 9 σ on both sides the truncated mass is 1 to double precision.
                let inside = mu > 9 * sigma && 1 - mu > 9 * sigma
                let mass = inside ? 1 : standardNormalCDF((1 - mu) / sigma) - standardNormalCDF(-mu / sigma)
                base[k] -= log(sigma * (2 * Double.pi).squareRoot() * max(mass, 1e-300))
            }
        }
    }

    /// Optuna's neighbour rule before clipping (see the type's comment), for centres `mus` in
    /// [0, 1]. Equal centres are ranked by index (a stable sort).
    static func neighbourBandwidths(_ mus: [Double], considerEndpoints: Bool) -> [Double] {
        let count = mus.count
        guard count > 0 else { return [] }
        let order = radixArgsort(mus)
        var bandwidths = [Double](repeating: 0, count: count)
        // Sorted centres with the bounds around them: 0, mus[order[0]], …, mus[order[count − 1]], 1.
        var previous = 0.0
        for rank in 0..<count {
            let current = mus[order[rank]]
            let next = rank + 1 < count ? mus[order[rank + 1]] : 1
            bandwidths[order[rank]] = max(current - previous, next - current)
            previous = current
        }
        if !considerEndpoints && count >= 2 {
            bandwidths[order[0]] = mus[order[1]] - mus[order[0]]
            bandwidths[order[count - 1]] = mus[order[count - 1]] - mus[order[count - 2]]
        }
        return bandwidths
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

/// `log Σ exp(xᵢ)`, shifted by the maximum so it neither overflows nor underflows. Terms more
/// than 700 below the maximum are skipped: their sum is below 10⁻³⁰⁰ of it, and `exp` takes a
/// slow path on underflow.
func logSumExp(_ x: UnsafeBufferPointer<Double>) -> Double {
    var top = -Double.infinity
    for v in x where v > top { top = v }
    guard top.isFinite else { return top }
    var sum = 0.0
    for v in x where v - top > -700 { sum += exp(v - top) }
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
