import Foundation
import LoomSearch

/// Makespans of a list of job durations on identical slots, without any overhead: the yardsticks
/// the utilization benchmark measures the fabric against.
public enum Schedules {
    /// Graham's list schedule: jobs taken in the given order, each on the slot that frees first.
    /// This is what an asynchronous scheduler with zero overhead achieves.
    public static func listMakespan(_ durations: [Double], slots: Int) -> Double {
        precondition(slots >= 1, "at least one slot")
        var free = [Double](repeating: 0, count: slots)
        for d in durations {
            // Slots are few (tens): a linear scan beats a heap here and keeps this obvious.
            var earliest = 0
            for i in free.indices where free[i] < free[earliest] { earliest = i }
            free[earliest] += d
        }
        return free.max() ?? 0
    }

    /// Synchronous batches (successive halving's MapReduce strategy): `slots` jobs start together
    /// and the next batch waits for the slowest of them.
    public static func batchMakespan(_ durations: [Double], slots: Int) -> Double {
        precondition(slots >= 1, "at least one slot")
        var total = 0.0
        var start = 0
        while start < durations.count {
            let end = min(start + slots, durations.count)
            total += durations[start..<end].max() ?? 0
            start = end
        }
        return total
    }

    /// No schedule can beat this: the work spread evenly, or the longest job.
    public static func lowerBound(_ durations: [Double], slots: Int) -> Double {
        max(durations.reduce(0, +) / Double(slots), durations.max() ?? 0)
    }

    /// Heavy-tailed job durations: log-normal with the given median and shape σ (σ = 1 gives a
    /// mean 1.65 × the median and a p99 about 10 × the median), capped at `cap`. Deterministic
    /// for a seed.
    public static func logNormalDurations(count: Int, median: Double, sigma: Double, cap: Double,
                                          seed: UInt64) -> [Double] {
        var rng = Xoshiro256StarStar(seed: seed)
        var out: [Double] = []
        out.reserveCapacity(count)
        while out.count < count {
            // Box–Muller from two uniforms in (0, 1].
            let u1 = 1 - Double(rng.next() >> 11) / Double(1 << 53)
            let u2 = Double(rng.next() >> 11) / Double(1 << 53)
            let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            out.append(min(cap, median * exp(sigma * z)))
        }
        return out
    }
}
