import Foundation
import LoomModel

/// Ray Tune's median stopping rule (Golovin et al. 2017, Google Vizier).
///
/// **Rule.** A result of trial T at `time` ≥ `grace_period` is judged against the other trials
/// whose latest result is at `time` or later (running or finished); with at least
/// `min_samples_required` of them, T stops when its best score so far is below the median of
/// their running averages (the mean of each one's scores at times ≤ `time`). The median of an
/// even count is the mean of the middle two. Scores are values on the higher-is-better scale.
/// Results are kept for every trial, finished or not: they are the reference.
public struct MedianStoppingScheduler: Scheduler {
    public let mode: Mode
    public let gracePeriod: Double
    public let minSamplesRequired: Int
    let resourceName: String
    /// Every trial's results (time, score), in arrival order.
    var results: [Int: [(time: Double, score: Double)]] = [:]

    public init(spec: SchedulerSpec, mode: Mode) {
        self.mode = mode
        gracePeriod = spec.resolvedGracePeriod
        minSamplesRequired = spec.resolvedMinSamplesRequired
        resourceName = spec.resource ?? "report"
    }

    public mutating func onResult(trial: Int, time: Double, value: Double) -> SchedulerDecision {
        results[trial, default: []].append((time, mode.score(value)))
        guard time >= gracePeriod else { return .continue }
        let others = results.filter { $0.key != trial && ($0.value.last?.time ?? -.infinity) >= time }
        guard others.count >= minSamplesRequired else { return .continue }
        let averages = others.values.map { series -> Double in
            let upTo = series.filter { $0.time <= time }.map(\.score)
            return upTo.isEmpty ? -.infinity : upTo.reduce(0, +) / Double(upTo.count)
        }
        let median = Self.median(averages)
        let best = results[trial]!.map(\.score).max()!
        guard best < median else { return .continue }
        return .stop(reason: "pruned at \(resourceName) \(formatLevel(time)): best \(Self.show(best, mode)) is worse than the "
                         + "median running average \(Self.show(median, mode)) of \(others.count) trials")
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// A score back in the metric's own sign.
    static func show(_ score: Double, _ mode: Mode) -> String {
        let value = mode == .max ? score : -score
        return String(format: "%.6g", value)
    }
}
