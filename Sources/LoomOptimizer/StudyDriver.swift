import LoomModel
import LoomSearch
import LoomWire

/// The decisions of one study, free of I/O and clocks: which trials to create next, what a result
/// changes, and when the study is over. The optimizer persists what it returns, then acts on it.
///
/// **Invariants.** `trials` mirrors the store's rows of this study; numbers are dense from 1;
/// at most `budget.maxConcurrent` trials are active (waiting or running) at once, counting trials
/// handed out by `ask`; at most `budget.maxTrials` trials are ever created (a grid searcher
/// instead stops when it is exhausted).
/// **Active index.** `activeNumbers` holds the numbers of the active trials (waiting or running)
/// in ascending order, and `stateCounts` the number of trials in each state: both are kept
/// exact by routing every write of `trials` through `append(_:)` and `replace(at:with:)`, so no
/// event scans every trial (a study of n trials would cost O(n²)).
/// **Scheduler.** Every trial the fabric runs is the scheduler's: its reports and results go
/// to it (`StudyDriver+Scheduling.swift`), and free slots are offered to it first, so it may
/// resume a paused trial instead of creating one. Asked trials are the scheduler's only when it
/// only stops trials (`StudyDriver+Asks.swift`).
/// **Ask-only.** A spec without `trial.command` creates no trial in `fillSlots`: only `ask`
/// does, and the study completes when its budget is asked and told.
/// **Leases.** Every running asked trial holds a lease; see `StudyDriver+Asks.swift`.
/// **Restart.** `init` rebuilds everything from the stored trials and reports: the searcher is
/// restored from their history, so a restarted optimizer neither repeats nor skips a
/// suggestion, and the scheduler is replayed (`StudyDriver+Replay.swift`).
public struct StudyDriver: Sendable {
    public let studyID: String
    public let spec: StudySpec
    public let createdAt: Double
    public private(set) var trials: [TrialRecord]
    var searcher: any Searcher
    var scheduler: any Scheduler
    /// What the scheduler has been told of each trial's results.
    var progress: [Int: TrialProgress] = [:]
    /// Points to evaluate not yet turned into trials.
    var points: [Config]
    /// The searcher said it has nothing more to propose.
    public private(set) var exhausted = false
    /// Numbers of the active trials, ascending (see **Active index**).
    public private(set) var activeNumbers: [Int] = []
    /// How many trials are in each state (see **Active index**).
    public private(set) var stateCounts: [TrialState: Int] = [:]
    /// The leases of the running asked trials, by trial number (see **Leases**).
    public internal(set) var leases: [Int: AskLease] = [:]
    /// Attempts of asked trials whose lease expired before they were started (prefetched and
    /// never evaluated): not counted against `trial.max_retries` (see **Leases**).
    var unstartedAttempts: [Int: Int] = [:]
    /// Times each `searcher.suggest` (`OptimizerMachine.Settings.suggestClock`; nil: untimed).
    var suggestClock: (@Sendable () -> ContinuousClock.Instant)?
    /// How long each timed `suggest` took, until the machine hands them out.
    var suggestTimes: [Duration] = []

    /// `reports` are the study's stored reports (any order), replayed into the scheduler.
    public init(studyID: String, spec: StudySpec, createdAt: Double, trials: [TrialRecord], reports: [ReportRecord] = []) {
        self.studyID = studyID
        self.spec = spec
        self.createdAt = createdAt
        self.trials = trials.sorted { $0.number < $1.number }
        for trial in self.trials {
            if Self.isActive(trial) { activeNumbers.append(trial.number) }
            stateCounts[trial.state, default: 0] += 1
        }
        let repeats = spec.searcher.kind == .grid ? max(1, spec.budget.maxTrials ?? 1) : 1
        searcher = makeSearcher(spec.searcher, space: spec.space, mode: spec.mode, repeats: repeats, objectives: spec.objectives)
        let fromSearcher = self.trials.filter { $0.source == "searcher" || $0.source == "ask" }
        searcher.restore(evaluations: fromSearcher.map { Self.evaluation(of: $0, spec: spec) })
        for trial in self.trials where trial.source == "points_to_evaluate" && trial.state.isFinished {
            searcher.observe(Self.evaluation(of: trial, spec: spec))
        }
        var usedPoints = self.trials.filter { $0.source == "points_to_evaluate" }.count
        // `ask` hands the points out too (as `ask` trials): skip those already asked.
        let askedConfigs = self.trials.filter { $0.source == "ask" }.map(\.config)
        while usedPoints < spec.pointsToEvaluate.count, askedConfigs.contains(spec.pointsToEvaluate[usedPoints]) { usedPoints += 1 }
        points = Array(spec.pointsToEvaluate.dropFirst(usedPoints))
        scheduler = makeScheduler(spec.scheduler, space: spec.space, mode: spec.mode, seed: spec.searcher.seed,
                                  objectives: spec.objectives.map(\.mode))
        replay(reports)
    }

