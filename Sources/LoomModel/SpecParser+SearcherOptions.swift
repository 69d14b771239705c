import Yams

/// The options of the model-based searchers (`SearcherOptions`): each key names the searchers it
/// applies to, so a key given to another searcher is an error that says where it belongs.
extension SpecParser {
    /// A searcher option: its key, the searchers that take it, and how it is read.
    struct SearcherOptionKey: Sendable {
        enum Value: Sendable {
            /// A number in [0, 1].
            case fraction(any WritableKeyPath<SearcherOptions, Double?> & Sendable)
            /// An integer ≥ `minimum`.
            case positiveInteger(any WritableKeyPath<SearcherOptions, Int?> & Sendable, minimum: Int)
            /// A number > 0.
            case positiveNumber(any WritableKeyPath<SearcherOptions, Double?> & Sendable)
            /// A number in (0, 100).
            case percentage(any WritableKeyPath<SearcherOptions, Double?> & Sendable)
            /// true or false.
            case flag(any WritableKeyPath<SearcherOptions, Bool?> & Sendable)
        }

        var key: String
        var kinds: [SearcherSpec.Kind]
        var value: Value
    }

    static let searcherOptionKeys: [SearcherOptionKey] = [
        .init(key: "random_fraction", kinds: [.tpe, .gp, .bohb], value: .fraction(\.randomFraction)),
        .init(key: "n_startup_trials", kinds: [.tpe, .gp], value: .positiveInteger(\.nStartupTrials, minimum: 0)),
        .init(key: "n_ei_candidates", kinds: [.tpe], value: .positiveInteger(\.nEICandidates, minimum: 1)),
        .init(key: "num_samples", kinds: [.bohb], value: .positiveInteger(\.nEICandidates, minimum: 1)),
        .init(key: "multivariate", kinds: [.tpe], value: .flag(\.multivariate)),
        .init(key: "prior_weight", kinds: [.tpe], value: .positiveNumber(\.priorWeight)),
        .init(key: "gamma_cap", kinds: [.tpe], value: .positiveInteger(\.gammaCap, minimum: 1)),
        .init(key: "consider_endpoints", kinds: [.tpe], value: .flag(\.considerEndpoints)),
        .init(key: "top_n_percent", kinds: [.bohb], value: .percentage(\.topNPercent)),
        .init(key: "min_points_in_model", kinds: [.bohb], value: .positiveInteger(\.minPointsInModel, minimum: 1)),
        .init(key: "bandwidth_factor", kinds: [.bohb], value: .positiveNumber(\.bandwidthFactor)),
        .init(key: "min_bandwidth", kinds: [.bohb], value: .positiveNumber(\.minBandwidth)),
        .init(key: "population_size", kinds: [.nsga2], value: .positiveInteger(\.populationSize, minimum: 2)),
        .init(key: "crossover_prob", kinds: [.nsga2], value: .fraction(\.crossoverProb)),
        .init(key: "swapping_prob", kinds: [.nsga2], value: .fraction(\.swappingProb)),
        .init(key: "mutation_prob", kinds: [.nsga2], value: .fraction(\.mutationProb)),
    ]

    static func parseSearcherOptions(_ reader: SpecReader, _ entries: SpecReader.Entries,
                                     kind: SearcherSpec.Kind) throws(SpecError) -> SearcherOptions {
        var options = SearcherOptions()
        for option in searcherOptionKeys {
            guard let entry = entries[option.key] else { continue }
            let field = "searcher.\(option.key)"
            guard option.kinds.contains(kind) else {
                let owners = option.kinds.map(\.rawValue).joined(separator: ", ")
                throw reader.error(entry.keyNode, field, "\(option.key) applies only to the \(owners) searcher\(option.kinds.count > 1 ? "s" : ""), not \(kind.rawValue)")
            }
            switch option.value {
            case .fraction(let path):
                let x = try reader.number(entry.value, field, expected: "a fraction in [0, 1]")
                guard (0...1).contains(x) else { throw reader.error(entry.value, field, "expected a fraction in [0, 1], found \(formatNumber(x))") }
                options[keyPath: path] = x
            case .positiveInteger(let path, let minimum):
                let expected = minimum == 0 ? "a non-negative integer" : "an integer ≥ \(minimum)"
                let n = try reader.integer(entry.value, field, expected: expected)
                guard n >= minimum else { throw reader.error(entry.value, field, "expected \(expected), found \(n)") }
                options[keyPath: path] = n
            case .positiveNumber(let path):
                let x = try reader.number(entry.value, field, expected: "a positive number")
                guard x > 0 else { throw reader.error(entry.value, field, "expected a positive number, found \(formatNumber(x))") }
                options[keyPath: path] = x
            case .percentage(let path):
                let x = try reader.number(entry.value, field, expected: "a percentage in (0, 100)")
                guard x > 0, x < 100 else { throw reader.error(entry.value, field, "expected a percentage in (0, 100), found \(formatNumber(x))") }
                options[keyPath: path] = x
            case .flag(let path):
                options[keyPath: path] = try reader.bool(entry.value, field)
            }
        }
        return options
    }
}
