import Foundation
import LoomWire

/// What `hyperloom watch` shows, folded from feed events and status documents. Pure: no clock,
/// no I/O (times come from the events and from the caller).
///
/// **Sources.** Feed events (`job/<study>/<n>/…`, `worker/…`) give trial states, workers,
/// configs (the `queued` payload is the job spec) and metrics (report and result payloads);
/// the optimizer's study status gives the metric, mode and `max_trials`; the broker's status
/// gives worker liveness (`last_heard_ms` against `heartbeat_ms`).
/// **Progress.** Once the optimizer's status arrived, the finished count, the elapsed time and
/// the rate are the study's own (every finished state, pruned and cancelled included; from the
/// study's creation to its end or now), as `hyperloom status` shows them: the feed alone misses
/// trials a scheduler stopped and, replayed after the end, would measure the replay.
/// **Incumbent.** The best final value so far under the study's mode; each improvement is
/// recorded as a change line, newest last, at most `changeLimit` kept.
public struct WatchModel: Sendable {
    /// States of a trial as the feed shows them.
    public enum TrialState: String, Sendable, CaseIterable {
        case queued, running, complete, failed
    }

    /// One trial (one job of the study).
    public struct Trial: Sendable, Equatable {
        public var number: Int
        public var state: TrialState = .queued
        public var attempt: Int = 1
        public var worker: String?
        public var config: [String: JSONValue] = [:]
        public var budget: Double?
        /// The metric's latest value (a report or the result).
        public var latest: Double?
        /// Reports (metric lines); the checkpoint notice of a line is not another report.
        public var reports = 0
    }

    /// Health of a worker.
    public enum Health: String, Sendable {
        /// Heard from within two heartbeat intervals.
        case alive
        /// Connected, but silent for more than two heartbeat intervals.
        case slow
        /// Declared lost by the broker (or left).
        case lost
        case left
    }

    public struct Worker: Sendable, Equatable {
        public var id: String
        public var health: Health = .alive
        public var slots: Int?
        public var lastHeardMs: Int?
    }

    public static let changeLimit = 8

    /// The study watched; nil: every study (trials are then keyed by job id).
    public let study: String?
    public var metric: String?
    public var mode: String = "min"
    public var maxTrials: Int?
    public var studyState: String?
    /// From the optimizer's status (see **Progress**): trials finished in any state, and when
    /// the study was created and ended.
    public private(set) var studyFinished: Int?
    public private(set) var studyCreatedAt: Double?
    public private(set) var studyFinishedAt: Double?
    public private(set) var trials: [String: Trial] = [:]
    public private(set) var workers: [String: Worker] = [:]
    /// The incumbent: value, job and budget.
    public private(set) var best: (value: Double, job: String, budget: Double?)?
    public private(set) var changes: [String] = []
    /// Wall-clock time of the first and the last event seen.
    public private(set) var firstTime: Double?
    public private(set) var lastTime: Double?
    /// Trials finished (complete or failed), with their finish times, for the rate.
    public private(set) var finishTimes: [Double] = []
    public private(set) var lastSeq: UInt64 = 0

    public init(study: String?) {
        self.study = study
    }

    /// The feed topics to subscribe to.
    public var topics: [String] { study.map { ["job/\($0)/", "worker/"] } ?? ["job/", "worker/"] }

    /// Folds one feed event in; returns what a plain (non-terminal) view prints for it: trial
    /// starts and ends, incumbent changes, workers joining and leaving.
    @discardableResult
    public mutating func apply(_ event: FeedEvent) -> [String] {
        lastSeq = max(lastSeq, event.seq)
        guard let typed = try? event.typed() else { return [] }
        let time: Double? = typed.time > 0 ? typed.time : nil
        if let time {
            firstTime = firstTime ?? time
            lastTime = time
        }
        if let job = typed.event.job {
            guard event.topic.hasPrefix("job/") else { return [] }
            if let study, !job.hasPrefix(study + "/") { return [] }
            return applyJob(job, typed.event, payload: event.payload, time: time)
        }
        return applyWorker(typed.event)
    }

    /// Takes the metric, mode, `max_trials` and state from the optimizer's study status.
    public mutating func applyStudyStatus(_ doc: JSONValue) {
        guard let s = doc.object else { return }
        metric = s["metric"]?.argument ?? metric
        mode = s["mode"]?.argument ?? mode
        maxTrials = s["max_trials"]?.double.map { Int($0) } ?? maxTrials
        studyState = s["state"]?.argument ?? studyState
        if let counts = s["counts"]?.object {
            studyFinished = ["complete", "failed", "pruned", "cancelled"].compactMap { counts[$0]?.double }.reduce(0) { $0 + Int($1) }
        }
        studyCreatedAt = s["created_at"]?.double ?? studyCreatedAt
        studyFinishedAt = s["finished_at"]?.double ?? studyFinishedAt
    }

    /// Trials finished: the study's count once known, else the feed's complete and failed.
    public var finished: Int {
        studyFinished ?? counts.filter { $0.key == .complete || $0.key == .failed }.values.reduce(0, +)
    }

    /// Seconds since the study was created (until it ended), else since the first event seen.
    public func elapsed(now: Double) -> Double? {
        if let created = studyCreatedAt { return (studyFinishedAt ?? now) - created }
        return firstTime.map { now - $0 }
    }

    /// Finished trials per second: the study's over its elapsed time, else the feed's.
    public func progressRate(now: Double) -> Double? {
        if let finished = studyFinished, let elapsed = elapsed(now: now) {
            return finished > 0 && elapsed > 0 ? Double(finished) / elapsed : nil
        }
        return rate
    }

