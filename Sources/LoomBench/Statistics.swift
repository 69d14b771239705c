import Foundation

/// Order statistics of a sample, as the benchmarks quote them.
///
/// Percentiles use the nearest-rank definition (the smallest value with at least `p`% of the
/// sample at or below it), so a quoted p99 is always a value that was actually measured.
public struct Summary: Equatable, Sendable {
    public let count: Int
    public let min: Double
    public let p50: Double
    public let p90: Double
    public let p99: Double
    public let max: Double
    public let mean: Double

    /// nil for an empty sample.
    public init?(_ sample: [Double]) {
        guard !sample.isEmpty else { return nil }
        let sorted = sample.sorted()
        count = sorted.count
        min = sorted[0]
        max = sorted[sorted.count - 1]
        p50 = Self.percentile(sorted: sorted, 50)
        p90 = Self.percentile(sorted: sorted, 90)
        p99 = Self.percentile(sorted: sorted, 99)
        mean = sorted.reduce(0, +) / Double(sorted.count)
    }

    /// The nearest-rank `p`-th percentile (0 < p ≤ 100) of an ascending, non-empty sample.
    public static func percentile(sorted: [Double], _ p: Double) -> Double {
        precondition(!sorted.isEmpty && p > 0 && p <= 100, "percentile of an empty sample or p outside (0, 100]")
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank - 1))]
    }

    /// The median of the runs of a benchmark (the lower middle value for an even count: a
    /// figure that was measured, not an average of two).
    public static func median(_ runs: [Double]) -> Double {
        precondition(!runs.isEmpty, "median of no runs")
        return runs.sorted()[(runs.count - 1) / 2]
    }
}

/// The Mann–Whitney U test of two independent samples (Wilcoxon rank-sum), which the search
/// benchmarks use to say whether one searcher's regrets over a set of seeds are lower than
/// another's without assuming any distribution.
///
/// Ranks are mid-ranks over the pooled sample (ties share the mean of their ranks); the
/// statistic is approximated by a normal with the tie-corrected variance, which is accurate for
/// the sample sizes used (≥ 10 each).
public struct RankSumTest: Equatable, Sendable {
    /// `U` of the first sample: how many (first, second) pairs have the first value larger, ties
    /// counting one half.
    public let u: Double
    /// `(U − n₁n₂/2) / σ_U`; negative when the first sample tends to be smaller.
    public let z: Double

    /// nil when either sample is empty or every pooled value is equal (σ_U = 0).
    public init?(_ first: [Double], _ second: [Double]) {
        let n1 = Double(first.count), n2 = Double(second.count)
        guard n1 > 0, n2 > 0 else { return nil }
        let pooled = (first.map { ($0, 0) } + second.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        var rankSum = 0.0
        var tieTerm = 0.0
        var start = 0
        while start < pooled.count {
            var end = start
            while end + 1 < pooled.count && pooled[end + 1].0 == pooled[start].0 { end += 1 }
            let midRank = Double(start + end + 2) / 2
            let size = Double(end - start + 1)
            tieTerm += size * size * size - size
            for i in start...end where pooled[i].1 == 0 { rankSum += midRank }
            start = end + 1
        }
        let n = n1 + n2
        let variance = n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        guard variance > 0 else { return nil }
        u = rankSum - n1 * (n1 + 1) / 2
        z = (u - n1 * n2 / 2) / variance.squareRoot()
    }

    /// One-sided p-value of "the first sample tends to be larger than the second".
    public var pLarger: Double { 0.5 * erfc(z / 2.0.squareRoot()) }
    /// One-sided p-value of "the first sample tends to be smaller than the second".
    public var pSmaller: Double { 0.5 * erfc(-z / 2.0.squareRoot()) }
}
