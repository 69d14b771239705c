import Foundation
import LoomWire
import Yams

/// Reads a study spec (YAML, see Docs/study-spec.md) into a `StudySpec`, validating everything
/// the optimizer and the searchers rely on, and reports the first problem as a `SpecError` that
/// names the file, the line, the field and what was expected.
///
/// **Purity.** `parse(_:file:)` touches no file: `file` is only the name errors show. Paths in the
/// spec (`trial.cwd`) are kept as written; whoever runs the trials resolves them against the
/// spec file's directory.
public enum SpecParser {
    /// A study name prefixes every job id, so it stays short and free of separators.
    public static let maxNameLength = 64
    /// A grid larger than this is almost always a numeric range written as a `grid_search`; the
    /// optimizer stores every trial, so it is refused instead of queued.
    public static let maxGridPoints = 100_000
    /// Job requirements carry CPU and GPU shares in thousandths as 32-bit numbers.
    static let maxResourceShare = 1_000_000.0
    /// Attempts travel as 32-bit counters; beyond this a retry limit is a mistake anyway.
    static let maxRetries = 1_000

    static let topLevelKeys = ["name", "metric", "mode", "space", "searcher", "scheduler", "trial", "budget",
                               "points_to_evaluate"]

    /// Parses a spec's text. `file` names the spec in errors; `limits` may lower the budget of
    /// `SpecBudget` (the optimizer's `spec_max_bytes`, `spec_max_nodes`).
    public static func parse(_ text: String, file: String, limits: SpecBudget.Limits = .init()) throws(SpecError) -> StudySpec {
        let reader = SpecReader(file: file)
        let root = try compose(text, file: file, limits: limits)
        let top = try reader.entries(root, "", expected: "a mapping of study settings (name, metric, mode, space, trial, …)")
        try reader.checkKeys(top, allowed: topLevelKeys, in: "at the top level")

        let name = try parseName(reader, top)
        let metric = try parseMetric(reader, top)
        let mode = try parseMode(reader, top)
        let space = try parseSpace(reader, try reader.required(top, "space", "the search space: parameter → domain"))
        let searcher = try parseSearcher(reader, top["searcher"]?.value)
        let scheduler = try parseScheduler(reader, top["scheduler"]?.value, space: space)
        // No `trial` (or no `trial.command`): an ask-only study, evaluated by ask/tell clients.
        let trial = try top["trial"].map { entry throws(SpecError) in
            try parseTrial(reader, entry.value, owner: entry.keyNode)
        } ?? TrialSpec(command: [])
        if trial.isAskOnly, !scheduler.onlyStops {
            throw reader.error(top["scheduler"]?.keyNode ?? top["trial"]?.keyNode, "scheduler",
                               "an ask-only study (no trial.command) can only prune asked trials: use fifo, median_stopping "
                                   + "or asha with type: stopping (\(scheduler.kind.rawValue) pauses or restarts trials, which "
                                   + "only the fabric can run)")
        }
        let points = try parsePoints(reader, top["points_to_evaluate"]?.value, space: space)
        let budget = try parseBudget(reader, top, searcher: searcher, pointCount: points.count)
        if searcher.kind == .grid, gridSize(of: space) == nil {
            throw reader.error(top["space"]?.keyNode, "space",
                               "the grid searcher would enumerate more than \(maxGridPoints) points (the product of "
                                   + "the grid_search values); use fewer values, or choice to sample instead of enumerating")
        }
        return StudySpec(name: name, metric: metric, mode: mode, space: space, searcher: searcher, scheduler: scheduler,
                         trial: trial, budget: budget, pointsToEvaluate: points)
    }

    /// Reads and parses a spec file; errors name `path` as given.
    public static func parse(contentsOf path: String) throws(SpecError) -> StudySpec {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = (error as NSError).localizedDescription
            throw SpecError(file: path, line: 0, column: 0, field: "file", message: "cannot read the spec: \(reason)")
        }
        return try parse(text, file: path)
    }

    // MARK: Study

    static func parseName(_ reader: SpecReader, _ top: SpecReader.Entries) throws(SpecError) -> String {
        let node = try reader.required(top, "name", "the study name, e.g. name: logreg-sgd")
        let name = try reader.text(node, "name")
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0)) }
        guard !name.isEmpty, allowed else {
            throw reader.error(node, "name", "expected letters, digits, \"_\", \".\" or \"-\" only (the name prefixes job ids), found \(quoteYAML(name))")
        }
        guard name.count <= maxNameLength else {
            throw reader.error(node, "name", "expected at most \(maxNameLength) characters, found \(name.count)")
        }
        return name
    }

    static func parseMetric(_ reader: SpecReader, _ top: SpecReader.Entries) throws(SpecError) -> String {
        let node = try reader.required(top, "metric", "the key of the trial's metric lines to optimise, e.g. metric: loss")
        let metric = try reader.text(node, "metric")
        guard !metric.isEmpty else { throw reader.error(node, "metric", "expected a metric name, found an empty string") }
        guard metric != "checkpoint" else {
            throw reader.error(node, "metric", "\"checkpoint\" is the checkpoint flag of metric lines, not a metric")
        }
        return metric
    }

    static func parseMode(_ reader: SpecReader, _ top: SpecReader.Entries) throws(SpecError) -> Mode {
        let node = try reader.required(top, "mode", "min or max")
        guard let text = try? reader.text(node, "mode"), let mode = Mode(rawValue: text) else {
            throw reader.error(node, "mode", "expected min or max, found \(reader.found(node))")
        }
        return mode
    }
}
