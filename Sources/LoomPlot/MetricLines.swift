import LoomWire

/// Turning configs and metric lines (JSON objects) into plot data, the same way for every source.
public enum MetricLines {
    /// Keys taken as the resource when the caller names none, in this order of preference
    /// (Ray Tune's `training_iteration`, Syne Tune's `epoch`, …).
    public static let resourceCandidates = ["epoch", "training_iteration", "iteration", "step", "budget", "epochs"]

    /// The resource key: `explicit` when given, else the first candidate that every metric line
    /// carrying `metric` has as a number; nil when none fits (reports are then numbered 1, 2, …).
    public static func resourceKey(explicit: String?, metric: String, lines: [[String: JSONValue]]) -> String? {
        if let explicit { return explicit }
        let relevant = lines.filter { $0[metric]?.double != nil }
        guard !relevant.isEmpty else { return nil }
        return resourceCandidates.first { key in key != metric && relevant.allSatisfy { $0[key]?.double != nil } }
    }

    /// A learning curve from one trial's reports in order: the metric at the resource (or at the
    /// report's position 1, 2, … among those carrying the metric, when `resource` is nil).
    public static func curve(_ reports: [(metrics: [String: JSONValue], time: Double)], metric: String,
                             resource: String?) -> [CurvePoint] {
        var points: [CurvePoint] = []
        for report in reports {
            guard let value = report.metrics[metric]?.double else { continue }
            let level = resource.map { report.metrics[$0]?.double } ?? Double(points.count + 1)
            if let level { points.append(CurvePoint(resource: level, value: value, time: report.time)) }
        }
        return points
    }

    /// A config value as plotted: numbers stay numbers; strings, booleans and the rest become
    /// categories by their JSON text.
    public static func parameterValue(_ value: JSONValue) -> ParameterValue? {
        switch value {
        case .number(let x): .number(x)
        case .string(let s): .category(s)
        case .null: nil
        default: .category(value.argument)
        }
    }

    /// Parameters inferred from the configs alone (a log does not carry the search space),
    /// sorted by name: numbers on a log axis when positive and spanning two decades, otherwise
    /// linear; anything else categorical, in order of first appearance.
    public static func inferParameters(_ configs: [[String: ParameterValue]]) -> [ParameterInfo] {
        let names = Set(configs.flatMap(\.keys)).sorted()
        return names.map { name in
            let values = configs.compactMap { $0[name] }
            let numbers = values.compactMap { if case .number(let x) = $0 { x } else { nil } }
            if numbers.count == values.count {
                return ParameterInfo(name: name, kind: Scale.spansDecades(numbers) ? .log : .linear)
            }
            var order: [String] = []
            for v in values {
                let text = if case .category(let s) = v { s } else { ParallelCoordinates.text(v) }
                if !order.contains(text) { order.append(text) }
            }
            return ParameterInfo(name: name, kind: .categorical(order))
        }
    }
}