    /// Takes worker liveness from the broker's status document.
    public mutating func applyBrokerStatus(_ doc: JSONValue) {
        guard case .array(let list)? = doc.object?["workers"] else { return }
        for w in list.compactMap(\.object) {
            guard let id = w["id"]?.argument else { continue }
            var worker = workers[id] ?? Worker(id: id)
            worker.slots = w["slots"]?.double.map { Int($0) } ?? worker.slots
            let heard = w["last_heard_ms"]?.double.map { Int($0) }
            let interval = w["heartbeat_ms"]?.double ?? 1_000
            worker.lastHeardMs = heard
            if worker.health == .alive || worker.health == .slow {
                worker.health = (heard.map { Double($0) > 2 * interval } ?? false) ? .slow : .alive
            }
            workers[id] = worker
        }
    }

    /// Counts by state.
    public var counts: [TrialState: Int] {
        var counts: [TrialState: Int] = [:]
        for trial in trials.values { counts[trial.state, default: 0] += 1 }
        return counts
    }

    /// Finished trials per second over the events seen (nil before two finishes).
    public var rate: Double? {
        guard let first = firstTime, let last = finishTimes.last, last > first, !finishTimes.isEmpty else { return nil }
        return Double(finishTimes.count) / (last - first)
    }

    // MARK: - Folding

    private mutating func applyWorker(_ event: BrokerEvent) -> [String] {
        guard let id = event.worker else { return [] }
        var worker = workers[id] ?? Worker(id: id)
        var reason: String?
        switch event {
        case .workerJoined(_, _, _, let slots, _, _, _, _):
            worker.health = .alive
            worker.slots = slots
        case .workerGone(_, let left, let why, _):
            worker.health = left ? .left : .lost
            reason = why
        default: return []
        }
        workers[id] = worker
        return ["worker \(id) \(event.name)" + (reason.map { " (\($0))" } ?? "")]
    }

    private mutating func applyJob(_ job: String, _ event: BrokerEvent, payload: Frame?, time: Double?) -> [String] {
        let number = Int(job.split(separator: "/").last ?? "") ?? 0
        let name = study == nil ? job : "trial \(number)"
        var notes: [String] = []
        var trial = trials[job] ?? Trial(number: number)
        if let attempt = event.attempt { trial.attempt = Int(attempt) }
        switch event {
        case .queued, .requeued:
            if let payload, let spec = try? JSONValue(parsing: payload).object {
                trial.config = spec["config"]?.object ?? trial.config
                trial.budget = spec["budget"]?.double ?? trial.budget
            }
            trial.state = .queued
            trial.worker = nil
        case .assigned(_, let worker, _), .reclaimed(_, let worker, _):
            trial.state = .running
            trial.worker = worker
        case .started(_, let worker, _):
            trial.state = .running
            trial.worker = worker
            notes.append("\(name) started on \(worker) (attempt \(trial.attempt))")
        case .update(.report, _, _, _, _):
            trial.reports += 1
            trial.latest = metricValue(payload) ?? trial.latest
        case .update(.checkpoint, _, _, _, _):
            trial.latest = metricValue(payload) ?? trial.latest
        case .update(.final, _, _, _, _):
            trial.state = .complete
            trial.latest = metricValue(payload) ?? trial.latest
            if let time { finishTimes.append(time) }
            notes.append("\(name) complete: \(metric ?? "value") \(trial.latest.map { Self.text(.number($0)) } ?? "-")")
            trials[job] = trial
            if let value = trial.latest, let change = considerIncumbent(job: job, value: value, trial: trial) { notes.append(change) }
            return notes
        case .update(.failed, _, _, _, _), .failedByBroker:
            trial.state = .failed
            if let time { finishTimes.append(time) }
            var reason = ""
            if case .failedByBroker(_, let why) = event { reason = ": \(why)" }
            notes.append("\(name) failed" + reason)
        default:
            return []
        }
        trials[job] = trial
        return notes
    }

    private func metricValue(_ payload: Frame?) -> Double? {
        guard let payload, let object = try? JSONValue(parsing: payload).object else { return nil }
        if let metric { return object[metric]?.double }
        return nil
    }

    /// Makes the trial the incumbent when it is better; returns the change line.
    private mutating func considerIncumbent(job: String, value: Double, trial: Trial) -> String? {
        guard let incumbent = best else {
            best = (value, job, trial.budget)
            return nil
        }
        let better = mode == "max" ? value > incumbent.value : value < incumbent.value
        guard better else { return nil }
        let old = trials[incumbent.job]?.config ?? [:]
        let changed = Set(old.keys).union(trial.config.keys).sorted().compactMap { key -> String? in
            guard old[key] != trial.config[key] else { return nil }
            return "\(key) \(Self.text(old[key])) → \(Self.text(trial.config[key]))"
        }
        var line = "challenger \(Self.text(.number(value))) beats incumbent \(Self.text(.number(incumbent.value)))"
        if let budget = trial.budget { line += " at budget \(Self.text(.number(budget)))" }
        line += changed.isEmpty ? "" : "; changed: " + changed.joined(separator: ", ")
        changes.append(line)
        if changes.count > Self.changeLimit { changes.removeFirst(changes.count - Self.changeLimit) }
        best = (value, job, trial.budget)
        return line
    }

    /// A JSON value for people: numbers as `%.4g` (integers plainly), strings bare.
    public static func text(_ value: JSONValue?) -> String {
        guard let value else { return "-" }
        switch value {
        case .number(let x):
            if x.rounded() == x, abs(x) < 1e12 { return String(Int64(x)) }
            return String(format: "%.4g", x)
        case .string(let s): return s
        default: return value.description
        }
    }
}
