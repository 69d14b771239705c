import LoomWire

/// The multi-objective views: the Pareto front of `best`, the objective columns of `trials` and
/// the export, the front line of `status`.
extension StudyRendering {
    /// The objectives of a study document (`[(name, mode)]`); empty for a single-objective study
    /// without constraints.
    static func objectives(_ study: [String: JSONValue]) -> [(name: String, mode: String)] {
        (study["objectives"]?.arrayValue ?? []).compactMap(\.object).map { ($0["name"]?.argument ?? "?", $0["mode"]?.argument ?? "?") }
    }

    /// `best` of a multi-objective or constrained study: the Pareto front, feasible trials first,
    /// then by the first objective.
    static func paretoFront(_ doc: JSONValue) -> String {
        let s = doc.object?["study"]?.object ?? [:]
        let objectives = objectives(s)
        let front = sortedFront(s)
        let constraints = (s["constraints"]?.arrayValue ?? []).map(\.argument)
        var lines = ["Pareto front of study \(s["id"]?.argument ?? "?"): \(front.count) trial\(front.count == 1 ? "" : "s")"
                     + " — " + objectives.map { "\($0.name) (\($0.mode))" }.joined(separator: ", ")
                     + (constraints.isEmpty ? "" : "; constraints: " + constraints.joined(separator: ", "))]
        guard !front.isEmpty else { return lines[0] + "\nno complete trial yet" }
        if front.allSatisfy({ $0["feasible"] == .bool(false) }) {
            lines.append("no trial keeps the constraints yet: these are the least infeasible")
        }
        let rows = front.map { entry -> [String] in
            let values = entry["values"]?.arrayValue ?? []
            return [number(entry["trial"])] + values.map { number($0) } + [entry["feasible"] == .bool(false) ? "no" : "yes", config(entry["config"])]
        }
        lines.append("")
        lines.append(table(["TRIAL"] + objectives.map { $0.name.uppercased() } + ["FEASIBLE", "CONFIG"], rows))
        return lines.joined(separator: "\n")
    }

    /// The `pareto` entries, feasible first, then by the first objective in its mode.
    static func sortedFront(_ study: [String: JSONValue]) -> [[String: JSONValue]] {
        let maximise = objectives(study).first?.mode == "max"
        return (study["pareto"]?.arrayValue ?? []).compactMap(\.object).sorted { a, b in
            let (fa, fb) = (a["feasible"] != .bool(false), b["feasible"] != .bool(false))
            if fa != fb { return fa }
            let (x, y) = (a["values"]?.arrayValue?.first?.double ?? 0, b["values"]?.arrayValue?.first?.double ?? 0)
            if x != y { return maximise ? x > y : x < y }
            return (a["trial"]?.double ?? 0) < (b["trial"]?.double ?? 0)
        }
    }

    /// `best --json` of a multi-objective or constrained study.
    static func paretoJSON(_ doc: JSONValue) -> JSONValue {
        let s = doc.object?["study"]?.object ?? [:]
        var out: [String: JSONValue] = ["pareto": .array(sortedFront(s).map(JSONValue.object))]
        out["objectives"] = s["objectives"]
        out["constraints"] = s["constraints"]
        return .object(out)
    }

    /// The `status` line of a multi-objective study: the front's size.
    static func frontLine(_ study: [String: JSONValue]) -> String? {
        guard !objectives(study).isEmpty, let front = study["pareto"]?.arrayValue else { return nil }
        let feasible = front.filter { $0.object?["feasible"] != .bool(false) }.count
        let names = objectives(study).map { "\($0.name) (\($0.mode))" }.joined(separator: ", ")
        return "objectives: \(names) — Pareto front: \(front.count) trial\(front.count == 1 ? "" : "s")"
            + (feasible < front.count ? " (none feasible yet)" : "")
    }
}
