import Yams

/// The `searcher` and `scheduler` sections; each may be a mapping or just its type.
extension SpecParser {
    static let searcherKeys = ["type", "seed", "sequence"] + searcherOptionKeys.map(\.key)
    static let sequences = ["sobol", "halton"]
    /// Other names of searcher types: the name users of other libraries write, and ours.
    static let searcherAliases = ["bayesopt": SearcherSpec.Kind.gp]
    /// Searchers of other libraries, named so the error says they are not here yet rather than unknown.
    static let laterSearchers = ["hyperopt", "optuna", "cmaes", "hebo", "ax", "nevergrad"]

    static func parseSearcher(_ reader: SpecReader, _ node: Node?) throws(SpecError) -> SearcherSpec {
        guard let node else { return SearcherSpec() }
        var spec = SearcherSpec()
        let kinds = SearcherSpec.Kind.allCases.map(\.rawValue)
        var typeNode: Node? = node
        var typeField = "searcher"
        var entries: SpecReader.Entries?
        if case .mapping = node {
            let e = try reader.entries(node, "searcher", expected: "a mapping")
            try reader.checkKeys(e, allowed: searcherKeys, in: "in searcher")
            entries = e
            typeNode = e["type"]?.value
            typeField = "searcher.type"
        }
        if let typeNode {
            let type = try reader.text(typeNode, typeField, expected: "a searcher type (\(kinds.joined(separator: ", ")))")
            if let kind = SearcherSpec.Kind(rawValue: type) ?? searcherAliases[type] {
                spec.kind = kind
            } else if sequences.contains(type) {
                throw reader.error(typeNode, typeField, "\"\(type)\" is a sequence of the quasi_random searcher: write {type: quasi_random, sequence: \(type)}")
            } else if laterSearchers.contains(type.lowercased()) {
                throw reader.error(typeNode, typeField, "searcher \"\(type)\" is not available in this version (\(kinds.joined(separator: ", ")))")
            } else {
                throw reader.error(typeNode, typeField, "unknown searcher type \"\(type)\"; expected one of \(kinds.joined(separator: ", "))"
                                       + Spelling.hint(for: type, among: kinds))
            }
        }
        guard let entries else { return spec }
        if let seed = entries["seed"] {
            let n = try reader.integer(seed.value, "searcher.seed", expected: "a non-negative integer")
            guard n >= 0 else { throw reader.error(seed.value, "searcher.seed", "expected a non-negative integer, found \(n)") }
            spec.seed = UInt64(n)
        }
        if let sequence = entries["sequence"] {
            guard spec.kind == .quasiRandom else {
                throw reader.error(sequence.keyNode, "searcher.sequence", "sequence applies only to the quasi_random searcher, not \(spec.kind.rawValue)")
            }
            let text = try reader.text(sequence.value, "searcher.sequence")
            guard sequences.contains(text) else {
                throw reader.error(sequence.value, "searcher.sequence", "expected sobol or halton, found \(quoteYAML(text))"
                                       + Spelling.hint(for: text, among: sequences))
            }
            spec.sequence = text
        }
        spec.options = try parseSearcherOptions(reader, entries, kind: spec.kind)
        return spec
    }
}
