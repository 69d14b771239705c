import Foundation
import LoomModel
import LoomWire

/// Asynchronous successive halving (Li et al. 2020), in Ray Tune's *stopping* variant and the
/// paper's (AutoGluon's) *promotion* variant; `brackets` > 1 makes it asynchronous Hyperband.
///
/// **Rungs.** Bracket `s` (0-based) has rungs at `grace·η^(k+s)` below `max_t` (see
/// `rungLevels`); rung numbers in reasons count from 1. A rung keeps, in arrival order, the
/// score (higher is better) of every trial recorded there.
/// **Stopping** (Ray Tune's `ASHAScheduler`). A result at `time` is checked against the highest
/// rung with level ≤ `time` where the trial is not recorded yet: the cutoff is the
/// `(1 − 1/η)`-percentile of the scores already recorded there (linear interpolation; none when
/// the rung is empty); the trial is recorded, and stopped when its score is below the cutoff.
/// Results at or past `max_t` always continue. Every job runs to budget `max_t`. As in Ray Tune,
/// a trial whose result jumps over a rung is judged there at its next result.
/// **Promotion** (ASHA paper, AutoGluon `type='promotion'`). A trial runs to the level of its
/// current rung (its job's budget), is recorded there and pauses. A free slot first promotes:
/// bracket by bracket, from the highest rung down, the best paused trial of a rung that is among
/// the top `⌊n/η⌋` of the `n` recorded there and not yet promoted resumes to the next level
/// (`max_t` after the last rung); with `keep_size_ratios` a rung promotes only while
/// `n ≥ η·(promoted + 1)`. Ties go to the trial recorded first. Otherwise a new trial starts
/// at its bracket's first rung.
/// **Brackets.** Trial `n` joins bracket `s` with probability ∝ `e^(rungs(s) − max rungs)`
/// (Ray Tune's rule), drawn from stream `n` of the seed.
public struct ASHAScheduler: Scheduler {
    /// One rung of a bracket.
    ///
    /// **Invariants.** `recorded` holds each trial once, in arrival order; `members` its trials;
    /// `ranked` the same entries best first (ties: first arrived first), kept sorted on insert so
    /// that a promotion or a cutoff does not sort the rung again.
    struct Rung: Sendable {
        var level: Double
        var recorded: [(trial: Int, score: Double)] = []
        var members: Set<Int> = []
        var ranked: [(trial: Int, score: Double)] = []
        var promoted: Set<Int> = []

        init(level: Double) {
            self.level = level
        }

        func contains(_ trial: Int) -> Bool { members.contains(trial) }

        mutating func record(_ trial: Int, score: Double) {
            guard members.insert(trial).inserted else { return }
            recorded.append((trial, score))
            // After every entry at least as good: ties keep arrival order.
            var low = 0
            var high = ranked.count
            while low < high {
                let mid = (low + high) / 2
                if ranked[mid].score >= score { low = mid + 1 } else { high = mid }
            }
            ranked.insert((trial, score), at: low)
        }

        /// The `p`-th percentile (0…100) of the scores with linear interpolation between closest
        /// ranks (NumPy's default, which Ray Tune's cutoffs use); nil for an empty rung.
        func percentile(_ p: Double) -> Double? {
            guard !ranked.isEmpty else { return nil }
            let n = ranked.count
            let position = p / 100 * Double(n - 1)
            let lower = Int(position.rounded(.down))
            let upper = min(lower + 1, n - 1)
            let (a, b) = (ranked[n - 1 - lower].score, ranked[n - 1 - upper].score)
            return a + (b - a) * (position - Double(lower))
        }
    }

    public let variant: SchedulerSpec.ASHAType
    public let mode: Mode
    public let maxT: Double
    public let eta: Double
    public let keepSizeRatios: Bool
    let seed: UInt64
    let resourceName: String
    /// Rungs per bracket, lowest level first.
    var brackets: [[Rung]]
    var bracketOf: [Int: Int] = [:]
    /// Promotion: index of the rung the trial's current attempt runs to (`count` means `max_t`).
    var target: [Int: Int] = [:]
    /// Promotion: trials paused at their target rung.
    var paused: Set<Int> = []
    var removed: Set<Int> = []

