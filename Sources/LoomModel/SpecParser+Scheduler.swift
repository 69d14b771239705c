import Yams

/// The `scheduler` section: a mapping or just its type. Each parameter belongs to some
/// schedulers; naming it for another is an error that says which ones take it.
extension SpecParser {
    /// Every key, and the schedulers that accept it (nil: all of them).
    static let schedulerKeyOwners: [(key: String, kinds: [SchedulerSpec.Kind]?)] = [
        ("type", nil), ("resource", nil), ("metric", nil), ("max_t", [.fifo, .asha, .hyperband, .pbt]),
        ("grace_period", [.fifo, .asha, .hyperband, .medianStopping]), ("reduction_factor", [.fifo, .asha, .hyperband]),
        ("brackets", [.asha, .hyperband]), ("keep_size_ratios", [.asha]), ("min_samples_required", [.medianStopping]),
        ("perturbation_interval", [.pbt]), ("quantile_fraction", [.pbt]), ("resample_probability", [.pbt]),
        ("hyperparam_mutations", [.pbt]),
    ]
    static var schedulerKeys: [String] { schedulerKeyOwners.map(\.key) }
    /// Other names users type for the schedulers here, and what to write instead.
    /// The scheduler types `type` accepts: the kinds, and ASHA's variants by name.
    static var schedulerTypes: [String] { SchedulerSpec.Kind.allCases.map(\.rawValue) + SchedulerSpec.ASHAType.allCases.map(\.rawValue) }
    static let schedulerAliases = ["async_hyperband": "asha", "hb_bohb": "hyperband", "successive_halving": "hyperband",
                                   "median": "median_stopping", "pb2": "pbt"]

