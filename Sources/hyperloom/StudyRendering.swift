import Foundation
import LoomWire

/// Tables, progress lines and exports of study documents, for people and for pandas.
enum StudyRendering {
    /// `12.3s`, `4m05s`, `1h02m`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        if seconds < 3600 { return String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60) }
        return String(format: "%dh%02dm", Int(seconds) / 3600, (Int(seconds) % 3600) / 60)
    }

    static func number(_ value: JSONValue?) -> String {
        guard let value else { return "-" }
        if case .number(let x) = value {
            if x.rounded() == x, abs(x) < 1e12 { return String(Int64(x)) }
            return String(format: "%.6g", x)
        }
        return value.argument
    }

    /// A config as `lr=0.0123 l2=1e-05 epochs=7`, parameters in name order.
    static func config(_ value: JSONValue?) -> String {
        guard let config = value?.object else { return "" }
        return config.keys.sorted().map { "\($0)=\(number(config[$0]))" }.joined(separator: " ")
    }

    /// Left-aligned columns, two spaces apart.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// The summary of one study (the `status STUDY` view).
    static func summary(_ doc: JSONValue) -> String {
        let s = doc.object ?? [:]
        var lines = ["study \(s["id"]?.argument ?? "?")  \(s["state"]?.argument ?? "?")"
                     + (s["reason"].map { " (\($0.argument))" } ?? "")]
        let counts = s["counts"]?.object ?? [:]
        let parts = counts.keys.sorted().compactMap { key -> String? in
            guard let n = counts[key]?.double, n > 0 else { return nil }
            return "\(key) \(Int(n))"
        }
        let total = s["max_trials"].map { " of \(number($0))" } ?? ""
        lines.append("trials: \(number(s["trials"]))\(total)" + (parts.isEmpty ? "" : " — " + parts.joined(separator: ", ")))
        if let front = frontLine(s) { lines.append(front) }
        if let metric = s["metric"]?.argument, let mode = s["mode"]?.argument {
            if let best = s["best"]?.object {
                lines.append("best \(metric) (\(mode)): \(number(best["value"])) — trial \(number(best["number"])): \(config(best["config"]))")
            } else {
                lines.append("best \(metric) (\(mode)): none yet")
            }
        }
        if let scheduler = s["scheduler"]?.object, let type = scheduler["type"]?.argument, type != "fifo" {
            let parameters = scheduler.keys.sorted().filter { $0 != "type" }.map { "\($0) \(scheduler[$0]!.argument)" }
            lines.append("scheduler: \(type)" + (parameters.isEmpty ? "" : " — " + parameters.joined(separator: ", ")))
        }
        if case .array(let rungs)? = s["rungs"] {
            let resource = s["scheduler"]?.object?["resource"]?.argument ?? "budget"
            let parts = rungs.compactMap(\.object).map { "\(number($0["budget"])): \(number($0["trials"]))" }
            lines.append("trials per \(resource) budget: " + parts.joined(separator: " · "))
        }
        if let created = s["created_at"]?.double {
            let end = s["finished_at"]?.double ?? Date().timeIntervalSince1970
            lines.append("elapsed: \(duration(end - created))")
        }
        for case .string(let warning) in s["warnings"]?.arrayValue ?? [] { lines.append("warning: \(warning)") }
        return lines.joined(separator: "\n")
    }

    /// The trials of a study as a table, in trial order.
    static func trials(_ doc: JSONValue) -> String {
        let rows = trialObjects(doc).map { t -> [String] in
            let state: String = t["state"]?.argument ?? "?"
            let worker: String = t["worker"]?.argument ?? "-"
            let time: String = t["duration_s"]?.double.map(duration) ?? "-"
            let note: String = t["note"].map { "\($0.argument) · " } ?? ""
            // A failed trial shows its config too: which settings failed is the first question.
            let detail: String = note + config(t["config"]) + (t["error"].map { " · error: \($0.argument)" } ?? "")
            let budget: String = t["budget"].map(number) ?? "-"
            // A multi-objective trial shows every objective, `*` marking the Pareto front and `!` an infeasible trial.
            let value: String = t["values"]?.arrayValue.map { values in
                values.map { number($0) }.joined(separator: " / ") + (t["front"]?.double == 0 ? " *" : "") + (t["feasible"] == .bool(false) ? " !" : "")
            } ?? number(t["value"])
            return [number(t["number"]), state, value, number(t["attempts"]), budget, worker, time, detail]
        }
        let names = objectives(doc.object?["study"]?.object ?? [:]).map(\.name)
        let valueHeader = names.count > 1 ? names.joined(separator: " / ").uppercased() : "VALUE"
        return table(["TRIAL", "STATE", valueHeader, "ATTEMPTS", "BUDGET", "WORKER", "TIME", "CONFIG"], rows)
    }

    /// The best trial and, below it, the top trials.
    static func best(_ doc: JSONValue, top: Int) -> String {
        let s = doc.object?["study"]?.object ?? [:]
        if s["pareto"] != nil { return paretoFront(doc) }
        guard let best = s["best"]?.object else { return "study \(s["id"]?.argument ?? "?"): no complete trial yet" }
        var lines = ["best \(s["metric"]?.argument ?? "value") (\(s["mode"]?.argument ?? "")): \(number(best["value"])) — trial \(number(best["number"]))"]
        let config = best["config"]?.object ?? [:]
        for key in config.keys.sorted() { lines.append("  \(key): \(number(config[key]))") }
        let minimise = s["mode"]?.argument != "max"
        var ranked: [(value: Double, trial: [String: JSONValue])] = []
        for t in trialObjects(doc) where t["state"]?.argument == "complete" {
            if let v = t["value"]?.double { ranked.append((v, t)) }
        }
        ranked.sort { minimise ? $0.value < $1.value : $0.value > $1.value }
        if ranked.count > 1 {
            var rows: [[String]] = []
            for (i, entry) in ranked.prefix(top).enumerated() {
                rows.append(["\(i + 1)", number(entry.trial["number"]), number(entry.trial["value"]), StudyRendering.config(entry.trial["config"])])
            }
            lines.append("")
            lines.append(table(["RANK", "TRIAL", "VALUE", "CONFIG"], rows))
        }
        return lines.joined(separator: "\n")
    }

    /// The trial objects of a `trials` document.
    static func trialObjects(_ doc: JSONValue) -> [[String: JSONValue]] {
        (doc.object?["trials"]?.arrayValue ?? []).compactMap(\.object)
    }

    // MARK: - Export

    /// One JSON object per trial and line.
    static func jsonl(_ doc: JSONValue) -> String {
        let study = doc.object?["study"]?.object?["id"] ?? .null
        let trials = trialObjects(doc)
        var lines: [String] = []
        for t in trials {
            var row = t
            row["study"] = study
            lines.append(JSONValue.object(row).description)
        }
        return lines.joined(separator: "\n") + (trials.isEmpty ? "" : "\n")
    }

    /// CSV with one row per trial: identity, state, value, one `param_<name>` column per
    /// parameter (empty when inactive), one `metric_<key>` column per final metric, attempts,
    /// worker, timings, error, and the intermediate reports as a JSON array.
    static func csv(_ doc: JSONValue) -> String {
        let study = doc.object?["study"]?.object?["id"]?.argument ?? ""
        let trials = trialObjects(doc)
        var paramSet: Set<String> = []
        var metricSet: Set<String> = []
        for t in trials {
            paramSet.formUnion(t["config"]?.object?.keys ?? [:].keys)
            metricSet.formUnion(t["metrics"]?.object?.keys ?? [:].keys)
        }
        let params = paramSet.sorted()
        let metrics = metricSet.sorted()
        // A multi-objective or constrained study: a column per objective, then feasibility and front rank.
        let objectives = objectives(doc.object?["study"]?.object ?? [:]).map(\.name)
        let objectiveHeader = objectives.isEmpty ? [] : objectives.map { "objective_\($0)" } + ["feasible", "front"]
        let header = ["study", "trial", "state", "value"] + objectiveHeader + params.map { "param_\($0)" } + metrics.map { "metric_\($0)" }
            + ["attempts", "worker", "source", "created_at", "started_at", "finished_at", "duration_s", "error", "budget", "note",
               "reports"]
        var lines = [header.map(field).joined(separator: ",")]
        for t in trials {
            let config = t["config"]?.object ?? [:]
            let m = t["metrics"]?.object ?? [:]
            // Checkpoint notices repeat their report's metrics: the intermediate metrics are the reports.
            let reports = (t["reports"]?.arrayValue ?? []).compactMap(\.object)
                .filter { $0["kind"]?.argument == "report" }.compactMap { $0["metrics"] }
            var cells: [String] = [study, number(t["number"]), text(t["state"]), t["value"].map(cell) ?? ""]
            if !objectives.isEmpty {
                let values = t["values"]?.arrayValue ?? []
                for i in objectives.indices { cells.append(i < values.count ? cell(values[i]) : "") }
                cells.append(t["feasible"].map(cell) ?? "")
                cells.append(t["front"].map(cell) ?? "")
            }
            for name in params { cells.append(config[name].map(cell) ?? "") }
            for name in metrics { cells.append(m[name].map(cell) ?? "") }
            cells.append(number(t["attempts"]))
            cells.append(text(t["worker"]))
            cells.append(text(t["source"]))
            for key in ["created_at", "started_at", "finished_at", "duration_s"] { cells.append(t[key].map(cell) ?? "") }
            cells.append(text(t["error"]))
            cells.append(t["budget"].map(cell) ?? "")
            cells.append(text(t["note"]))
            cells.append(JSONValue.array(reports).description)
            lines.append(cells.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A string field, or empty.
    static func text(_ value: JSONValue?) -> String { value?.argument ?? "" }

    /// A value as a CSV cell: numbers at full precision, strings bare, the rest as JSON.
    static func cell(_ value: JSONValue) -> String {
        if case .number(let x) = value {
            if x.rounded() == x, abs(x) < 1e15 { return String(Int64(x)) }
            return "\(x)"
        }
        return value.argument
    }

    /// RFC 4180 quoting.
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension JSONValue {
    /// The elements, when this is an array.
    var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
}
