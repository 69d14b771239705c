import LoomPlot
import LoomWire

/// The JSON documents the dashboard's pages fetch (`/api/…`, Docs/dashboard.md). Leases are
/// decimal strings, as on the feed.
extension DashboardState {
    /// How a study page's trials table is asked for.
    public struct TrialQuery: Equatable, Sendable {
        /// `number`, `value`, `state`, `attempts` or a parameter name.
        public var sort = "number"
        public var descending = false
        /// Only trials in this state (nil: all).
        public var state: String?
        public var offset = 0
        /// At most 500 rows per answer.
        public var limit = 100

        public init(sort: String = "number", descending: Bool = false, state: String? = nil, offset: Int = 0, limit: Int = 100) {
            self.sort = sort
            self.descending = descending
            self.state = state
            self.offset = max(0, offset)
            self.limit = min(max(1, limit), 500)
        }
    }

    /// The objective of a finished trial: its result's metric (nil before the metric is known).
    func value(_ trial: Trial, metric: String?) -> Double? {
        guard let metric, trial.state == "complete" else { return nil }
        return trial.result?[metric]?.double
    }

    /// The best complete trial of a study, by its metric and mode (kept by the fold).
    func best(_ study: Study) -> (number: Int, value: Double)? { study.best }

    /// Trials by state: the optimizer's counts when its summary has them (only it knows that a
    /// trial whose rung job completed is paused), else the feed's.
    func counts(_ study: Study) -> [String: Int] {
        if case .object(let byState)? = study.summary["counts"] {
            return byState.compactMapValues { $0.double.map { Int($0) } }.filter { $0.value > 0 }
        }
        return study.stateCounts
    }

    /// Finished trials per second between the study's first event and its last finish.
    func rate(_ study: Study) -> Double? {
        guard let first = study.firstTime, let last = study.finishTimes.last, last > first else { return nil }
        return Double(study.finishTimes.count) / (last - first)
    }

    /// `/api/studies`: every study's state, progress, best value and trials/s.
    public func studiesView() -> JSONValue {
        let list = studies.keys.sorted().map { id -> JSONValue in
            let study = studies[id]!
            let counts = self.counts(study)
            var o: [String: JSONValue] = [
                "id": .string(id), "trials": .number(Double(study.trials.count)),
                "counts": .object(counts.mapValues { .number(Double($0)) }),
                "state": study.summary["state"] ?? .string(counts["running", default: 0] + counts["waiting", default: 0] > 0 ? "running" : "idle"),
            ]
            o["metric"] = study.summary["metric"]
            o["mode"] = study.summary["mode"]
            o["max_trials"] = study.summary["max_trials"]
            if let best = best(study) { o["best"] = .object(["trial": .number(Double(best.number)), "value": .number(best.value)]) }
            if let rate = rate(study) { o["trials_per_s"] = .number(rate) }
            let finished = counts.filter { ["complete", "failed", "pruned", "cancelled"].contains($0.key) }.values.reduce(0, +)
            o["finished"] = .number(Double(finished))
            return .object(o)
        }
        return .object(["position": .number(Double(position)), "studies": .array(list)])
    }

    /// `/api/study?id=`: the summary, parameter ranges, rungs and one page of the trials table;
    /// nil for an unknown study.
    public func studyView(_ id: String, query: TrialQuery = TrialQuery()) -> JSONValue? {
        guard let study = studies[id] else { return nil }
        let metric = study.metric
        let order = orderedTrials(study, query: query)
        let matching = order.count
        let rows = order.dropFirst(query.offset).prefix(query.limit).compactMap { study.trials[$0] }
        let page = rows.map { t -> JSONValue in
            var o: [String: JSONValue] = [
                "number": .number(Double(t.number)), "state": .string(t.state), "config": .object(t.config),
                "attempts": .number(Double(t.attempts.count)), "reports": .number(Double(t.reports.count)),
            ]
            o["value"] = value(t, metric: metric).map(JSONValue.number)
            o["worker"] = t.attempts.last(where: { $0.endedAt == nil })?.worker.map(JSONValue.string)
            o["budget"] = t.budget.map(JSONValue.number)
            o["reason"] = t.reason.map(JSONValue.string)
            return .object(o)
        }
        let counts = self.counts(study)
        var summary = study.summary
        summary["id"] = .string(id)
        if let best = best(study) { summary["best"] = .object(["trial": .number(Double(best.number)), "value": .number(best.value)]) }
        if let rate = rate(study) { summary["trials_per_s"] = .number(rate) }
        summary["counts"] = .object(counts.mapValues { .number(Double($0)) })
        return .object([
            "position": .number(Double(position)), "study": .object(summary), "parameters": .array(parameterRanges(study)),
            "total": .number(Double(study.trials.count)), "matching": .number(Double(matching)),
            "trials": .array(Array(page)),
        ])
    }

