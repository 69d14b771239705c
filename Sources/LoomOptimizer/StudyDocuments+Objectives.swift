import LoomModel
import LoomSearch
import LoomWire

/// The multi-objective parts of the study documents: the objectives and constraints of the
/// summary, the Pareto front (`pareto`), and each trial's front rank (`front`).
///
/// **Front.** Complete trials with every objective are ranked by constraint-dominance
/// (`Pareto.ranks`): the non-dominated feasible trials are rank 0, and infeasible trials rank
/// after every feasible one, by violation. `pareto` lists rank 0 in trial order: the
/// feasible non-dominated trials, or, while no trial is feasible, the least infeasible ones
/// (marked `"feasible": false`).
extension StudyDocuments {
    /// `objectives`, `constraints` and, given the trials, `pareto`, for a multi-objective or
    /// constrained study; empty for a plain single-objective one.
    static func objectiveFields(spec: StudySpec, trials: [TrialRecord]?) -> [String: JSONValue] {
        guard spec.isMultiObjective || !spec.constraints.isEmpty else { return [:] }
        var fields: [String: JSONValue] = [
            "objectives": .array(spec.objectives.map { .object(["name": .string($0.name), "mode": .string($0.mode.rawValue)]) }),
        ]
        if !spec.constraints.isEmpty { fields["constraints"] = .array(spec.constraints.map { .string($0.description) }) }
        if let trials { fields["pareto"] = pareto(trials, spec: spec) }
        return fields
    }

    /// The front rank of every complete trial that has every objective, by trial number.
    public static func frontRanks(_ trials: [TrialRecord], spec: StudySpec) -> [Int: Int] {
        let modes = spec.objectives.map(\.mode)
        var ranked: [(number: Int, point: Pareto.Point)] = []
        for t in trials where t.state == .complete {
            guard let values = t.objectiveValues, values.count == modes.count, values.allSatisfy(\.isFinite) else { continue }
            let violation = spec.objectiveValues(of: t.metrics).map(\.violation).success ?? (t.isFeasible ? 0 : .infinity)
            ranked.append((t.number, Pareto.Point(losses: Pareto.losses(values, modes: modes), feasible: t.isFeasible, violation: violation)))
        }
        let ranks = Pareto.ranks(ranked.map(\.point))
        return Dictionary(uniqueKeysWithValues: zip(ranked.map(\.number), ranks))
    }

    /// `[{"trial": N, "values": [...], "feasible": true, "config": {...}}, …]`: front rank 0.
    public static func pareto(_ trials: [TrialRecord], spec: StudySpec) -> JSONValue {
        let ranks = frontRanks(trials, spec: spec)
        return .array(trials.filter { ranks[$0.number] == 0 }.map { t in
            .object(["trial": .number(Double(t.number)), "values": .array((t.objectiveValues ?? []).map(JSONValue.number)),
                     "feasible": .bool(t.isFeasible), "config": .object(t.config)])
        })
    }
}

extension Result {
    /// The success value, or nil.
    var success: Success? { if case .success(let value) = self { value } else { nil } }
}
