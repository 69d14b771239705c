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
