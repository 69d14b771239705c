import LoomModel
import LoomSearch
import LoomWire

/// What the scheduler has been told of one trial.
struct TrialProgress: Equatable, Sendable {
    /// Results with the metric so far (the resource when reports carry no `resource` key).
    var results = 0
    /// The highest resource level reported so far.
    var level = -Double.infinity
}

/// What the optimizer does with the free slots: trials to create, paused trials to resume, and
/// paused trials the scheduler gave up on.
public struct SlotPlan: Equatable, Sendable {
    /// New trials: store them, then submit them.
    public var created: [TrialRecord] = []
    /// Paused trials now `waiting` with their next `budget`: store, then submit the same job id.
    public var resumed: [TrialRecord] = []
    /// Paused trials now `pruned`: store their result.
    public var pruned: [TrialRecord] = []
}

/// A scheduler's decision about a running trial, applied to its record.
public struct SchedulerVerdict: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        /// Cancel the attempt; the trial is pruned (record its result).
        case prune
        /// Cancel the attempt; the trial is paused (store it).
        case pause
        /// Cancel the attempt; store the trial (new config, `restoreFrom`) and submit it again.
        case restart
    }

    /// The trial as it should now be stored.
    public var trial: TrialRecord
    public var action: Action
}

/// Reports and results into the scheduler; slots out of it.
extension StudyDriver {
    /// Fills the free slots (within `max_concurrent`): the scheduler resumes paused trials or
    /// asks for new ones (points to evaluate first, then the searcher); none in an ask-only study. The mirror is updated;
    /// the caller stores and submits what the plan holds.
    public mutating func fillSlots(now: Double) -> SlotPlan {
        var plan = SlotPlan()
        var running = activeNumbers.count
        while running < spec.budget.maxConcurrent {
            let choice = scheduler.onFreeSlot(mayCreate: mayCreate)
            if case .resume(let number, let budget, let reason) = choice, let i = index(of: number) {
                var trial = trials[i]
                trial.state = .waiting
                trial.budget = budget
                trial.note = reason
                trial.restoreFrom = nil
                replace(at: i, with: trial)
                plan.resumed.append(trial)
            } else if choice == .new, !spec.trial.isAskOnly, let (config, source) = nextConfig() {
                var trial = TrialRecord(study: studyID, number: trials.count + 1, config: config, source: source, createdAt: now)
                trial.budget = scheduler.onTrialAdd(trial: trial.number, config: config)
                append(trial)
                plan.created.append(trial)
            } else {
                break
            }
            running += 1
        }
        for (number, reason) in scheduler.takeAbandoned() {
            guard let i = index(of: number), trials[i].state == .paused else { continue }
            var trial = trials[i]
            trial.state = .pruned
            trial.note = reason
            trial.finishedAt = now
            update(trial)
            plan.pruned.append(trial)
        }
        return plan
    }

    /// Paused trials the study leaves behind when it ends: pruned, with why.
    public mutating func abandonPaused(now: Double, reason: String) -> [TrialRecord] {
        trials.filter { $0.state == .paused }.map { paused in
            var trial = paused
            trial.state = .pruned
            trial.note = "\(paused.note ?? "paused"); not resumed before the study ended (\(reason))"
            trial.finishedAt = now
            update(trial)
            return trial
        }
    }

    /// A report of `trial`'s attempt `attempt`. Only the running attempt's reports count; one
    /// without a finite metric is not a result. Returns the scheduler's verdict, nil to go on.
    public mutating func report(trial number: Int, attempt: Int, metrics: JSONValue?, now: Double) -> SchedulerVerdict? {
        guard let trial = trial(number), trial.source != "ask", trial.state == .running, attempt == trial.attempts,
              let (time, value) = result(of: trial, metrics: metrics) else { return nil }
        let decision = scheduler.onResult(trial: number, time: time, value: value, values: objectiveVector(metrics))
        return verdict(decision, trial: trial, value: value, metrics: metrics, now: now)
    }

    /// Every objective of a multi-objective study in a report's metrics (nil when one is
    /// missing, or for a single objective): what MO-ASHA ranks rungs by.
    func objectiveVector(_ metrics: JSONValue?) -> [Double]? {
        guard spec.isMultiObjective, let object = metrics?.object else { return nil }
        let values = spec.objectives.compactMap { object[$0.name]?.double }
        return values.count == spec.objectives.count && values.allSatisfy(\.isFinite) ? values : nil
    }

    /// `trial`'s running attempt exited with final `value`: nil when the trial is complete, or
    /// the verdict when the scheduler pauses it at its budget (a budget-style job) or stops it.
    public mutating func attemptEnded(trial number: Int, value: Double, metrics: JSONValue?, now: Double) -> SchedulerVerdict? {
        guard let trial = trial(number), trial.source != "ask" else { return nil }
        let time = level(of: trial, metrics: metrics)
        if let time { observeRung(trial, time: time, value: value) }
        let decision = scheduler.onAttemptEnd(trial: number, time: time ?? trial.budget, value: value)
        return verdict(decision, trial: trial, value: value, metrics: metrics, now: now)
    }

    /// The resource level of a result: its `resource` key, else the count of results so far.
    func level(of trial: TrialRecord, metrics: JSONValue?) -> Double? {
        if let key = spec.scheduler.resource { return metrics?.object?[key]?.double }
        return progress[trial.number].map { Double($0.results) }
    }

    /// Counts a report as a result and tells the searcher of a rung reached; nil when it has
    /// no finite metric (or no resource).
    mutating func result(of trial: TrialRecord, metrics: JSONValue?) -> (time: Double, value: Double)? {
        guard let value = metrics?.object?[spec.metric]?.double, value.isFinite else { return nil }
        progress[trial.number, default: TrialProgress()].results += 1
        guard let time = level(of: trial, metrics: metrics), time.isFinite else { return nil }
        observeRung(trial, time: time, value: value)
        return (time, value)
    }

    /// `searcher.observe(config:budget:value:)` for each scheduler milestone the trial passes.
    mutating func observeRung(_ trial: TrialRecord, time: Double, value: Double) {
        let before = progress[trial.number]?.level ?? -.infinity
        guard time > before else { return }
        progress[trial.number, default: TrialProgress()].level = time
        for milestone in scheduler.milestones where milestone > before && milestone <= time {
            searcher.observe(config: trial.config, budget: milestone, value: value)
        }
    }

    func verdict(_ decision: SchedulerDecision, trial: TrialRecord, value: Double, metrics: JSONValue?,
                 now: Double) -> SchedulerVerdict? {
        var next = trial
        next.value = value
        if let metrics { next.metrics = metrics }
        switch decision {
        case .continue:
            return nil
        case .stop(let reason):
            next.state = .pruned
            next.note = reason
            next.finishedAt = now
            return SchedulerVerdict(trial: next, action: .prune)
        case .pause(let reason):
            next.state = .paused
            next.note = reason
            return SchedulerVerdict(trial: next, action: .pause)
        case .exploit(let donor, let config, let reason):
            next.state = .waiting
            next.config = config
            next.restoreFrom = donor
            next.note = reason
            return SchedulerVerdict(trial: next, action: .restart)
        }
    }
}