    /// Trials that are waiting or running, by number.
    public var active: [TrialRecord] { activeNumbers.compactMap { trial($0) } }

    static func isActive(_ trial: TrialRecord) -> Bool { !trial.state.isFinished && trial.state != .paused }

    /// Adds the next trial (numbered `trials.count + 1`) and indexes it.
    mutating func append(_ trial: TrialRecord) {
        precondition(trial.number == trials.count + 1, "trials are numbered densely from 1")
        trials.append(trial)
        if Self.isActive(trial) { activeNumbers.append(trial.number) }
        stateCounts[trial.state, default: 0] += 1
    }

    /// Replaces the trial at index `i` and keeps the index and the counts exact.
    mutating func replace(at i: Int, with trial: TrialRecord) {
        let old = trials[i]
        trials[i] = trial
        if old.state != trial.state {
            stateCounts[old.state, default: 0] -= 1
            if stateCounts[old.state] == 0 { stateCounts[old.state] = nil }
            stateCounts[trial.state, default: 0] += 1
        }
        switch (Self.isActive(old), Self.isActive(trial)) {
        case (false, true):
            let position = activeNumbers.firstIndex { $0 > trial.number } ?? activeNumbers.endIndex
            activeNumbers.insert(trial.number, at: position)
        case (true, false):
            if let position = activeNumbers.firstIndex(of: trial.number) { activeNumbers.remove(at: position) }
        default:
            break
        }
    }

    /// The cap on trials created, nil for a grid (it runs until exhausted).
    var trialCap: Int? { spec.searcher.kind == .grid ? nil : spec.budget.maxTrials }

    /// Whether another trial may be created (ignoring concurrency).
    var mayCreate: Bool {
        if let cap = trialCap, trials.count >= cap { return false }
        return !exhausted || !points.isEmpty
    }

    /// The next trial's config, from the points to evaluate first, then the searcher.
    mutating func nextConfig() -> (Config, String)? {
        if !points.isEmpty { return (points.removeFirst(), "points_to_evaluate") }
        guard !exhausted else { return nil }
        let pending = active.map(\.config)
        let started = suggestClock?()
        let suggestion = searcher.suggest(pending: pending)
        if let started, let clock = suggestClock { suggestTimes.append(started.duration(to: clock())) }
        switch suggestion {
        case .config(let config): return (config, "searcher")
        case .exhausted:
            exhausted = true
            return nil
        }
    }

    /// Replaces the mirror of a trial after the optimizer changed and stored it; a finished trial
    /// is observed by the searcher and leaves the scheduler.
    public mutating func update(_ trial: TrialRecord) {
        guard let i = index(of: trial.number) else { return }
        let wasFinished = trials[i].state.isFinished
        replace(at: i, with: trial)
        if trial.state.isFinished && !wasFinished {
            searcher.observe(Self.evaluation(of: trial, spec: spec))
            if isScheduled(trial) { scheduler.onTrialRemove(trial: trial.number) }
            leases[trial.number] = nil
            unstartedAttempts[trial.number] = nil
        }
    }

    public func trial(_ number: Int) -> TrialRecord? {
        index(of: number).map { trials[$0] }
    }

    /// Trials are numbered densely from 1 (the invariant above), so a number is its index + 1.
    func index(of number: Int) -> Int? {
        let i = number - 1
        return trials.indices.contains(i) && trials[i].number == number ? i : nil
    }

    /// The best complete trial.
    public var best: TrialRecord? {
        var best: TrialRecord?
        for t in trials where t.state == .complete {
            guard let v = t.value, v.isFinite else { continue }
            if let b = best?.value, !spec.mode.isBetter(v, than: b) { continue }
            best = t
        }
        return best
    }

    /// Why the study is over, or nil while it goes on: `hardStopReason`, else every trial is
    /// created and none is active (call it after `fillSlots`, which may resume a paused trial).
    public func stopReason(now: Double) -> (state: StudyState, reason: String)? {
        if let hard = hardStopReason(now: now) { return hard }
        if !mayCreate && activeNumbers.isEmpty {
            return (.complete, trialCap.map { "max_trials reached (\($0))" } ?? "the grid is exhausted")
        }
        return nil
    }

    /// A reason to end the study whatever runs: `fail_fast`, `stop_at`, `max_wallclock`.
    public func hardStopReason(now: Double) -> (state: StudyState, reason: String)? {
        if spec.budget.failFast, let failed = trials.first(where: { $0.state == .failed }) {
            return (.failed, "fail_fast: trial \(failed.number) failed: \(failed.error ?? "no error recorded")")
        }
        if let target = spec.budget.stopAt, let best, let value = best.value,
           spec.mode == .min ? value <= target : value >= target {
            return (.complete, "stop_at reached: trial \(best.number) has \(spec.metric) \(value)")
        }
        if let limit = spec.budget.maxWallclockSeconds, now - createdAt >= limit {
            return (.complete, "max_wallclock reached after \(Int(now - createdAt)) s")
        }
        return nil
    }

