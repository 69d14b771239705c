import ArgumentParser
import Foundation
import LoomModel
import LoomOptimizer
import LoomWire

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit a study spec (YAML) to the optimizer; prints the study id.")

    @Argument(help: "The study spec (see Docs/study-spec.md).")
    var spec: String

    @Flag(help: "Follow the study's progress until it ends.")
    var wait = false

    @OptionGroup var source: StudySourceOptions

    func run() throws {
        try reportingFailures {
            // Parsed here first, so a broken spec is reported with its file and line and nothing
            // reaches the optimizer.
            let text: String
            do {
                text = try String(contentsOfFile: spec, encoding: .utf8)
            } catch {
                throw Failure("cannot read \(spec): \(error.localizedDescription)")
            }
            for warning in try SpecParser.parse(text, file: spec).warnings { Console.error("warning: \(warning)") }
            let base = URL(fileURLWithPath: spec).standardizedFileURL.deletingLastPathComponent().path
            let studies = try source.open(writes: true)
            defer { studies.close() }
            let answer = try studies.fetch(OptimizerRequest(op: "submit", spec: text, file: spec, baseDirectory: base))
            guard let id = answer.object?["study"]?.argument else { throw Failure("the optimizer did not name the study") }
            Console.line(id)
            if wait {
                try Progress.follow(id, source: studies)
                try StudyOutcome.requireSuccess(id, source: studies)
            }
        }
    }
}

struct StudyStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a study (trial counts by state, best so far), or the broker and every study.")

    @Argument(help: "The study id (as printed by submit); all studies when omitted.")
    var study: String?

    @Flag(help: "Print the JSON document.")
    var json = false

    @OptionGroup var source: StudySourceOptions

    func run() throws {
        try source.session { studies in
            let broker = studies.brokerStatus()
            if let study {
                let doc = try studies.fetch(OptimizerRequest(op: "status", study: study))
                guard !json else { return Console.line(doc.description) }
                Console.line(StudyRendering.summary(doc))
                if let broker, case .array(let workers)? = broker.object?["workers"] {
                    Console.line("workers alive: \(workers.count)")
                }
                return
            }
            let list: JSONValue
            do {
                // The broker's own view should not wait long for an optimizer that may not exist.
                list = try studies.fetch(OptimizerRequest(op: "studies"), patience: .seconds(1))
            } catch let failure as Failure where broker != nil {
                // A broker without an optimizer: show the broker alone.
                list = .object(["studies": .array([]), "optimizer": .string(failure.description)])
            }
            if json {
                var doc = list.object ?? [:]
                doc["broker"] = broker
                return Console.line(JSONValue.object(doc).description)
            }
            if let broker { Console.line(StatusTable.render(broker)) }
            if let note = list.object?["optimizer"]?.argument { Console.line("optimizer: \(note)") }
            let rows = (list.object?["studies"]?.arrayValue ?? []).compactMap(\.object).map { s -> [String] in
                let counts = s["counts"]?.object ?? [:]
                return [s["id"]?.argument ?? "?", s["state"]?.argument ?? "?",
                        "\(StudyRendering.number(counts["complete"]))/\(StudyRendering.number(s["max_trials"] ?? s["trials"]))",
                        StudyRendering.number(counts["running"]), StudyRendering.number(counts["failed"]),
                        StudyRendering.number(s["best"]?.object?["value"])]
            }
            if broker != nil { Console.line("") }
            Console.line(rows.isEmpty ? "no studies" : StudyRendering.table(["STUDY", "STATE", "DONE", "RUNNING", "FAILED", "BEST"], rows))
        }
    }
}

struct Trials: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a study's trials.")

    @Argument(help: "The study id.")
    var study: String

    @Flag(help: "Print the JSON document.")
    var json = false

    @OptionGroup var source: StudySourceOptions

    func run() throws {
        try source.session { studies in
            let doc = try studies.fetch(OptimizerRequest(op: "trials", study: study))
            Console.line(json ? doc.description : StudyRendering.trials(doc))
        }
    }
}

