import LoomWire

/// What a study view shows about all of a study's trials, kept up to date as events are folded
/// instead of computed from every trial per request: counts by state, the best complete trial
/// and the parameters' ranges. A study of 10,000 trials made those three walks most of a study
/// view's cost (and the view is asked for several times a second while a page is open).
///
/// **Invariant.** After every fold, `stateCounts`, `best` and `ranges` equal what a walk over
/// `trials` gives (`scannedBest`, `ParameterRanges(trials:)`, counting states); the tests check
/// it after scripted lives.
extension DashboardState {
    /// The parameters' ranges over a study's trials: `min`/`max` for a parameter whose every value
    /// is a number, else its distinct values as text, in the order they came (numbers met before
    /// the parameter's first text value count as their min and max).
    public struct ParameterRanges: Sendable, Equatable {
        var numbers: [String: ClosedRange<Double>] = [:]
        var categories: [String: [String]] = [:]
        private var seen: [String: Set<String>] = [:]

        public init() {}

        /// The ranges over `trials`' configurations, in trial-number order.
        init(trials: [Int: Trial]) {
            for number in trials.keys.sorted() { widen(with: trials[number]!.config) }
        }

        /// Takes one more configuration in.
        mutating func widen(with config: [String: JSONValue]) {
            for (name, v) in config {
                if case .number(let x) = v, categories[name] == nil {
                    let r = numbers[name] ?? x...x
                    numbers[name] = Swift.min(r.lowerBound, x)...Swift.max(r.upperBound, x)
                } else {
                    if let r = numbers.removeValue(forKey: name) {
                        // Numbers met before: they become categories too.
                        for x in [r.lowerBound, r.upperBound] { addCategory(name, JSONValue.number(x).argument) }
                    }
                    addCategory(name, v.argument)
                }
            }
        }

        private mutating func addCategory(_ name: String, _ text: String) {
            if seen[name, default: []].insert(text).inserted { categories[name, default: []].append(text) }
        }

        /// `[{"name","min","max"} or {"name","values"}]`, by name; at most 50 values each.
        var json: [JSONValue] {
            Set(numbers.keys).union(categories.keys).sorted().map { name in
                if let r = numbers[name] { return .object(["name": .string(name), "min": .number(r.lowerBound), "max": .number(r.upperBound)]) }
                return .object(["name": .string(name), "values": .array(Array(categories[name, default: []].prefix(50)).map(JSONValue.string))])
            }
        }
    }

    /// The best complete trial of `study` by a walk over its trials (ties: the lowest number).
    func scannedBest(_ study: Study) -> (number: Int, value: Double)? {
        var best: (number: Int, value: Double)?
        for trial in study.trials.values {
            guard let v = value(trial, metric: study.metric) else { continue }
            if let b = best, !Self.better(v, than: b.value, maximize: study.maximize) && !(v == b.value && trial.number < b.number) { continue }
            best = (trial.number, v)
        }
        return best
    }

    static func better(_ a: Double, than b: Double, maximize: Bool) -> Bool { maximize ? a > b : a < b }

    /// Brings `study`'s aggregates up to date after trial `after` changed from `before` (nil: new).
    func track(_ study: inout Study, before: (state: String, value: Double?)?, after trial: Trial) {
        if let before {
            study.stateCounts[before.state, default: 0] -= 1
            if study.stateCounts[before.state] == 0 { study.stateCounts[before.state] = nil }
        }
        study.stateCounts[trial.state, default: 0] += 1
        let old = before?.value
        let new = value(trial, metric: study.metric)
        guard old != new else { return }
        if old != nil, study.best?.number == trial.number {
            // The best trial lost or changed its value: only a walk finds the next best.
            study.best = scannedBest(study)
        } else if let new, study.best.map({ Self.better(new, than: $0.value, maximize: study.maximize)
                                             || (new == $0.value && trial.number < $0.number) }) ?? true {
            study.best = (trial.number, new)
        }
    }
}