    /// MO-ASHA: the directions of the objectives its rungs rank by (empty: `mode`'s one objective).
    public let objectives: [Mode]
    /// MO-ASHA: each rung's objective values (as losses) by trial, parallel to `brackets`.
    var rungLosses: [[[Int: [Double]]]] = []

    public init(spec: SchedulerSpec, mode: Mode, seed: UInt64, objectives: [Mode] = []) {
        variant = spec.type ?? .stopping
        self.objectives = objectives.count > 1 ? objectives : []
        self.mode = mode
        self.maxT = spec.resolvedMaxT
        let eta = spec.resolvedReductionFactor
        let maxT = spec.resolvedMaxT
        self.eta = eta
        keepSizeRatios = spec.keepSizeRatios
        self.seed = seed
        resourceName = spec.resource ?? "report"
        let grace = spec.resolvedGracePeriod
        let count = max(1, spec.brackets ?? 1)
        brackets = (0..<count).map { s in rungLevels(grace: grace, eta: eta, maxT: maxT, bracket: s).map { Rung(level: $0) } }
        // A bracket without rungs (its first level would reach max_t) only adds full-budget runs.
        while brackets.count > 1 && brackets.last?.isEmpty == true { brackets.removeLast() }
        rungLosses = brackets.map { $0.map { _ in [:] } }
    }

    /// A rung as status views and tests read it.
    public struct RungState: Equatable, Sendable {
        public var level: Double
        /// Trials recorded, in arrival order.
        public var recorded: [Int]
        /// Trials promoted from it, by number.
        public var promoted: [Int]

        public init(level: Double, recorded: [Int], promoted: [Int]) {
            self.level = level
            self.recorded = recorded
            self.promoted = promoted
        }
    }

    /// Every bracket's rungs, lowest first.
    public var rungStates: [[RungState]] {
        brackets.map { $0.map { RungState(level: $0.level, recorded: $0.recorded.map(\.trial), promoted: $0.promoted.sorted()) } }
    }

    /// Promotion: the paused trials, and the rung index each trial's current attempt runs to.
    public var pausedTrials: Set<Int> { paused }
    public var targetRungs: [Int: Int] { target }

    public var milestones: [Double] {
        Array(Set(brackets.flatMap { $0.map(\.level) } + [maxT])).sorted()
    }

    public mutating func onTrialAdd(trial: Int, config: Config) -> Double? {
        let bracket = chooseBracket(trial)
        bracketOf[trial] = bracket
        guard variant == .promotion else { return maxT }
        target[trial] = 0
        return level(bracket: bracket, rung: 0)
    }