    static func parseScheduler(_ reader: SpecReader, _ node: Node?, space: SearchSpace) throws(SpecError) -> SchedulerSpec {
        guard let node else { return SchedulerSpec() }
        var spec = SchedulerSpec()
        let kinds = schedulerTypes
        var typeNode: Node? = node
        var typeField = "scheduler"
        var entries: SpecReader.Entries?
        if case .mapping = node {
            let e = try reader.entries(node, "scheduler", expected: "a mapping")
            try reader.checkKeys(e, allowed: schedulerKeys, in: "in scheduler")
            entries = e
            typeNode = e["type"]?.value
            typeField = "scheduler.type"
        }
        if let typeNode {
            let type = try reader.text(typeNode, typeField, expected: "a scheduler type (\(kinds.joined(separator: ", ")))")
            if let kind = SchedulerSpec.Kind(rawValue: type) {
                spec.kind = kind
            } else if let variant = SchedulerSpec.ASHAType(rawValue: type) {
                // AutoGluon's words: `type: promotion` (or `stopping`) is ASHA of that variant.
                spec.kind = .asha
                spec.type = variant
            } else if let alias = schedulerAliases[type] {
                throw reader.error(typeNode, typeField, "unknown scheduler type \"\(type)\"; write \(alias)"
                                       + (type == "successive_halving" ? " with brackets: 1" : ""))
            } else {
                throw reader.error(typeNode, typeField, "unknown scheduler type \"\(type)\"; expected one of \(kinds.joined(separator: ", "))"
                                       + Spelling.hint(for: type, among: kinds))
            }
        }
        if spec.kind == .asha, spec.type == nil { spec.type = .stopping }
        guard let entries else { return spec }
        for (key, owners) in schedulerKeyOwners {
            guard let owners, let entry = entries[key], !owners.contains(spec.kind) else { continue }
            throw reader.error(entry.keyNode, "scheduler.\(key)",
                               "\(key) applies to the \(owners.filter { $0 != .fifo }.map(\.rawValue).joined(separator: " and ")) scheduler, not \(spec.kind.rawValue)")
        }
        if let resource = entries["resource"] {
            spec.resource = try reader.text(resource.value, "scheduler.resource", expected: "a metric key such as epoch")
        }
        if let metric = entries["metric"] {
            spec.metric = try reader.text(metric.value, "scheduler.metric", expected: "the name of one of the study's metrics")
        }
        func positive(_ key: String) throws(SpecError) -> Double? {
            guard let entry = entries[key] else { return nil }
            let x = try reader.number(entry.value, "scheduler.\(key)", expected: "a positive number")
            guard x > 0, x.isFinite else { throw reader.error(entry.value, "scheduler.\(key)", "expected a positive number, found \(formatNumber(x))") }
            return x
        }
        func fraction(_ key: String, upTo limit: Double, _ meaning: String) throws(SpecError) -> Double? {
            guard let entry = entries[key] else { return nil }
            let x = try reader.number(entry.value, "scheduler.\(key)", expected: "a number in [0, \(formatNumber(limit))]")
            guard x >= 0, x <= limit else {
                throw reader.error(entry.value, "scheduler.\(key)", "expected a number in [0, \(formatNumber(limit))] (\(meaning)), found \(formatNumber(x))")
            }
            return x
        }
        func count(_ key: String, least: Int) throws(SpecError) -> Int? {
            guard let entry = entries[key] else { return nil }
            let n = try reader.integer(entry.value, "scheduler.\(key)", expected: "an integer ≥ \(least)")
            guard n >= least else { throw reader.error(entry.value, "scheduler.\(key)", "expected an integer ≥ \(least), found \(n)") }
            return n
        }
        spec.maxT = try positive("max_t")
        spec.gracePeriod = try positive("grace_period")
        spec.perturbationInterval = try positive("perturbation_interval")
        if let entry = entries["reduction_factor"] {
            let x = try reader.number(entry.value, "scheduler.reduction_factor", expected: "a number ≥ 2")
            guard x >= 2, x.isFinite else {
                throw reader.error(entry.value, "scheduler.reduction_factor", "expected a number ≥ 2 (the fraction of trials kept is 1/reduction_factor), found \(formatNumber(x))")
            }
            spec.reductionFactor = x
        }
        spec.brackets = try count("brackets", least: 1)
        spec.minSamplesRequired = try count("min_samples_required", least: 1)
        spec.quantileFraction = try fraction("quantile_fraction", upTo: 0.5, "the share of trials in the bottom and in the top")
        spec.resampleProbability = try fraction("resample_probability", upTo: 1, "a probability")
        if let entry = entries["keep_size_ratios"] {
            spec.keepSizeRatios = try reader.bool(entry.value, "scheduler.keep_size_ratios")
            guard spec.type == .promotion || !spec.keepSizeRatios else {
                throw reader.error(entry.keyNode, "scheduler.keep_size_ratios", "keep_size_ratios applies only to ASHA with type: promotion")
            }
        }
        if let entry = entries["hyperparam_mutations"] {
            spec.hyperparamMutations = try parseMutations(reader, entry.value, space: space)
        }
        if let grace = spec.gracePeriod, let entry = entries["grace_period"], spec.kind != .medianStopping,
           grace > spec.resolvedMaxT {
            throw reader.error(entry.value, "scheduler.grace_period", "expected grace_period ≤ max_t (\(formatNumber(spec.resolvedMaxT))), found \(formatNumber(grace))")
        }
        return spec
    }

    /// `hyperparam_mutations`: a list of parameter names of the space (a mapping from names is
    /// accepted for Ray Tune users, its values must be the space's own domain and are ignored).
    static func parseMutations(_ reader: SpecReader, _ node: Node, space: SearchSpace) throws(SpecError) -> [String] {
        let field = "scheduler.hyperparam_mutations"
        var names: [(String, Node)] = []
        if case .mapping = node {
            for entry in try reader.entries(node, field, expected: "a list of parameter names").list {
                names.append((entry.key, entry.keyNode))
            }
        } else {
            for item in try reader.sequence(node, field, expected: "a list of parameter names") {
                names.append((try reader.text(item, field, expected: "a parameter name"), item))
            }
        }
        let known = space.parameters.map(\.name)
        for (name, node) in names where !known.contains(name) {
            throw reader.error(node, field, "\"\(name)\" is not a parameter of the space; expected one of \(known.joined(separator: ", "))"
                                   + Spelling.hint(for: name, among: known))
        }
        guard !names.isEmpty else { throw reader.error(node, field, "expected at least one parameter name") }
        return names.map(\.0)
    }
}
