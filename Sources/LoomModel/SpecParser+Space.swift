import LoomWire
import Yams

/// The `space` section: parameter → domain, conditions (`when`) and nested choices.
///
/// **Order.** Parameters keep the order of the YAML mapping; a nested choice's options follow
/// their choice, in the order written. A condition may only name a parameter defined before it,
/// so the resulting `SearchSpace` can decide activity in one walk.
/// **Nesting.** `classifier: {choice: {svm: {C: …}, knn: {…}}}` yields the parameter
/// `classifier` (a choice over `svm`, `knn`) followed by `svm.C` (active when
/// `classifier == svm`) and the parameters of `knn`; options nest to any depth, each level
/// adding `<option>.` to the names inside it.
extension SpecParser {
    static let domainKeys = ["uniform", "quniform", "loguniform", "qloguniform", "randn", "qrandn", "randint", "qrandint",
                             "lograndint", "choice", "ordinal", "constant", "grid_search", "grid"]
    /// Domains whose values may be a mapping of options with their own parameters.
    static let nestingDomainKeys = ["choice", "grid_search", "grid"]
    /// Names the trial protocol's built-in placeholders use; a parameter so named would be shadowed.
    static let reservedNames = ["trial_id", "attempt", "checkpoint_dir", "attempt_dir", "worker_id"]

    /// Parameters read so far, with the key that defined each (for "defined twice" positions).
    struct SpaceBuilder {
        var parameters: [Parameter] = []
        var definitions: [String: Node] = [:]

        func parameter(_ name: String) -> Parameter? { parameters.first { $0.name == name } }
    }

    /// Where parameters are being read: the top of `space`, or one option of a nested choice.
    struct Scope {
        /// Prepended to every name: `""` at the top, `"svm."` inside the option `svm`.
        var prefix: String
        /// The YAML path of the mapping being read.
        var field: String
        /// The condition every parameter of this scope carries unless its `when` names a sibling.
        var condition: Condition?
    }

    static func parseSpace(_ reader: SpecReader, _ node: Node) throws(SpecError) -> SearchSpace {
        let entries = try reader.entries(node, "space", expected: "a mapping of parameter names to domains")
        guard !entries.list.isEmpty else {
            throw reader.error(node, "space", "expected at least one parameter, found an empty mapping")
        }
        var builder = SpaceBuilder()
        try parseParameters(reader, entries, scope: Scope(prefix: "", field: "space", condition: nil), into: &builder)
        do {
            return try SearchSpace(builder.parameters)
        } catch {
            // The checks above reject what SearchSpace would; this keeps the invariant honest.
            throw reader.error(node, "space", error.description)
        }
    }

    static func parseParameters(_ reader: SpecReader, _ entries: SpecReader.Entries, scope: Scope,
                                into builder: inout SpaceBuilder) throws(SpecError) {
        for (index, entry) in entries.list.enumerated() {
            let name = scope.prefix + entry.key
            let field = "\(scope.field).\(entry.key)"
            guard isParameterName(entry.key) else {
                throw reader.error(entry.keyNode, field, "expected a parameter name of letters, digits, \"_\" and \"-\" starting with a letter or \"_\" (\".\" is reserved for nested options), found \(quoteYAML(entry.key))")
            }
            guard !reservedNames.contains(name) else {
                throw reader.error(entry.keyNode, field, "\"\(name)\" is a built-in placeholder of the trial protocol ({\(name)}); choose another name")
            }
            if let first = builder.definitions[name] {
                let why = name.contains(".") ? "; options of different nested choices share a prefix when they have the same name" : ""
                throw reader.error(entry.keyNode, field, "parameter \"\(name)\" is defined twice (first at line \(first.mark?.line ?? 0))\(why)")
            }
            builder.definitions[name] = entry.keyNode

            switch entry.value {
            case .scalar:
                guard reader.scalar(entry.value) != .null else {
                    throw reader.error(entry.value, field, "expected a domain such as {uniform: [0, 1]} or {choice: [a, b]}, or a constant value; found \(reader.found(entry.value))")
                }
                builder.parameters.append(Parameter(name: name, domain: .constant(try reader.json(entry.value, field)), condition: scope.condition))
            case .sequence:
                throw reader.error(entry.value, field, "a bare list is ambiguous: write {choice: […]} to sample one value, {grid_search: […]} to try each, or {constant: […]} for a list value")
            default:
                let siblings = Array(entries.list[(index + 1)...].map(\.key))
                try parseDomainMapping(reader, entry.value, name: name, field: field, scope: scope, later: siblings, into: &builder)
            }
        }
    }

    /// `{<domain>: <arguments>, when: {…}}`.
    static func parseDomainMapping(_ reader: SpecReader, _ node: Node, name: String, field: String, scope: Scope,
                                   later: [String], into builder: inout SpaceBuilder) throws(SpecError) {
        let spec = try reader.entries(node, field, expected: "a domain")
        let domains = spec.list.filter { $0.key != "when" }
        for entry in domains where !domainKeys.contains(entry.key) {
            throw reader.error(entry.keyNode, "\(field).\(entry.key)",
                               "unknown domain \"\(entry.key)\"; expected one of \(domainKeys.joined(separator: ", ")), or when"
                                   + Spelling.hint(for: entry.key, among: domainKeys + ["when"]))
        }
        guard let domainEntry = domains.first else {
            throw reader.error(node, field, "expected a domain key (\(domainKeys.joined(separator: ", "))), found \(spec.list.isEmpty ? "an empty mapping" : "only when")")
        }
        guard domains.count == 1 else {
            throw reader.error(domains[1].keyNode, "\(field).\(domains[1].key)",
                               "expected one domain per parameter, found \(domains[0].key) and \(domains[1].key)")
        }
        var condition = scope.condition
        if let when = spec["when"] {
            condition = try parseCondition(reader, when.value, field: "\(field).when", name: name, scope: scope,
                                           later: later, builder: builder)
        }
        let domainField = "\(field).\(domainEntry.key)"
        if nestingDomainKeys.contains(domainEntry.key), case .mapping = domainEntry.value {
            try parseNestedChoice(reader, domainEntry.value, kind: domainEntry.key, name: name, field: domainField,
                                  condition: condition, scope: scope, into: &builder)
        } else {
            let domain = try parseDomain(reader, domainEntry.key, domainEntry.value, field: domainField)
            builder.parameters.append(Parameter(name: name, domain: domain, condition: condition))
        }
    }

