import LoomWire

/// One metric a study optimises, and in which direction (Optuna's `directions`).
public struct Objective: Equatable, Sendable {
    /// The key of the trial's metric lines.
    public var name: String
    public var mode: Mode

    public init(name: String, mode: Mode) {
        self.name = name
        self.mode = mode
    }
}

/// A bound on a reported value, `latency_ms <= 20`: a trial that breaks it is infeasible (it
/// completes, but ranks behind every feasible trial; Deb's constraint-dominance).
public struct MetricConstraint: Equatable, Sendable, CustomStringConvertible {
    /// The comparisons a constraint may use.
    public enum Comparison: String, Sendable, CaseIterable {
        case lessOrEqual = "<="
        case less = "<"
        case greaterOrEqual = ">="
        case greater = ">"

        /// The comparison with its sides swapped (`20 >= x` is `x <= 20`).
        public var flipped: Comparison {
            switch self {
            case .lessOrEqual: .greaterOrEqual
            case .less: .greater
            case .greaterOrEqual: .lessOrEqual
            case .greater: .less
            }
        }
    }

    /// The metric key the bound applies to.
    public var metric: String
    public var comparison: Comparison
    public var bound: Double

    public init(metric: String, comparison: Comparison, bound: Double) {
        self.metric = metric
        self.comparison = comparison
        self.bound = bound
    }

    /// Optuna's constraint value: ≤ 0 means satisfied (strict bounds are satisfied only below 0).
    public func constraintValue(_ x: Double) -> Double {
        switch comparison {
        case .lessOrEqual, .less: x - bound
        case .greaterOrEqual, .greater: bound - x
        }
    }

    /// Whether a value satisfies the bound.
    public func isSatisfied(by x: Double) -> Bool {
        let c = constraintValue(x)
        switch comparison {
        case .lessOrEqual, .greaterOrEqual: return c <= 0
        case .less, .greater: return c < 0
        }
    }

    /// `latency_ms <= 20`, as the spec writes it.
    public var description: String { "\(metric) \(comparison.rawValue) \(formatNumber(bound))" }
}

/// What a complete trial scored on every objective and whether it kept the constraints.
///
/// **Violation** is the sum of the positive constraint values (Deb et al. 2002, as Optuna sums
/// them): 0 for a feasible trial, and, among infeasible ones, smaller is less infeasible. A strict
/// bound met with equality is infeasible with violation 0, so `feasible` is kept apart.
public struct ObjectiveValues: Equatable, Sendable {
    /// One value per objective, in `StudySpec.objectives` order.
    public var values: [Double]
    public var feasible: Bool
    public var violation: Double
    /// Each constraint's value in `StudySpec.constraints` order, Optuna's form
    /// (`MetricConstraint.constraintValue`: ≤ 0 satisfied); what a GP models feasibility from.
    public var constraints: [Double]

    public init(values: [Double], feasible: Bool = true, violation: Double = 0, constraints: [Double] = []) {
        self.values = values
        self.feasible = feasible
        self.violation = violation
        self.constraints = constraints
    }
}

extension StudySpec {
    /// Whether the study has more than one objective.
    public var isMultiObjective: Bool { objectives.count > 1 }

    /// The objective values and feasibility of a trial's final metrics, or why they cannot be
    /// read: a missing or non-finite objective or constrained value names the key and lists
    /// the keys reported.
    public func objectiveValues(of metrics: JSONValue?) -> Result<ObjectiveValues, ObjectiveError> {
        let object = metrics?.object ?? [:]
        func missing(_ key: String, _ role: String) -> ObjectiveError {
            let keys = object.keys.sorted().joined(separator: ", ")
            return ObjectiveError(message: "the final metrics hold no finite \"\(key)\" (\(role); reported keys: \(keys.isEmpty ? "none" : keys))")
        }
        var values: [Double] = []
        for objective in objectives {
            guard let x = object[objective.name]?.double, x.isFinite else {
                return .failure(missing(objective.name, "objective \(values.count + 1) of \(objectives.count)"))
            }
            values.append(x)
        }
        var feasible = true
        var violation = 0.0
        var constraintValues: [Double] = []
        for constraint in constraints {
            guard let x = object[constraint.metric]?.double, x.isFinite else {
                return .failure(missing(constraint.metric, "constraint \(constraint)"))
            }
            if !constraint.isSatisfied(by: x) { feasible = false }
            violation += max(0, constraint.constraintValue(x))
            constraintValues.append(constraint.constraintValue(x))
        }
        return .success(ObjectiveValues(values: values, feasible: feasible, violation: violation, constraints: constraintValues))
    }
}

/// Why a trial's objectives could not be read from its final metrics.
public struct ObjectiveError: Error, Equatable, Sendable {
    public var message: String
}