    /// The numbers of `study`'s trials that `query` selects, in its order. Trials without the
    /// sort key go last in either direction; ties by number.
    func orderedTrials(_ study: Study, query: TrialQuery) -> [Int] {
        if query.sort == "number" {
            // The default order: plain integers, no keys to build.
            var numbers: [Int] = []
            numbers.reserveCapacity(study.trials.count)
            for (number, t) in study.trials where query.state == nil || t.state == query.state { numbers.append(number) }
            numbers.sort(by: query.descending ? (>) : (<))
            return numbers
        }
        // Keys and numbers only: copying 10,000 trials per request cost more than the sort.
        var keyed: [(key: JSONValue, number: Int)] = []
        keyed.reserveCapacity(study.trials.count)
        for (number, t) in study.trials where query.state == nil || t.state == query.state {
            let key: JSONValue = switch query.sort {
            case "value": value(t, metric: study.metric).map(JSONValue.number) ?? .null
            case "state": .string(t.state)
            case "attempts": .number(Double(t.attempts.count))
            default: t.config[query.sort] ?? .null
            }
            keyed.append((key, number))
        }
        keyed.sort { a, b in
            let (xn, yn) = (a.key == .null, b.key == .null)
            if xn != yn { return !xn }
            if xn || a.key == b.key { return a.number < b.number }
            return query.descending ? Self.less(b.key, a.key) : Self.less(a.key, b.key)
        }
        return keyed.map(\.number)
    }

    /// Each parameter's range over the study's trials (kept by the fold): `min`/`max` for
    /// numbers, `values` otherwise.
    func parameterRanges(_ study: Study) -> [JSONValue] { study.ranges.json }

    /// `/api/trial?study=&trial=&logs_after=`: the trial's attempts, learning curve,
    /// checkpoints and the log lines after index `logsAfter` (lines count from 1 over the trial's
    /// life); nil for an unknown trial.
    public func trialView(study id: String, trial number: Int, logsAfter: Int = 0) -> JSONValue? {
        guard let study = studies[id], let t = study.trials[number] else { return nil }
        let attempts = t.attempts.map { a -> JSONValue in
            var o: [String: JSONValue] = ["attempt": .number(Double(a.attempt)), "state": .string(a.state)]
            o["lease"] = a.lease.map { .string(String($0)) }
            o["worker"] = a.worker.map(JSONValue.string)
            o["backup"] = a.backup ? .bool(true) : nil
            o["started_at"] = a.startedAt.map(JSONValue.number)
            o["ended_at"] = a.endedAt.map(JSONValue.number)
            o["detail"] = a.detail.map(JSONValue.string)
            return .object(o)
        }
        var curve: [JSONValue] = []
        var resource: String?
        if let metric = study.metric {
            resource = MetricLines.resourceKey(explicit: nil, metric: metric, lines: t.reports.map(\.metrics))
            for attempt in Set(t.reports.map(\.attempt)).sorted() {
                let points = MetricLines.curve(t.reports.filter { $0.attempt == attempt }.map { ($0.metrics, $0.time) },
                                               metric: metric, resource: resource)
                curve += points.map { .object(["attempt": .number(Double(attempt)), "x": .number($0.resource), "y": .number($0.value)]) }
            }
        }
        let firstIndex = t.logCount - t.logs.count + 1
        let logs = t.logs.enumerated().compactMap { i, line -> JSONValue? in
            let index = firstIndex + i
            guard index > logsAfter else { return nil }
            return .object(["index": .number(Double(index)), "attempt": .number(Double(line.attempt)), "stream": .string(line.stream),
                            "line": .number(Double(line.line)), "text": .string(line.text)])
        }
        let checkpoints = t.checkpoints.map { c -> JSONValue in
            var o: [String: JSONValue] = ["attempt": .number(Double(c.attempt)), "update_seq": .number(Double(c.updateSeq)),
                                          "time": .number(c.time)]
            o["payload"] = c.payload
            return .object(o)
        }
        var o: [String: JSONValue] = [
            "position": .number(Double(position)), "study": .string(id), "number": .number(Double(number)), "state": .string(t.state),
            "config": .object(t.config), "attempts": .array(attempts), "curve": .array(curve), "checkpoints": .array(checkpoints),
            "logs": .array(logs), "log_count": .number(Double(t.logCount)),
        ]
        o["metric"] = study.metric.map(JSONValue.string)
        o["resource"] = resource.map(JSONValue.string)
        o["value"] = value(t, metric: study.metric).map(JSONValue.number)
        o["result"] = t.result.map(JSONValue.object)
        o["reason"] = t.reason.map(JSONValue.string)
        o["budget"] = t.budget.map(JSONValue.number)
        return .object(o)
    }

