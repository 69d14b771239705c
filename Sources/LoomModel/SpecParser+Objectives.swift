import Foundation
import Yams

/// What a study optimises: `metric` and `mode`, or `metrics` (several objectives, each with its
/// mode), and `constraints` on reported values.
extension SpecParser {
    static let objectiveKeys = ["name", "mode"]
    /// More objectives than this make a Pareto front of almost every trial; the store and the
    /// wire carry them as a list, so the cap is about usefulness, not capacity.
    public static let maxObjectives = 8
    /// Constraints per study.
    public static let maxConstraints = 32

    /// `metric` + `mode`, or `metrics`, never both.
    static func parseObjectives(_ reader: SpecReader, _ top: SpecReader.Entries) throws(SpecError) -> [Objective] {
        guard let list = top["metrics"] else {
            if top["metric"] == nil, top["mode"] == nil {
                throw reader.error(top.owner ?? top.node, "metric",
                                   "missing required key \"metric\" (the key of the trial's metric lines to optimise, e.g. metric: loss; "
                                       + "or metrics: [{name: accuracy, mode: max}, {name: latency_ms, mode: min}] for several objectives)")
            }
            let name = try metricName(reader, try reader.required(top, "metric", "the key of the trial's metric lines to optimise, e.g. metric: loss"), "metric")
            return [Objective(name: name, mode: try parseMode(reader, top))]
        }
        for key in ["metric", "mode"] {
            if let entry = top[key] {
                throw reader.error(entry.keyNode, key, "\(key) and metrics exclude each other: with metrics, each entry names its metric and mode "
                                       + "({name: accuracy, mode: max})")
            }
        }
        let items = try reader.sequence(list.value, "metrics", expected: "a list of objectives such as [{name: accuracy, mode: max}, {name: latency_ms, mode: min}]")
        guard !items.isEmpty else { throw reader.error(list.value, "metrics", "expected at least one objective, found an empty list") }
        guard items.count <= maxObjectives else {
            throw reader.error(list.value, "metrics", "expected at most \(maxObjectives) objectives, found \(items.count)")
        }
        var objectives: [Objective] = []
        for (i, item) in items.enumerated() {
            let field = "metrics[\(i)]"
            let entries = try reader.entries(item, field, expected: "a mapping {name: METRIC, mode: min|max}")
            try reader.checkKeys(entries, allowed: objectiveKeys, in: "in \(field)")
            let name = try metricName(reader, try reader.required(entries, "name", "the metric key, e.g. name: accuracy"), "\(field).name")
            let modeNode = try reader.required(entries, "mode", "min or max")
            guard let text = try? reader.text(modeNode, "\(field).mode"), let mode = Mode(rawValue: text) else {
                throw reader.error(modeNode, "\(field).mode", "expected min or max, found \(reader.found(modeNode))")
            }
            if let first = objectives.firstIndex(where: { $0.name == name }) {
                throw reader.error(entries["name"]?.value, "\(field).name", "duplicate objective \"\(name)\" (already metrics[\(first)])")
            }
            objectives.append(Objective(name: name, mode: mode))
        }
        return objectives
    }

    static func metricName(_ reader: SpecReader, _ node: Node, _ field: String) throws(SpecError) -> String {
        let metric = try reader.text(node, field, expected: "a metric name")
        guard !metric.isEmpty else { throw reader.error(node, field, "expected a metric name, found an empty string") }
        guard metric != "checkpoint" else {
            throw reader.error(node, field, "\"checkpoint\" is the checkpoint flag of metric lines, not a metric")
        }
        return metric
    }

    /// `constraints`: a list of `METRIC OP NUMBER` (or `NUMBER OP METRIC`), OP one of `<=`, `<`, `>=`, `>`.
    static func parseConstraints(_ reader: SpecReader, _ node: Node?) throws(SpecError) -> [MetricConstraint] {
        guard let node else { return [] }
        let items = try reader.sequence(node, "constraints", expected: "a list of bounds such as [\"latency_ms <= 20\", \"memory_mb < 512\"]")
        guard items.count <= maxConstraints else {
            throw reader.error(node, "constraints", "expected at most \(maxConstraints) constraints, found \(items.count)")
        }
        var constraints: [MetricConstraint] = []
        for (i, item) in items.enumerated() {
            let field = "constraints[\(i)]"
            let text = try reader.text(item, field, expected: "a bound such as \"latency_ms <= 20\"")
            let constraint: MetricConstraint
            switch parseConstraint(text) {
            case .success(let c): constraint = c
            case .failure(let problem): throw reader.error(item, field, problem.message)
            }
            if constraint.metric == "checkpoint" {
                throw reader.error(item, field, "\"checkpoint\" is the checkpoint flag of metric lines, not a metric")
            }
            if constraints.contains(constraint) {
                throw reader.error(item, field, "duplicate constraint \"\(constraint)\"")
            }
            constraints.append(constraint)
        }
        return constraints
    }

