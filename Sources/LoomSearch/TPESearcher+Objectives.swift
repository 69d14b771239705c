import LoomModel

/// TPE with several objectives (Optuna's MOTPE, Ozaki et al. 2020) and with constraints (c-TPE as
/// Optuna splits constrained trials).
///
/// **Ranking.** Only the order of the complete results changes; the good/bad split, densities and
/// weights are TPE's. Results are ranked by constraint-dominance (`Pareto.ranks`: feasible
/// fronts first, then infeasible results by violation), within a front by decreasing hypervolume
/// contribution (how much of the front's hypervolume only that result dominates; the reference
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

    /// The complete results with objectives, best first (see **Ranking**).
    func objectiveRanking() -> [ResultBook.Result] {
        let results = book.ordered.filter { $0.state == .complete && $0.point != nil }
        guard !results.isEmpty else { return [] }
        let points = results.map { $0.point! }
        let ranks = Pareto.ranks(points)
        let m = points[0].losses.count
        let reference = (0..<m).map { j -> Double in
            let column = points.map { $0.losses[j] }
            let (low, high) = (column.min()!, column.max()!)
            return high + (high > low ? 0.1 * (high - low) : 1)
        }
        var contribution = [Double](repeating: 0, count: results.count)
        for rank in Set(ranks) {
            let members = results.indices.filter { ranks[$0] == rank }
            guard members.count > 1, points[members[0]].feasible else { continue }
            let front = members.map { points[$0].losses }
            let total = Pareto.hypervolume(front, reference: reference)
            for (k, i) in members.enumerated() {
                var others = front
                others.remove(at: k)
                contribution[i] = total - Pareto.hypervolume(others, reference: reference)
            }
        }
        let order = results.indices.sorted { a, b in
            if ranks[a] != ranks[b] { return ranks[a] < ranks[b] }
            if contribution[a] != contribution[b] { return contribution[a] > contribution[b] }
            return a < b  // `book.ordered` is the canonical order
        }
        return order.map { results[$0] }
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