struct Best: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a study's best config and metric, and the top trials; for several objectives or constraints, the Pareto front.")

    @Argument(help: "The study id.")
    var study: String

    @Option(help: "How many of the best trials to list.")
    var top = 5

    @Flag(help: "Print the best trial as JSON (several objectives: {\"pareto\": [{\"trial\", \"values\", \"feasible\", \"config\"}, …]}).")
    var json = false

    @OptionGroup var source: StudySourceOptions

    func run() throws {
        try source.session { studies in
            let doc = try studies.fetch(OptimizerRequest(op: "trials", study: study))
            if json {
                // A multi-objective or constrained study has a front, not one best trial.
                if doc.object?["study"]?.object?["pareto"] != nil { return Console.line(StudyRendering.paretoJSON(doc).description) }
                return Console.line((doc.object?["study"]?.object?["best"] ?? .null).description)
            }
            Console.line(StudyRendering.best(doc, top: top))
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a study's trials, one row per trial: params, final and intermediate metrics, state, timings, worker, attempts.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, jsonl }

    @Argument(help: "The study id.")
    var study: String

    @Option(help: "csv or jsonl.")
    var format: Format = .csv

    @Option(help: "Write to this file instead of standard output.")
    var out: String?

    @OptionGroup var source: StudySourceOptions

    func run() throws {
        try source.session { studies in
            let doc = try studies.fetch(OptimizerRequest(op: "export", study: study))
            let text = format == .csv ? StudyRendering.csv(doc) : StudyRendering.jsonl(doc)
            if let out {
                do {
                    try text.write(toFile: out, atomically: true, encoding: .utf8)
                } catch {
                    throw Failure("cannot write \(out): \(error.localizedDescription)")
                }
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
    }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a study: its running trials are stopped.")

    @Argument(help: "The study id.")
    var study: String

    @OptionGroup var source: StudySourceOptions

    func run() throws {
        try source.session(writes: true) { studies in
            Console.line(StudyRendering.summary(try studies.fetch(OptimizerRequest(op: "cancel", study: study))))
        }
    }
}

struct Ask: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the study for a trial to evaluate yourself; prints {\"trial\": N, \"config\": {…}}.")

    @Argument(help: "The study id.")
    var study: String

    @OptionGroup var source: StudySourceOptions

    func run() throws {
        try source.session(writes: true) { studies in
            Console.line(try studies.fetch(OptimizerRequest(op: "ask", study: study)).description)
        }
    }
}

struct Tell: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tell the study the result of a trial from ask.")

    @Argument(help: "The study id.")
    var study: String

    @Argument(help: "The trial number that ask printed.")
    var trial: Int

    @Option(help: "The trial's final metric value.")
    var value: Double?

    @Option(name: .customLong("metric"), help: ArgumentHelp("A metric of the result, NAME=VALUE (repeat it): every objective, and every constrained metric, of a study with several metrics or constraints.", valueName: "name=value"))
    var metrics: [String] = []

    @Option(help: "complete (default, needs --value or --metric), failed or pruned.")
    var state = "complete"

    @OptionGroup var source: StudySourceOptions

    /// `--metric` as a metrics object.
    func metricsObject() throws -> JSONValue? {
        guard !metrics.isEmpty else { return nil }
        var object: [String: JSONValue] = [:]
        for item in metrics {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let x = Double(parts[1]), x.isFinite else {
                throw ValidationError("--metric takes NAME=VALUE with a finite number, e.g. --metric latency_ms=12.5; found \"\(item)\"")
            }
            guard object[parts[0]] == nil else { throw ValidationError("--metric \(parts[0]) is given twice") }
            object[parts[0]] = .number(x)
        }
        return .object(object)
    }

    func validate() throws {
        _ = try metricsObject()
        if state == "complete" && value == nil && metrics.isEmpty {
            throw ValidationError("--value (or --metric NAME=VALUE for each objective) is required for a complete trial")
        }
        if let value, !value.isFinite {
            throw ValidationError("--value must be a finite number, not \(value); to record a trial that produced no usable value use --state failed")
        }
    }

    func run() throws {
        try source.session(writes: true) { studies in
            let doc = try studies.fetch(OptimizerRequest(op: "tell", study: study, trial: trial, value: value, state: state,
                                                         metrics: try metricsObject()))
            Console.line(doc.description)
        }
    }
}

/// Follows a study until it ends: a live progress line on a terminal, a line every few seconds
/// otherwise.
enum Progress {
    static func follow(_ id: String, source: StudySource, interval: Duration = .milliseconds(500),
                       stop: (() -> Bool)? = nil) throws {
        let tty = isatty(STDOUT_FILENO) == 1
        let started = Date().timeIntervalSince1970
        var lastPlain = 0.0
        while true {
            let doc = try source.fetch(OptimizerRequest(op: "status", study: id))
            let s = doc.object ?? [:]
            let finished = s["state"]?.argument != "running"
            let now = Date().timeIntervalSince1970
            let line = render(s, now: now, since: started)
            if tty {
                FileHandle.standardOutput.write(Data(("\r\u{1B}[2K" + line + (finished ? "\n" : "")).utf8))
            } else if finished || now - lastPlain >= 2 {
                Console.line(line)
                lastPlain = now
            }
            if finished || stop?() == true { return }
            Thread.sleep(forTimeInterval: Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18)
        }
    }

    /// `[#######-------]  12/40  2.1 trials/s  best 0.1995  elapsed 5.7s  eta 13.3s`
    static func render(_ s: [String: JSONValue], now: Double, since: Double) -> String {
        let counts = s["counts"]?.object ?? [:]
        let done = ["complete", "failed", "pruned", "cancelled"].compactMap { counts[$0]?.double }.reduce(0, +)
        let total = s["max_trials"]?.double ?? s["trials"]?.double ?? 0
        let created = s["created_at"]?.double ?? since
        let elapsed = (s["finished_at"]?.double ?? now) - created
        let rate = elapsed > 0 ? done / elapsed : 0
        let width = 24
        let filled = total > 0 ? min(width, Int(Double(width) * done / total)) : 0
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        let eta = rate > 0 && total > done ? StudyRendering.duration((total - done) / rate) : "-"
        let best = StudyRendering.number(s["best"]?.object?["value"])
        return "\(bar) \(Int(done))/\(Int(total))  \(String(format: "%.1f", rate)) trials/s  best \(best)  "
            + "running \(StudyRendering.number(counts["running"]))  elapsed \(StudyRendering.duration(elapsed))  eta \(eta)"
    }
}
