import Foundation

/// The resource levels ("budgets") the per-budget plots show.
///
/// A study whose trials report at many levels (every epoch) would draw one line per level; the
/// plots keep at most `limit` of them: the lowest and the highest level that at least two trials
/// reached, and levels between them spaced evenly on a log scale (as successive halving's rungs
/// are), each snapped to the nearest level that was reported.
public enum ResourceLevels {
    /// Levels reached by at least two trials, ascending.
    public static func shared(in study: StudyData) -> [Double] {
        var counts: [Double: Int] = [:]
        for trial in study.trials {
            for point in trial.curve { counts[point.resource, default: 0] += 1 }
        }
        return counts.filter { $0.value >= 2 }.keys.sorted()
    }

    /// At most `limit` of the shared levels, as described above.
    public static func chosen(in study: StudyData, limit: Int = 4) -> [Double] {
        let levels = shared(in: study)
        guard levels.count > limit, let low = levels.first, let high = levels.last else { return levels }
        let transform: (Double) -> Double = low > 0 ? { log($0) } : { $0 }
        var picked: [Double] = []
        for i in 0..<limit {
            let target = transform(low) + Double(i) / Double(limit - 1) * (transform(high) - transform(low))
            let nearest = levels.filter { !picked.contains($0) }.min { abs(transform($0) - target) < abs(transform($1) - target) }
            if let nearest { picked.append(nearest) }
        }
        return picked.sorted()
    }

    /// `epoch 3` (or `report 3`).
    public static func name(_ level: Double, in study: StudyData) -> String {
        "\(study.resourceLabel) \(NumberText.tick(level))"
    }
}