    /// Why a constraint's text does not read as a bound.
    struct ConstraintProblem: Error { var message: String }

    /// One bound, `latency_ms <= 20` or `0.9 <= accuracy`.
    static func parseConstraint(_ text: String) -> Result<MetricConstraint, ConstraintProblem> {
        let expected = "expected METRIC OP NUMBER with OP one of <=, <, >=, > (e.g. \"latency_ms <= 20\")"
        let operatorCharacters: Set<Character> = ["<", ">", "=", "!"]
        guard let start = text.firstIndex(where: { operatorCharacters.contains($0) }) else {
            return .failure(ConstraintProblem(message: "no comparison in \(quoteYAML(text)); \(expected)"))
        }
        let end = text[start...].firstIndex { !operatorCharacters.contains($0) } ?? text.endIndex
        let op = String(text[start..<end])
        guard let comparison = MetricConstraint.Comparison(rawValue: op) else {
            return .failure(ConstraintProblem(message: "unknown operator \"\(op)\" in \(quoteYAML(text)); expected one of <=, <, >=, > "
                                                  + "(an equality bound is not a constraint an optimiser can approach)"))
        }
        let left = text[..<start].trimmingCharacters(in: .whitespaces)
        let right = text[end...].trimmingCharacters(in: .whitespaces)
        guard !left.isEmpty, !right.isEmpty else {
            return .failure(ConstraintProblem(message: "\(quoteYAML(text)) has nothing on one side of \(op); \(expected)"))
        }
        func isName(_ s: String) -> Bool {
            guard let first = s.unicodeScalars.first, !CharacterSet.decimalDigits.contains(first) else { return false }
            return s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "_.-/".unicodeScalars.contains($0) }
        }
        switch (Double(left), Double(right)) {
        case (nil, let bound?) where isName(left) && bound.isFinite:
            return .success(MetricConstraint(metric: left, comparison: comparison, bound: bound))
        case (let bound?, nil) where isName(right) && bound.isFinite:
            return .success(MetricConstraint(metric: right, comparison: comparison.flipped, bound: bound))
        case (_?, _?):
            return .failure(ConstraintProblem(message: "\(quoteYAML(text)) compares two numbers; name a reported metric on one side"))
        default:
            let unknown = Double(left) == nil && !isName(left) ? left : right
            return .failure(ConstraintProblem(message: "\(quoteYAML(unknown)) in \(quoteYAML(text)) is neither a metric name (letters, digits, "
                                                  + "\"_\", \".\", \"-\", \"/\") nor a finite number; \(expected)"))
        }
    }

    /// The primary objective: `scheduler.metric` (which must be an objective), else the first.
    static func primaryObjective(_ reader: SpecReader, _ top: SpecReader.Entries, objectives: [Objective],
                                 scheduler: SchedulerSpec) throws(SpecError) -> Objective {
        guard let name = scheduler.metric else { return objectives[0] }
        guard let objective = objectives.first(where: { $0.name == name }) else {
            let names = objectives.map(\.name)
            let node = try? reader.entries(top["scheduler"]!.value, "scheduler", expected: "a mapping")["metric"]?.value
            throw reader.error(node, "scheduler.metric", "\"\(name)\" is not an objective of the study; expected one of \(names.joined(separator: ", "))"
                                   + Spelling.hint(for: name, among: names))
        }
        return objective
    }

    /// Searchers that learn from results optimise one objective unless they say otherwise.
    static func checkSearcherObjectives(_ reader: SpecReader, _ top: SpecReader.Entries, searcher: SearcherSpec,
                                        objectives: [Objective], constraints: [MetricConstraint]) throws(SpecError) {
        let multiObjective: [SearcherSpec.Kind] = [.random, .grid, .quasiRandom, .nsga2, .tpe, .gp]
        let constrained: [SearcherSpec.Kind] = [.random, .grid, .quasiRandom, .nsga2, .tpe, .gp]
        let node = top["searcher"]?.value ?? top["metrics"]?.keyNode
        if objectives.count > 1, !multiObjective.contains(searcher.kind) {
            throw reader.error(node, "searcher", "the \(searcher.kind.rawValue) searcher optimises one objective and this study has "
                                   + "\(objectives.count) (metrics); use one of \(multiObjective.map(\.rawValue).joined(separator: ", "))")
        }
        if !constraints.isEmpty, !constrained.contains(searcher.kind) {
            throw reader.error(node, "searcher", "the \(searcher.kind.rawValue) searcher does not handle constraints; use one of "
                                   + constrained.map(\.rawValue).joined(separator: ", "))
        }
    }
}