    /// `classifier: {choice: {svm: {C: …}, knn: {…}, naive_bayes: {}}}`.
    static func parseNestedChoice(_ reader: SpecReader, _ node: Node, kind: String, name: String, field: String,
                                  condition: Condition?, scope: Scope, into builder: inout SpaceBuilder) throws(SpecError) {
        let options = try reader.entries(node, field, expected: "a mapping of options")
        guard !options.list.isEmpty else {
            throw reader.error(node, field, "expected at least one option, found an empty mapping")
        }
        for option in options.list where !isParameterName(option.key) {
            throw reader.error(option.keyNode, "\(field).\(option.key)", "expected an option name of letters, digits, \"_\" and \"-\" starting with a letter or \"_\" (it prefixes the option's parameters), found \(quoteYAML(option.key))")
        }
        let values = options.list.map { JSONValue.string($0.key) }
        builder.parameters.append(Parameter(name: name, domain: kind == "choice" ? .choice(values) : .grid(values), condition: condition))
        for option in options.list {
            let optionField = "\(field).\(option.key)"
            if case .scalar = option.value, reader.scalar(option.value) == .null { continue }
            let parameters = try reader.entries(option.value, optionField,
                                                expected: "the option's parameters as a mapping ({} or null for none)")
            let inner = Scope(prefix: "\(scope.prefix)\(option.key).", field: optionField,
                              condition: Condition(parent: name, values: [.string(option.key)]))
            try parseParameters(reader, parameters, scope: inner, into: &builder)
        }
    }

    /// `when: {parent: value}` or `when: {parent: [value, …]}`.
    static func parseCondition(_ reader: SpecReader, _ node: Node, field: String, name: String, scope: Scope,
                               later: [String], builder: SpaceBuilder) throws(SpecError) -> Condition {
        let when = try reader.entries(node, field, expected: "a mapping {parent: value} or {parent: [value, …]}")
        guard when.list.count == 1, let entry = when.list.first else {
            throw reader.error(node, field, "expected exactly one parent, found \(when.list.count); a parameter depends on one parent (chain conditions through the parents instead)")
        }
        let parentName = scope.prefix + entry.key
        let parentField = "\(field).\(entry.key)"
        guard parentName != name else {
            throw reader.error(entry.keyNode, parentField, "a parameter cannot depend on itself")
        }
        guard let parent = builder.parameter(parentName) else {
            if later.contains(entry.key) {
                throw reader.error(entry.keyNode, parentField, "parameter \"\(parentName)\" is defined after \"\(name)\"; a parent must come before the parameters that depend on it")
            }
            if !scope.prefix.isEmpty, builder.parameter(entry.key) != nil, let implicit = scope.condition {
                throw reader.error(entry.keyNode, parentField, "inside an option of \"\(implicit.parent)\", when may only name a parameter of the same option (\"\(name)\" already depends on \(implicit.parent))")
            }
            let defined = builder.parameters.map(\.name).filter { $0.hasPrefix(scope.prefix) }
                .map { String($0.dropFirst(scope.prefix.count)) }
            throw reader.error(entry.keyNode, parentField, "unknown parameter \"\(entry.key)\"; a parent must be defined before \"\(name)\""
                                   + (defined.isEmpty ? "" : " (defined so far: \(defined.joined(separator: ", ")))")
                                   + Spelling.hint(for: entry.key, among: defined))
        }
        guard let categories = parent.domain.categories else {
            throw reader.error(entry.keyNode, parentField, "parent \"\(parentName)\" is numeric (\(parent.domain.specDescription)); a parent must be a choice, ordinal, grid_search or constant")
        }
        var valueNodes = [entry.value]
        if case .sequence(let sequence) = entry.value {
            guard !sequence.isEmpty else { throw reader.error(entry.value, parentField, "expected a value or a list of values, found an empty list") }
            valueNodes = Array(sequence)
        }
        var values: [JSONValue] = []
        for valueNode in valueNodes {
            let value = try reader.json(valueNode, parentField)
            guard categories.contains(value) else {
                let strings = categories.compactMap { if case .string(let s) = $0 { s } else { nil } }
                let hint = if case .string(let s) = value { Spelling.hint(for: s, among: strings) } else { "" }
                throw reader.error(valueNode, parentField, "\(formatValue(value)) is not a value of \"\(parentName)\"; expected one of \(categories.map(formatValue).joined(separator: ", "))\(hint)")
            }
            if !values.contains(value) { values.append(value) }
        }
        return Condition(parent: parentName, values: values)
    }

    static func isParameterName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0 == "_" || $0 == "-" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
        }
    }
}
