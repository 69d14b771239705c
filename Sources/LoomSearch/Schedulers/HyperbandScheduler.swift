import Foundation
import LoomModel

/// Synchronous Hyperband (Li et al. 2018), the batch baseline: brackets of successive halving,
/// each rung waiting for all of its trials before the best go on. `brackets: 1` is synchronous
/// successive halving.
///
/// **Plan.** `s_max = ⌊log_η(max_t / grace_period)⌋`; bracket `s` (from `s_max` down, at most
/// `brackets` of them, then again from the first) starts `n = ⌈(s_max+1)/(s+1)·η^s⌉` trials at
/// budget `r = max_t·η^(−s)`; its rung `i` runs at `r·η^i`, the last at `max_t`.
/// **Rounds.** A trial runs to its rung's budget and pauses there (its result is its report at
/// or past the budget, or its final result). When every trial of the round has a result (a
/// failed or removed trial counts as the worst), the best `max(1, ⌊m/η⌋)` of the `m` are
/// resumed to the next rung, in rank order, and the others are pruned. Ties go to the trial
/// created first. When the study may create no more trials, the first round closes with the
/// trials it has. A free slot with nothing to resume and no trial to create waits.
public struct HyperbandScheduler: Scheduler {
    /// One bracket of the plan.
    struct Bracket: Equatable, Sendable {
        var size: Int
        /// Rung budgets, the last being `max_t`.
        var levels: [Double]
    }

    public let mode: Mode
    public let eta: Double
    let plan: [Bracket]
    let resourceName: String
    /// Index into `plan` of the bracket running now.
    var current = 0
    /// Trials created in the current bracket, and how many it takes.
    var created = 0
    var size: Int
    var round = 0
    /// The current round's trials, in creation order, and their scores once they have one.
    var members: [Int] = []
    var scores: [Int: Double] = [:]
    /// Winners waiting for a slot, in rank order, with the budget they resume to.
    var queue: [(trial: Int, budget: Double)] = []
    var abandoned: [(trial: Int, reason: String)] = []

    public init(spec: SchedulerSpec, mode: Mode) {
        self.mode = mode
        let eta = spec.resolvedReductionFactor
        self.eta = eta
        resourceName = spec.resource ?? "report"
        let maxT = spec.resolvedMaxT
        let sMax = max(0, Int((Foundation.log(maxT / spec.resolvedGracePeriod) / Foundation.log(eta) + 1e-9).rounded(.down)))
        let count = min(sMax + 1, max(1, spec.brackets ?? sMax + 1))
        plan = (0..<count).map { i in
            let s = sMax - i
            let n = Int((Double(sMax + 1) / Double(s + 1) * pow(eta, Double(s)) - 1e-9).rounded(.up))
            let r = maxT * pow(eta, Double(-s))
            return Bracket(size: n, levels: (0...s).map { $0 == s ? maxT : r * pow(eta, Double($0)) })
        }
        size = plan[0].size
    }

    var levels: [Double] { plan[current].levels }

    public var milestones: [Double] { Array(Set(plan.flatMap(\.levels))).sorted() }

    func describe(round: Int) -> String { "rung \(round + 1) (\(resourceName) \(formatLevel(levels[round])))" }

    public mutating func onTrialAdd(trial: Int, config: Config) -> Double? {
        if round != 0 || created >= size { startNextBracket() }
        created += 1
        members.append(trial)
        return levels[0]
    }

    mutating func startNextBracket() {
        current = (current + 1) % plan.count
        size = plan[current].size
        created = 0
        round = 0
        members = []
        scores = [:]
    }

    public mutating func onResult(trial: Int, time: Double, value: Double) -> SchedulerDecision {
        guard members.contains(trial), scores[trial] == nil, time >= levels[round] else {
            return queued(trial) ? .pause(reason: "paused at \(describe(round: max(0, round - 1)))") : .continue
        }
        return record(trial, score: mode.score(value))
    }

    public mutating func onAttemptEnd(trial: Int, time: Double?, value: Double?) -> SchedulerDecision {
        guard members.contains(trial), scores[trial] == nil else { return .continue }
        return record(trial, score: value.map(mode.score) ?? -.infinity)
    }

    mutating func record(_ trial: Int, score: Double) -> SchedulerDecision {
        scores[trial] = score
        let last = round == levels.count - 1
        let reason = "paused at \(describe(round: round)) until its \(members.count) trials have results"
        closeRoundIfComplete()
        return last ? .continue : .pause(reason: reason)
    }

    public mutating func onTrialRemove(trial: Int) {
        queue.removeAll { $0.trial == trial }
        guard members.contains(trial), scores[trial] == nil else { return }
        scores[trial] = -.infinity
        closeRoundIfComplete()
    }

    /// Promotes the winners of a complete round (not the last) and prunes the others.
    mutating func closeRoundIfComplete() {
        guard created >= size, scores.count == members.count, round < levels.count - 1 else { return }
        let ranked = members.enumerated().sorted { a, b in
            let (x, y) = (scores[a.element] ?? -.infinity, scores[b.element] ?? -.infinity)
            return x != y ? x > y : a.offset < b.offset
        }.map(\.element)
        let keep = max(1, Int((Double(members.count) / eta).rounded(.down)))
        let next = levels[round + 1]
        for loser in ranked.dropFirst(keep) where scores[loser] != -.infinity {
            abandoned.append((loser, "pruned at \(describe(round: round)): not in the top \(keep) of \(members.count)"))
        }
        queue += ranked.prefix(keep).filter { scores[$0] != -.infinity }.map { ($0, next) }
        round += 1
        members = Array(ranked.prefix(keep))
        scores = [:]
        for member in members where !queue.contains(where: { $0.trial == member }) { scores[member] = -.infinity }
        closeRoundIfComplete()
    }

    func queued(_ trial: Int) -> Bool { queue.contains { $0.trial == trial } }

    public func resumeBudget(trial: Int) -> Double? { queue.first { $0.trial == trial }?.budget }

    public mutating func onResume(trial: Int, budget: Double) {
        queue.removeAll { $0.trial == trial }
    }

    public mutating func onFreeSlot(mayCreate: Bool) -> SlotChoice {
        if !queue.isEmpty {
            let (trial, budget) = queue.removeFirst()
            return .resume(trial: trial, budget: budget,
                           reason: "promoted from \(describe(round: round - 1)) to \(resourceName) \(formatLevel(budget))")
        }
        if round == 0 && created < size {
            if mayCreate { return .new }
            // No more trials: the round closes with those it has.
            size = created
            closeRoundIfComplete()
            return queue.isEmpty ? .wait : onFreeSlot(mayCreate: mayCreate)
        }
        let bracketDone = round == levels.count - 1 && scores.count == members.count
        return bracketDone && mayCreate ? .new : .wait
    }

    public mutating func takeAbandoned() -> [(trial: Int, reason: String)] {
        defer { abandoned = [] }
        return abandoned
    }
}