    /// A trial as the searcher sees it. The constraint violation is computed again from the
    /// stored final metrics (the store keeps only whether the trial was feasible).
    static func evaluation(of trial: TrialRecord, spec: StudySpec) -> Evaluation {
        var evaluation = Evaluation(config: trial.config, state: trial.state, value: trial.value)
        guard trial.state == .complete else { return evaluation }
        if spec.isMultiObjective || !spec.constraints.isEmpty {
            guard case .success(let objectives) = spec.objectiveValues(of: trial.metrics) else {
                // A told trial with only `value`, or a row from before the study had objectives.
                evaluation.values = trial.values
                evaluation.feasible = trial.isFeasible
                return evaluation
            }
            evaluation.values = objectives.values
            evaluation.feasible = objectives.feasible
            evaluation.violation = objectives.violation
            evaluation.constraints = objectives.constraints
        } else {
            evaluation.values = trial.value.flatMap { $0.isFinite ? [$0] : nil }
        }
        return evaluation
    }

    /// The final metric of a FINAL payload: `metrics[spec.metric]`, or why it is missing.
    public func value(fromFinal payload: JSONValue?) -> Result<(Double, JSONValue), ResultError> {
        Self.value(fromFinal: payload, metric: spec.metric)
    }

    /// A complete trial's result read from its final metrics: the primary objective's value and,
    /// in a multi-objective or constrained study, every objective and the feasibility; or why a
    /// value is missing (a complete trial must report every objective and constrained metric).
    public static func result(fromFinal payload: JSONValue?, spec: StudySpec) -> Result<FinalResult, ResultError> {
        let metrics = payload?.object?["metrics"] ?? .object([:])
        return result(ofMetrics: metrics, spec: spec)
    }

    /// `result(fromFinal:spec:)` for a metrics object itself (a `tell`, a last report).
    public static func result(ofMetrics metrics: JSONValue, spec: StudySpec) -> Result<FinalResult, ResultError> {
        guard spec.isMultiObjective || !spec.constraints.isEmpty else {
            return value(fromFinal: .object(["metrics": metrics]), metric: spec.metric)
                .map { FinalResult(value: $0.0, metrics: $0.1, objectives: nil) }
        }
        switch spec.objectiveValues(of: metrics) {
        case .success(let objectives):
            let primary = spec.objectives.firstIndex { $0.name == spec.metric } ?? 0
            return .success(FinalResult(value: objectives.values[primary], metrics: metrics, objectives: objectives))
        case .failure(let error):
            return .failure(ResultError(message: error.message))
        }
    }

    /// The final `metric` of a FINAL payload, or why it is missing.
    public static func value(fromFinal payload: JSONValue?, metric: String) -> Result<(Double, JSONValue), ResultError> {
        let metrics = payload?.object?["metrics"] ?? .object([:])
        guard let value = metrics.object?[metric]?.double, value.isFinite else {
            let keys = (metrics.object?.keys.sorted() ?? []).joined(separator: ", ")
            return .failure(ResultError(message: "the final metrics hold no finite \"\(metric)\" (reported keys: \(keys.isEmpty ? "none" : keys))"))
        }
        return .success((value, metrics))
    }
}

extension StudyDriver {
    /// Most characters of stderr a failure message quotes.
    static let quotedStderr = 300

    /// A FAILED payload's error, with the last line the trial wrote on stderr when there is one
    /// (`exit code 2: python3: can't open file '/x/train.py': [Errno 2] No such file or directory`):
    /// "exit code 2" alone does not say what went wrong.
    public static func failureMessage(_ payload: JSONValue?) -> String {
        let error = payload?.object?["error"]?.argument ?? "attempt failed"
        guard let tail = payload?.object?["stderr_tail"]?.argument,
              let last = tail.split(whereSeparator: \.isNewline).last(where: { !$0.allSatisfy(\.isWhitespace) }) else { return error }
        var line = String(last.drop(while: \.isWhitespace))
        while line.last?.isWhitespace == true { line.removeLast() }
        return "\(error): \(line.count > quotedStderr ? "…" + String(line.suffix(quotedStderr)) : line)"
    }
}

/// What a complete trial scored.
public struct FinalResult: Sendable {
    /// The primary objective (`StudySpec.metric`).
    public var value: Double
    /// The final metrics object.
    public var metrics: JSONValue
    /// Every objective and the feasibility; nil in a single-objective study without constraints.
    public var objectives: ObjectiveValues?

    /// Writes the result into a trial record.
    public func apply(to trial: inout TrialRecord) {
        trial.value = value
        trial.metrics = metrics
        trial.values = objectives?.values
        trial.feasible = objectives.map(\.feasible)
    }
}

/// Why a trial's result could not be used.
public struct ResultError: Error, Sendable {
    public var message: String
}
