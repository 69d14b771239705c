import LoomModel

/// TPE with several objectives (Optuna's MOTPE, Ozaki et al. 2020) and with constraints (c-TPE as
/// Optuna splits constrained trials).
///
/// **Ranking.** Only the order of the complete results changes; the good/bad split, densities and
/// weights are TPE's. Results are ranked by constraint-dominance (`Pareto.ranks`: feasible
/// fronts first, then infeasible results by violation), within the front that the good group's
/// boundary cuts by decreasing hypervolume contribution (how much of the front's hypervolume only that result dominates; the reference
/// point is the worst value of each objective plus a tenth of its range), then in `ResultBook`
/// order. The good group takes whole fronts while they fit, and the front that does not fit by
/// contribution: Optuna's greedy hypervolume subset selection ranks by the same contribution,
/// recomputed after each pick, so the groups agree except where contributions interact.
/// Optuna also weighs the good group by contribution; here it keeps TPE's default weights.
///
/// **When.** A single-objective study without infeasible results keeps TPE's ranking by value
/// exactly; the objective ranking applies with several objectives or once a result is infeasible.
extension TPESearcher {
    /// Whether the objective ranking applies (see **When**).
    var ranksByObjectives: Bool {
        modes.count > 1 || book.ordered.contains { $0.point?.feasible == false }
    }

    /// The complete results with objectives, best first (see **Ranking**). Only membership in
    /// the first `goodCount` matters to TPE (both groups are put back in `ResultBook` order), so
    /// contributions are computed only for the front that straddles that boundary; the other
    /// fronts keep `ResultBook` order.
    func objectiveRanking(goodCount: Int) -> [ResultBook.Result] {
        let results = book.ordered.filter { $0.state == .complete && $0.point != nil }
        guard !results.isEmpty else { return [] }
        let points = results.map { $0.point! }
        let ranks = Pareto.ranks(points)
        var byRank = results.indices.sorted { ranks[$0] != ranks[$1] ? ranks[$0] < ranks[$1] : $0 < $1 }
        var start = 0
        while start < byRank.count {
            let rank = ranks[byRank[start]]
            var end = start
            while end < byRank.count && ranks[byRank[end]] == rank { end += 1 }
            if start < goodCount && end > goodCount && points[byRank[start]].feasible {
                let members = Array(byRank[start..<end])
                let contribution = Self.contributions(members.map { points[$0].losses }, all: points.map(\.losses))
                let order = members.indices.sorted { contribution[$0] != contribution[$1] ? contribution[$0] > contribution[$1] : $0 < $1 }
                byRank.replaceSubrange(start..<end, with: order.map { members[$0] })
                break
            }
            start = end
        }
        return byRank.map { results[$0] }
    }

    /// Each point's exclusive hypervolume in `front`; the reference point is the worst value of
    /// each objective over `all` plus a tenth of its range (1 when the range is empty).
    static func contributions(_ front: [[Double]], all: [[Double]]) -> [Double] {
        let reference = all[0].indices.map { j -> Double in
            let column = all.map { $0[j] }
            let (low, high) = (column.min()!, column.max()!)
            return high + (high > low ? 0.1 * (high - low) : 1)
        }
        let total = Pareto.hypervolume(front, reference: reference)
        return front.indices.map { k in
            var others = front
            others.remove(at: k)
            return total - Pareto.hypervolume(others, reference: reference)
        }
    }

    public mutating func observe(_ evaluation: Evaluation) {
        book.recordResult(config: evaluation.config, value: evaluation.value, state: evaluation.state, point: point(evaluation))
    }

    public mutating func restore(evaluations: [Evaluation]) {
        book.restore(history: evaluations.map { (config: $0.config, value: $0.value, state: $0.state) }, points: evaluations.map(point))
    }

    /// The losses of a complete evaluation with every objective; nil otherwise.
    func point(_ evaluation: Evaluation) -> Pareto.Point? {
        guard evaluation.state == .complete, let values = evaluation.values, values.count == modes.count,
              values.allSatisfy(\.isFinite) else { return nil }
        return Pareto.Point(losses: Pareto.losses(values, modes: modes), feasible: evaluation.feasible, violation: evaluation.violation)
    }
}
