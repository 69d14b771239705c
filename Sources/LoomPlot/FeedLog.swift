import Foundation
import LoomWire

/// Reads a logger's JSON Lines file (one feed event per line, see Docs/plots.md) into a study.
/// Pure: the caller reads the file and passes its text.
///
/// The events used, all under `job/<study>/<trial number>/…`: `queued`/`held` (payload: the job
/// spec, whose `config` is the trial's), `started` (an attempt starts), `report`/`checkpoint`
/// (payload: a metric line), `finished` (payload: `{"metrics": {…}, …}` or the metrics
/// themselves), `failed`, `requeued` (the attempt was lost) and `cancelled`. Other events and
/// topics are read (so a broken line is still reported) and ignored.
public enum FeedLog {
    /// Why a log cannot be plotted.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// `FILE:LINE: message`.
        case badLine(file: String, line: Int, message: String)
        case unknownStudy(file: String, study: String, known: [String])
        /// The study's metric was not given and the log does not say it.
        case metricNeeded(file: String, numericKeys: [String])

        public var description: String {
            switch self {
            case .badLine(let file, let line, let message): "\(file):\(line): \(message)"
            case .unknownStudy(let file, let study, let known):
                "no study \"\(study)\" in \(file); studies in it: \(known.isEmpty ? "none" : known.joined(separator: ", "))"
            case .metricNeeded(let file, let keys):
                "\(file) does not say which metric the study optimises: pass --metric KEY (numeric keys in its reports: "
                    + (keys.isEmpty ? "none" : keys.joined(separator: ", ")) + ")"
            }
        }
    }

    /// What was read, and lines that were skipped with a reason (an incomplete last line).
    public struct Reading: Sendable {
        public var study: StudyData
        public var warnings: [String]
    }

    /// One trial's events as they accumulate.
    struct Accumulator {
        var config: [String: ParameterValue] = [:]
        var outcome = TrialOutcome.waiting
        var finalMetrics: [String: JSONValue]?
        var finishedAt: Double?
        var runs: [Int: RunInterval] = [:]
        var reports: [(attempt: Int, metrics: [String: JSONValue], time: Double)] = []

        mutating func endRun(_ attempt: Int?, at time: Double) {
            if let attempt, runs[attempt] != nil, runs[attempt]?.end == nil { runs[attempt]?.end = time }
            if attempt == nil { for (a, r) in runs where r.end == nil { runs[a]?.end = time } }
        }
    }

    /// Reads `text` (the contents of `file`, named in errors) for `study`.
    public static func read(_ text: String, file: String, study: String, metric: String?, goal: Goal,
                            resource: String?) throws(Failure) -> Reading {
        var trials: [Int: Accumulator] = [:]
        var studies: Set<String> = []
        var firstTime: Double?
        var warnings: [String] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let event: [String: JSONValue]
            do {
                event = try parse(line)
            } catch {
                if index == lines.count - 1 {
                    warnings.append("\(file):\(number): ignored an incomplete last line (is a logger still writing it?)")
                    continue
                }
                throw .badLine(file: file, line: number, message: error.reason)
            }
            guard case .string(let topic)? = event["topic"] else {
                throw .badLine(file: file, line: number, message: "missing the string field \"topic\"")
            }
            guard case .string(let kind)? = event["event"] else {
                throw .badLine(file: file, line: number, message: "missing the string field \"event\"")
            }
            guard let time = event["time"]?.double else {
                throw .badLine(file: file, line: number, message: "missing the number field \"time\"")
            }
            guard let (eventStudy, trial) = trialOf(topic: topic, job: event["job"]) else { continue }
            studies.insert(eventStudy)
            guard eventStudy == study else { continue }
            firstTime = Swift.min(firstTime ?? time, time)
            let attempt = event["attempt"]?.double.map { Int($0) }
            let payload = event["payload"]?.object
            var t = trials[trial] ?? Accumulator()
            switch kind {
            case "queued", "held":
                if let config = payload?["config"]?.object {
                    t.config = config.compactMapValues(MetricLines.parameterValue)
                }
                if t.outcome == .failed || t.outcome == .waiting { t.outcome = .waiting; t.finishedAt = nil }
            case "started":
                if let attempt { t.runs[attempt] = RunInterval(start: time, end: nil) }
                t.outcome = .running
            case "report", "checkpoint":
                if let payload {
                    t.reports.append((attempt ?? 0, payload, time))
                }
            case "finished":
                t.endRun(attempt, at: time)
                t.finalMetrics = payload.map { $0["metrics"]?.object ?? $0 }
                t.outcome = .complete
                t.finishedAt = time
            case "failed":
                t.endRun(attempt, at: time)
                t.outcome = .failed
                t.finishedAt = time
            case "requeued":
                t.endRun(attempt, at: time)
                t.outcome = .waiting
            case "cancelled":
                t.endRun(nil, at: time)
                if !t.outcome.isFinished { t.outcome = .cancelled; t.finishedAt = time }
            default:
                break
            }
            trials[trial] = t
        }
        guard studies.contains(study) else { throw .unknownStudy(file: file, study: study, known: studies.sorted()) }
        let allLines = trials.values.flatMap { $0.reports.map(\.metrics) + [$0.finalMetrics].compactMap { $0 } }
        guard let metric else {
            let keys = Set(allLines.flatMap { $0.filter { $0.value.double != nil }.keys }).sorted()
            throw .metricNeeded(file: file, numericKeys: keys)
        }
        let resourceKey = MetricLines.resourceKey(explicit: resource, metric: metric, lines: allLines)
        let data = trials.keys.sorted().map { number -> TrialData in
            let t = trials[number]!
            // Attempt by attempt, each in the order of the file (the broker publishes an attempt's
            // reports in order; a body's own `seq` is not used, as the line's `seq` is the feed's).
            let reports = t.reports.enumerated().sorted { ($0.element.attempt, $0.offset) < ($1.element.attempt, $1.offset) }
                .map { (metrics: $0.element.metrics, time: $0.element.time) }
            let value = t.outcome == .complete ? t.finalMetrics?[metric]?.double : nil
            return TrialData(number: number, config: t.config, outcome: t.outcome, value: value, finishedAt: t.finishedAt,
                             runs: t.runs.keys.sorted().compactMap { t.runs[$0] },
                             curve: MetricLines.curve(reports, metric: metric, resource: resourceKey))
        }
        let study = StudyData(id: study, metric: metric, goal: goal, resource: resourceKey,
                              parameters: MetricLines.inferParameters(data.map(\.config)), trials: data,
                              startedAt: firstTime ?? 0)
        return Reading(study: study, warnings: warnings)
    }

    /// `(study, trial number)` of a job event; nil for other topics and for jobs whose id does
    /// not end in a trial number.
    static func trialOf(topic: String, job: JSONValue?) -> (String, Int)? {
        guard topic.hasPrefix("job/") else { return nil }
        let id: Substring
        if case .string(let s)? = job {
            id = Substring(s)
        } else {
            let rest = topic.dropFirst(4)
            guard let slash = rest.lastIndex(of: "/") else { return nil }
            id = rest[..<slash]
        }
        guard let slash = id.lastIndex(of: "/"), let number = Int(id[id.index(after: slash)...]) else { return nil }
        return (String(id[..<slash]), number)
    }

    struct LineError: Error { var reason: String }

    static func parse(_ line: String) throws(LineError) -> [String: JSONValue] {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: line)
        } catch {
            throw LineError(reason: "not valid JSON (\(Self.describe(error)))")
        }
        guard let object = value.object else { throw LineError(reason: "expected a JSON object, got \(line.prefix(40))") }
        return object
    }

    static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            return (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
        }
        return "\(error)"
    }
}
