import LoomModel

/// TPE with several objectives (Optuna's MOTPE, Ozaki et al. 2020) and with constraints (c-TPE as
/// Optuna splits constrained trials).
///
/// **Ranking** (Optuna 5's `_split_complete_trials_multi_objective`). Only the order of the
/// complete results changes; the good/bad split and densities are TPE's. Results are ranked by
/// constraint-dominance (`Pareto.ranks`: feasible fronts first, then infeasible results by
/// violation). The good group takes whole fronts while they fit; from the front that does not
/// fit it takes the points of a greedy hypervolume subset selection (`Pareto.greedySubset`, with
/// that front's own reference point, as Optuna). With several objectives Optuna 5 also changes
/// TPE's defaults: one density per parameter, no cap on the good group, uniform weights in the
/// good group (`TPESearcher.Options`).
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
    /// only the front that straddles that boundary is reordered: its selected subset first, in
    /// the order chosen; the rest keep `ResultBook` order.
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
                let chosen = Pareto.greedySubset(members.map { points[$0].losses }, count: goodCount - start)
                let taken = Set(chosen)
                let order = chosen + members.indices.filter { !taken.contains($0) }
                byRank.replaceSubrange(start..<end, with: order.map { members[$0] })
                break
            }
            start = end
        }
        return byRank.map { results[$0] }
    }

    public mutating func observe(_ evaluation: Evaluation) {
        book.record(evaluation, point: point(evaluation))
    }

    public mutating func restore(evaluations: [Evaluation]) {
        book.restore(evaluations: evaluations, point: point)
    }

    /// The losses of a complete evaluation with every objective; nil otherwise.
    func point(_ evaluation: Evaluation) -> Pareto.Point? {
        guard evaluation.state == .complete, let values = evaluation.values, values.count == modes.count,
              values.allSatisfy(\.isFinite) else { return nil }
        return Pareto.Point(losses: Pareto.losses(values, modes: modes), feasible: evaluation.feasible, violation: evaluation.violation)
    }
}
