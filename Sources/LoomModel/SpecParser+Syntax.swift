import Yams

/// YAML that does not parse: libyaml's message, at libyaml's position.
extension SpecParser {
    /// The document's root node; YAML errors keep libyaml's position.
    static func compose(_ text: String, file: String, limits: SpecBudget.Limits = .init()) throws(SpecError) -> Node {
        guard text.utf8.count <= limits.maxBytes else {
            throw SpecError(file: file, line: 1, column: 1, field: "syntax",
                            message: "the spec is \(text.utf8.count) bytes; at most \(limits.maxBytes)"
                                + (limits.maxBytes < SpecBudget.maxBytes ? " (the optimizer's spec_max_bytes)" : ""))
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text, SpecSchema.resolver)
        } catch let error as YamlError {
            throw syntaxError(error, text: text, file: file)
        } catch {
            throw SpecError(file: file, line: 1, column: 1, field: "syntax", message: "\(error)")
        }
        guard let node else {
            throw SpecError(file: file, line: 1, column: 1, field: "syntax",
                            message: "the spec is empty; expected a mapping of study settings (name, metric, mode, space, trial, …)")
        }
        try SpecBudget.check(node, file: file, maxNodes: limits.maxNodes)
        return node
    }

    static func syntaxError(_ error: YamlError, text: String, file: String) -> SpecError {
        func at(_ mark: Mark, _ message: String) -> SpecError {
            at(line: mark.line, column: mark.column, message)
        }
        func at(line: Int, column: Int, _ message: String) -> SpecError {
            SpecError(file: file, line: line, column: column, field: "syntax", message: message)
        }
        func explained(_ problem: String, _ context: YamlError.Context?) -> String {
            guard let context else { return problem }
            return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let offending = mark.line <= lines.count ? lines[mark.line - 1].unicodeScalars.dropFirst(mark.column - 1).first : nil
            let hint = offending == "\t" ? "; YAML indents with spaces, not tabs" : ""
            return at(mark, explained(problem, context) + hint)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            if let key = duplicates.first, let line = repeatedKeyLine(key, after: context.mark, in: text) {
                return at(line: line, column: context.mark.column,
                          "duplicate key \(keys) in the same mapping (first at line \(context.mark.line))")
            }
            return at(context.mark, "duplicate key \(keys) in the same mapping (first written here)")
        case .reader(let problem, let offset, _, _):
            let prefix = text.prefix(offset ?? 0)
            let line = prefix.count(where: { $0 == "\n" }) + 1
            let column = prefix.distance(from: prefix.lastIndex(of: "\n").map { prefix.index(after: $0) } ?? prefix.startIndex,
                                         to: prefix.endIndex) + 1
            return at(line: line, column: column, "cannot read the text: \(problem)")
        default:
            return at(line: 1, column: 1, "\(error)")
        }
    }

    /// Where a block mapping repeats `key` after its first occurrence at `first`: Yams reports
    /// only the first, but the repetition is the line to fix. Nil for flow mappings or when the
    /// text does not show it plainly (then the first occurrence is reported).
    static func repeatedKeyLine(_ key: String, after first: Mark, in text: String) -> Int? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard first.line >= 1, first.line <= lines.count else { return nil }
        let indent = first.column - 1
        guard lines[first.line - 1].prefix(indent).allSatisfy({ $0 == " " || $0 == "-" }) else { return nil }
        for (index, line) in lines.enumerated().dropFirst(first.line) {
            let number = index + 1
            let content = line.drop { $0 == " " }
            if content.isEmpty || content.hasPrefix("#") { continue }
            let depth = line.count - content.count
            if depth < indent { return nil }
            guard depth == indent, content.hasPrefix(key) else { continue }
            if content.dropFirst(key.count).drop(while: { $0 == " " }).hasPrefix(":") { return number }
        }
        return nil
    }
}