    /// Ray Tune's bracket draw: weights `e^(rungs − max rungs)`.
    func chooseBracket(_ trial: Int) -> Int {
        guard brackets.count > 1 else { return 0 }
        let most = brackets.map(\.count).max() ?? 0
        let weights = brackets.map { Foundation.exp(Double($0.count - most)) }
        var random = Xoshiro256StarStar(seed: seed, stream: UInt64(max(0, trial)))
        var u = random.unit() * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            if u < w { return i }
            u -= w
        }
        return weights.count - 1
    }

    func level(bracket: Int, rung: Int) -> Double {
        rung < brackets[bracket].count ? brackets[bracket][rung].level : maxT
    }

    func describe(rung: Int, bracket: Int) -> String {
        "rung \(rung + 1) (\(resourceName) \(formatLevel(brackets[bracket][rung].level)))"
    }

    public mutating func onResult(trial: Int, time: Double, value: Double) -> SchedulerDecision {
        guard let bracket = bracketOf[trial], !removed.contains(trial) else { return .continue }
        return variant == .stopping
            ? stoppingResult(trial: trial, bracket: bracket, time: time, score: mode.score(value))
            : promotionResult(trial: trial, bracket: bracket, time: time, score: mode.score(value))
    }

    mutating func stoppingResult(trial: Int, bracket: Int, time: Double, score: Double) -> SchedulerDecision {
        guard time < maxT else { return .continue }
        for k in brackets[bracket].indices.reversed() {
            let rung = brackets[bracket][k]
            if time < rung.level || rung.contains(trial) { continue }
            let cutoff = rung.percentile((1 - 1 / eta) * 100)
            brackets[bracket][k].record(trial, score: score)
            if let cutoff, score < cutoff {
                return .stop(reason: "pruned at \(describe(rung: k, bracket: bracket)): not in the top 1/\(formatLevel(eta)) "
                                 + "of \(rung.recorded.count + 1) trials there")
            }
            return .continue
        }
        return .continue
    }

    mutating func promotionResult(trial: Int, bracket: Int, time: Double, score: Double) -> SchedulerDecision {
        guard var k = target[trial] else { return .continue }
        if paused.contains(trial) {
            // A result past the paused level comes from a later attempt: the trial was resumed
            // (a replay after a restart); anything else is a late line of the paused attempt.
            guard let next = resumeBudget(trial: trial), time > level(bracket: bracket, rung: k) else {
                return .pause(reason: "paused at \(describe(rung: k, bracket: bracket))")
            }
            onResume(trial: trial, budget: next)
            k += 1
        }
        guard k < brackets[bracket].count, time >= brackets[bracket][k].level else { return .continue }
        brackets[bracket][k].record(trial, score: score)
        paused.insert(trial)
        return .pause(reason: "paused at \(describe(rung: k, bracket: bracket))")
    }

    public mutating func onAttemptEnd(trial: Int, time: Double?, value: Double?) -> SchedulerDecision {
        guard variant == .promotion, let bracket = bracketOf[trial], let k = target[trial], k < brackets[bracket].count else {
            return .continue
        }
        if paused.contains(trial) { return .pause(reason: "paused at \(describe(rung: k, bracket: bracket))") }
        // A budget-style job: its final result is its result at the budget it was given.
        guard let value else { return .continue }
        return promotionResult(trial: trial, bracket: bracket, time: time ?? brackets[bracket][k].level, score: mode.score(value))
    }

    public mutating func onTrialRemove(trial: Int) {
        removed.insert(trial)
        paused.remove(trial)
    }

    public func resumeBudget(trial: Int) -> Double? {
        guard paused.contains(trial), let bracket = bracketOf[trial], let k = target[trial] else { return nil }
        return level(bracket: bracket, rung: k + 1)
    }

    public mutating func onResume(trial: Int, budget: Double) {
        guard paused.contains(trial), let bracket = bracketOf[trial], let k = target[trial] else { return }
        brackets[bracket][k].promoted.insert(trial)
        paused.remove(trial)
        target[trial] = k + 1
    }

    public mutating func onFreeSlot(mayCreate: Bool) -> SlotChoice {
        guard variant == .promotion else { return mayCreate ? .new : .wait }
        for bracket in brackets.indices {
            for k in brackets[bracket].indices.reversed() {
                guard let trial = promotable(bracket: bracket, rung: k), let budget = resumeBudget(trial: trial) else { continue }
                onResume(trial: trial, budget: budget)
                return .resume(trial: trial, budget: budget,
                               reason: "promoted from \(describe(rung: k, bracket: bracket)) to \(resourceName) \(formatLevel(budget))")
            }
        }
        return mayCreate ? .new : .wait
    }

    /// The best paused trial of a rung that may be promoted, if any.
    func promotable(bracket: Int, rung k: Int) -> Int? {
        let rung = brackets[bracket][k]
        let n = rung.recorded.count
        if keepSizeRatios && Double(n) < eta * Double(rung.promoted.count + 1) { return nil }
        let top = Int((Double(n) / eta).rounded(.down))
        return rung.ranked.prefix(top).first { entry in
            !rung.promoted.contains(entry.trial) && paused.contains(entry.trial) && target[entry.trial] == k
                && !removed.contains(entry.trial)
        }?.trial
    }
}
