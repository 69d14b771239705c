import Foundation

/// The few statistics the plots need, exact and deterministic.
public enum Statistics {
    /// Ranks from 1, ties sharing the mean of their ranks (so Spearman's ρ handles ties).
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && values[order[j + 1]] == values[order[i]] { j += 1 }
            let mean = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = mean }
            i = j + 1
        }
        return ranks
    }

    /// Pearson's correlation; nil with fewer than 3 pairs or when either side is constant.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "pearson: \(x.count) x values, \(y.count) y values")
        guard x.count >= 3 else { return nil }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Spearman's rank correlation: Pearson's on the ranks (ties averaged).
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        pearson(ranks(x), ranks(y))
    }

    /// η², the share of the variance of `values` explained by the group each belongs to:
    /// Σ nₖ (meanₖ − mean)² / Σ (v − mean)². Nil when all values are equal or there is one group.
    public static func etaSquared(groups: [String], values: [Double]) -> Double? {
        precondition(groups.count == values.count, "etaSquared: \(groups.count) groups, \(values.count) values")
        guard values.count >= 2 else { return nil }
        let mean = values.reduce(0, +) / Double(values.count)
        let total = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        var sums: [String: (sum: Double, count: Double)] = [:]
        for (g, v) in zip(groups, values) { sums[g, default: (0, 0)].sum += v; sums[g, default: (0, 0)].count += 1 }
        guard total > 0, sums.count >= 2 else { return nil }
        let between = sums.values.reduce(0) { acc, s in acc + s.count * (s.sum / s.count - mean) * (s.sum / s.count - mean) }
        return between / total
    }

    /// Splits `values` into `bins` groups of (almost) equal size by rank: the group label of each
    /// value, `"0"` … `"bins-1"`. Equal values always share a group.
    public static func quantileBins(_ values: [Double], bins: Int) -> [String] {
        let r = ranks(values)
        let n = Double(values.count)
        return r.map { rank in String(Swift.min(bins - 1, Int(((rank - 1) / n * Double(bins)).rounded(.down)))) }
    }

    /// The best value seen so far after each of `values`, in order.
    public static func bestSoFar(_ values: [Double], goal: Goal) -> [Double] {
        var best: Double?
        return values.map { v in
            if best == nil || goal.isBetter(v, than: best!) { best = v }
            return best!
        }
    }
}