    /// `/api/fabric`: workers (alive, slow, lost, left; slots, GPUs, running attempts), queue
    /// depth, leases, stragglers, the feed position and the broker's own status when known.
    public func fabricView() -> JSONValue {
        let list = workers.keys.sorted().map { id -> JSONValue in
            let w = workers[id]!
            var o: [String: JSONValue] = [
                "id": .string(id), "health": .string(w.health), "slots": .number(Double(w.slots)), "gpus": .number(Double(w.gpus)),
                "running": .array(w.running.sorted().compactMap { lease in
                    leases[lease].map { .object(["job": .string($0.job), "attempt": .number(Double($0.attempt)), "lease": .string(String(lease))]) }
                }),
            ]
            o["host"] = w.host.map(JSONValue.string)
            o["lateness_ms"] = w.latenessMs.map { .number(Double($0)) }
            return .object(o)
        }
        var byHealth: [String: Int] = [:]
        for w in workers.values { byHealth[w.health, default: 0] += 1 }
        let live = workers.values.filter { $0.health == "alive" || $0.health == "slow" }
        var o: [String: JSONValue] = [
            "position": .number(Double(position)), "workers": .array(list),
            "health": .object(byHealth.mapValues { .number(Double($0)) }),
            "slots": .number(Double(live.reduce(0) { $0 + $1.slots })), "gpus": .number(Double(live.reduce(0) { $0 + $1.gpus })),
            "queue_depth": .number(Double(queue.count)), "leases": .number(Double(leases.count)),
            "stragglers": .array(stragglers.reversed().map { s in
                .object(["time": .number(s.time), "job": .string(s.job), "event": .string(s.event), "detail": .string(s.detail)])
            }),
        ]
        o["broker"] = brokerStatus
        return .object(o)
    }

    /// Trials drawn in a study's charts at most: SVG of every trial of a 10,000-trial study is
    /// 11 MB and takes seconds to draw; the best and the latest tell the story.
    public static let chartTrials = 1_000
    /// Of `chartTrials`, the best complete trials; the rest are the latest by number.
    public static let chartBest = 200

    /// The trials a study's charts draw: every one up to `chartTrials`, else the `chartBest` best
    /// complete ones and the latest by number.
    func chartedTrials(_ study: Study) -> [Trial] {
        guard study.trials.count > Self.chartTrials else { return Array(study.trials.values) }
        let metric = study.metric
        let valued = study.trials.values.compactMap { t in value(t, metric: metric).map { (t.number, $0) } }
        let best = valued.sorted { study.maximize ? $0.1 > $1.1 : $0.1 < $1.1 }.prefix(Self.chartBest).map(\.0)
        var chosen = Set(best)
        for number in study.trials.keys.sorted(by: >) where chosen.count < Self.chartTrials { chosen.insert(number) }
        return chosen.compactMap { study.trials[$0] }
    }

    /// The study as `LoomPlot` draws it (`chartedTrials`); nil before its metric is known.
    public func plotData(_ id: String) -> StudyData? {
        guard let study = studies[id], let metric = study.metric else { return nil }
        let charted = chartedTrials(study)
        let resource = MetricLines.resourceKey(explicit: nil, metric: metric, lines: charted.flatMap { $0.reports.map(\.metrics) })
        let trials = charted.map { t in
            TrialData(number: t.number, config: t.config.compactMapValues(MetricLines.parameterValue),
                      outcome: TrialOutcome(rawValue: t.state == "complete" ? "complete" : t.state) ?? .waiting,
                      value: value(t, metric: metric), finishedAt: t.finishedAt,
                      runs: t.attempts.compactMap { a in a.startedAt.map { RunInterval(start: $0, end: a.endedAt) } },
                      curve: MetricLines.curve(t.reports.map { ($0.metrics, $0.time) }, metric: metric, resource: resource))
        }
        return StudyData(id: id, metric: metric, goal: study.maximize ? .max : .min, resource: resource,
                         parameters: MetricLines.inferParameters(trials.map(\.config)), trials: trials,
                         startedAt: study.firstTime ?? 0)
    }

    /// Orders two JSON values of the same kind (numbers, then strings by text).
    static func less(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x < y
        case (.number, _): true
        case (_, .number): false
        default: a.argument < b.argument
        }
    }
}
