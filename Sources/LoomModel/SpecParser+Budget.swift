import Yams

/// The `budget` section. `max_trials` counts trials for the random and quasi-random searchers
/// (points to evaluate included) and passes over the grid for the grid searcher.
extension SpecParser {
    static let budgetKeys = ["max_trials", "max_concurrent", "max_wallclock", "stop_at", "fail_fast"]

    static func parseBudget(_ reader: SpecReader, _ top: SpecReader.Entries, searcher: SearcherSpec,
                            pointCount: Int) throws(SpecError) -> Budget {
        var budget = Budget()
        guard let node = top["budget"]?.value else {
            guard searcher.kind == .grid else {
                throw reader.error(top.node, "budget.max_trials",
                                   "missing required key \"budget.max_trials\" (the number of trials; only the grid searcher derives it from the grid)")
            }
            return budget
        }
        let entries = try reader.entries(node, "budget", expected: "a mapping (max_trials, max_concurrent, …)",
                                         owner: top["budget"]?.keyNode)
        try reader.checkKeys(entries, allowed: budgetKeys, in: "in budget")
        if let entry = entries["max_trials"] {
            let n = try reader.integer(entry.value, "budget.max_trials", expected: "a positive integer")
            guard n >= 1 else { throw reader.error(entry.value, "budget.max_trials", "expected a positive integer, found \(n)") }
            if searcher.kind != .grid, n < pointCount {
                throw reader.error(entry.value, "budget.max_trials",
                                   "expected at least the \(pointCount) points_to_evaluate (they count as trials), found \(n)")
            }
            budget.maxTrials = n
        } else if searcher.kind != .grid {
            throw reader.error(entries.owner, "budget.max_trials",
                               "missing required key \"max_trials\" in budget (the number of trials; only the grid searcher derives it from the grid)")
        }
        if let entry = entries["max_concurrent"] {
            let n = try reader.integer(entry.value, "budget.max_concurrent", expected: "a positive integer")
            guard n >= 1 else { throw reader.error(entry.value, "budget.max_concurrent", "expected a positive integer, found \(n)") }
            budget.maxConcurrent = n
        }
        if let entry = entries["max_wallclock"] {
            budget.maxWallclockSeconds = try reader.duration(entry.value, "budget.max_wallclock")
        }
        if let entry = entries["stop_at"] {
            budget.stopAt = try reader.number(entry.value, "budget.stop_at", expected: "a finite number (a value of the metric)")
        }
        if let entry = entries["fail_fast"] {
            budget.failFast = try reader.bool(entry.value, "budget.fail_fast")
        }
        return budget
    }
}
