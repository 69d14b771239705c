import Foundation
import LoomModel
import LoomPlot
import LoomStore
import LoomWire

/// Reads what `hyperloom plot` draws: a study from a store file or from a logger's JSONL file.
enum PlotInput {
    /// The study `id` in the store at `path`. `metric` and `goal` override the spec's (to plot
    /// another metric of the trials' final metric lines); `resource` overrides the spec's
    /// `scheduler.resource` and the detection of `epoch`, `step`, ….
    static func fromStore(path: String, study id: String, metric: String?, goal: Goal?, resource: String?) throws -> StudyData {
        guard FileManager.default.fileExists(atPath: path) else {
            throw Failure("no store at \(path) (hyperloom run writes \(StudySourceOptions.defaultStore); pass --store PATH or --from-log FILE)")
        }
        let store: SQLiteStore
        do {
            store = try SQLiteStore(path: path, readOnly: true)
        } catch {
            throw Failure("cannot open the store \(path): \(error)")
        }
        do {
            guard let record = try store.study(id) else {
                let known = try store.studies().map(\.id)
                throw Failure("no study \"\(id)\" in the store \(path); known: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
            }
            let spec = try SpecParser.parse(record.specText, file: "\(path): study \(id)")
            let metric = metric ?? spec.metric
            let trials = try store.trials(study: id)
            let reports = try trials.map { trial in
                try store.reports(study: id, trial: trial.number).compactMap { r in r.metrics.object.map { (metrics: $0, time: r.time) } }
            }
            let resource = MetricLines.resourceKey(explicit: resource ?? spec.scheduler.resource, metric: metric,
                                                   lines: reports.flatMap { $0.map(\.metrics) })
            let data = try zip(trials, reports).map { trial, reports in
                var data = TrialData(
                    number: trial.number, config: trial.config.compactMapValues(MetricLines.parameterValue),
                    outcome: outcome(trial.state),
                    value: metric == spec.metric ? trial.value : (trial.state == .complete ? trial.metrics?.object?[metric]?.double : nil),
                    finishedAt: trial.finishedAt,
                    runs: try store.attempts(study: id, trial: trial.number).map { RunInterval(start: $0.startedAt, end: $0.finishedAt) },
                    curve: MetricLines.curve(reports, metric: metric, resource: resource))
                data.values = spec.isMultiObjective ? trial.values : nil
                data.feasible = trial.isFeasible
                return data
            }
            var study = StudyData(id: id, metric: metric, goal: goal ?? (spec.mode == .min ? .min : .max), resource: resource,
                                  parameters: parameters(spec.space), trials: data,
                                  startedAt: record.createdAt)
            if spec.isMultiObjective {
                study.objectives = spec.objectives.map { ObjectiveInfo(name: $0.name, goal: $0.mode == .min ? .min : .max) }
            }
            return study
        } catch let error as StoreError {
            throw Failure("cannot read the store \(path): \(error)")
        }
    }

    /// The study `id` in the logger file at `path`; warnings go to standard error.
    static func fromLog(path: String, study id: String, metric: String?, goal: Goal?, resource: String?) throws -> StudyData {
        if path.lowercased().hasSuffix(".csv") {
            throw Failure("\(path) is a CSV file; plot reads the JSON Lines format (hyperloom logger --format jsonl)")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure("cannot read \(path): \(error.localizedDescription)")
        }
        do {
            let reading = try FeedLog.read(text, file: path, study: id, metric: metric, goal: goal ?? .min, resource: resource)
            for warning in reading.warnings { Console.error("warning: \(warning)") }
            return reading.study
        } catch {
            throw Failure("\(error)")
        }
    }

    static func outcome(_ state: TrialState) -> TrialOutcome {
        switch state {
        case .waiting: .waiting
        case .running: .running
        case .paused: .paused
        case .complete: .complete
        case .pruned: .pruned
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }

    /// The spec's parameters with their axes: log for `loguniform`/`lograndint`, categorical
    /// for `choice` (in the spec's order) and for `ordinal`/`grid_search` of non-numbers, linear
    /// otherwise. Constants
    /// are left out (nothing to compare).
    static func parameters(_ space: SearchSpace) -> [ParameterInfo] {
        space.parameters.compactMap { p in
            switch p.domain {
            case .constant: nil
            case .logUniform, .logRandInt: ParameterInfo(name: p.name, kind: .log)
            case .choice(let values): ParameterInfo(name: p.name, kind: .categorical(values.map(\.argument)))
            case .ordinal(let values), .grid(let values):
                ParameterInfo(name: p.name, kind: values.allSatisfy { $0.double != nil } ? .linear : .categorical(values.map(\.argument)))
            case .uniform, .normal, .randInt: ParameterInfo(name: p.name, kind: .linear)
            }
        }
    }
}
