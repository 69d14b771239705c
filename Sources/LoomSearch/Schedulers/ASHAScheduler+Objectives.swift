import LoomModel

/// MO-ASHA (Schmucker et al. 2021, as Syne Tune's `MOASHA`): ASHA's stopping rule with several
/// objectives, used for `asha` (stopping) in a study with several `metrics` and no
/// `scheduler.metric`.
///
/// **Rule.** A result at `time` is judged at the same rung as in ASHA. The rung's recorded
/// trials and this one are ordered by non-dominated sorting of their objective values (front
/// rank first), within a front by decreasing crowding distance, then by arrival; the trial
/// goes on when it is among the first `⌈n/η⌉` of those `n` (so the first trial at a rung always
/// goes on, as under ASHA's cutoff), else it is stopped, and it is recorded either way. Syne Tune
/// breaks ties within a front by an ε-net; crowding distance is NSGA-II's and needs no
/// parameter. A report without every objective is not judged.
extension ASHAScheduler {
    public mutating func onResult(trial: Int, time: Double, value: Double, values: [Double]?) -> SchedulerDecision {
        guard !objectives.isEmpty, variant == .stopping else { return onResult(trial: trial, time: time, value: value) }
        guard let bracket = bracketOf[trial], !removed.contains(trial), time < maxT,
              let values, values.count == objectives.count, values.allSatisfy(\.isFinite) else { return .continue }
        let losses = Pareto.losses(values, modes: objectives)
        for k in brackets[bracket].indices.reversed() {
            let rung = brackets[bracket][k]
            if time < rung.level || rung.contains(trial) { continue }
            let earlier = rung.recorded.compactMap { entry in rungLosses[bracket][k][entry.trial].map { (entry.trial, $0) } }
            let position = Self.position(of: losses, after: earlier.map(\.1))
            let n = earlier.count + 1
            let kept = Int((Double(n) / eta).rounded(.up))
            brackets[bracket][k].record(trial, score: -Double(position))
            rungLosses[bracket][k][trial] = losses
            if position >= kept {
                return .stop(reason: "pruned at \(describe(rung: k, bracket: bracket)): not in the top 1/\(formatLevel(eta)) "
                                 + "of \(n) trials there by non-dominated sorting")
            }
            return .continue
        }
        return .continue
    }

    /// Where `losses` (arriving last) falls in the MO-ASHA order of `earlier` + itself (0-based).
    static func position(of losses: [Double], after earlier: [[Double]]) -> Int {
        let all = earlier + [losses]
        let ranks = Pareto.ranks(all.map { Pareto.Point(losses: $0) })
        var crowding = [Double](repeating: 0, count: all.count)
        for rank in Set(ranks) {
            let members = all.indices.filter { ranks[$0] == rank }
            for (i, d) in zip(members, Pareto.crowdingDistances(members.map { all[$0] })) { crowding[i] = d }
        }
        let me = all.count - 1
        return all.indices.filter { i in
            i != me && (ranks[i] < ranks[me] || (ranks[i] == ranks[me] && crowding[i] >= crowding[me]))
        }.count
    }
}
