import Foundation
import LoomWire
import Yams

/// The scalar types of a spec, resolved by the YAML 1.2 core schema rather than Yams' default
/// YAML 1.1 rules: `yes`, `no`, `on`, `off` stay strings (an `optimizer: {choice: [on, off]}`
/// must not turn into booleans), `1:30` is not sexagesimal 90, and `017` is 17, not octal.
/// Quoted scalars are always strings; an explicit tag (`!!str 5`) wins. The configuration files
/// (`LoomConfig`) read YAML with the same schema.
public enum SpecSchema {
    public static let resolver: Resolver = {
        do {
            return try Resolver.basic
                .appending(.null, "^(?:~|null|Null|NULL|)$")
                .appending(.bool, "^(?:true|True|TRUE|false|False|FALSE)$")
                .appending(.int, "^[-+]?[0-9]+$")
                .appending(.float, #"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"#)
        } catch {
            preconditionFailure("the schema's patterns are constant and valid: \(error)")
        }
    }()
}

/// Bounds on a spec's YAML, checked after composing and before anything walks the tree.
///
/// An alias (`*a`) shares its anchor's node, so a few hundred bytes of nested aliases (the
/// "billion laughs") compose cheaply into a tree of 10^10 leaves that every later walk (field by
/// field, or into a trial's `config` as JSON) would expand. The tree is therefore counted *as
/// expanded*, stopping at `maxNodes`, and its depth is bounded, before the spec is read.
public enum SpecBudget {
    /// Most YAML nodes a spec may expand to (aliases counted each time they are used); a grid of
    /// `SpecParser.maxGridPoints` values fits easily.
    public static let maxNodes = 500_000
    /// Deepest nesting of mappings and sequences.
    public static let maxDepth = 64
    /// Longest spec text, in bytes of UTF-8.
    public static let maxBytes = 4 << 20

    /// A budget lowered from the defaults (never raised past them: a spec stored under a lower
    /// budget always parses again under the default one).
    public struct Limits: Sendable, Equatable {
        public var maxBytes: Int
        public var maxNodes: Int

        public init(maxBytes: Int = SpecBudget.maxBytes, maxNodes: Int = SpecBudget.maxNodes) {
            self.maxBytes = min(max(1, maxBytes), SpecBudget.maxBytes)
            self.maxNodes = min(max(1, maxNodes), SpecBudget.maxNodes)
        }
    }

    /// Throws when `root`, expanded, holds more than `maxNodes` nodes or nests deeper than
    /// `maxDepth`; costs at most `maxNodes` steps whatever the aliases.
    static func check(_ root: Node, file: String, maxNodes: Int = SpecBudget.maxNodes) throws(SpecError) {
        var stack: [(node: Node, depth: Int)] = [(root, 1)]
        var count = 0
        while let (node, depth) = stack.popLast() {
            count += 1
            guard count <= maxNodes else {
                throw SpecError(file: file, line: 1, column: 1, field: "syntax",
                                message: "the spec expands to more than \(maxNodes) YAML nodes (aliases are counted each time they are used)"
                                    + (maxNodes < SpecBudget.maxNodes ? "; the optimizer's spec_max_nodes" : ""))
            }
            guard depth <= maxDepth else {
                throw SpecError(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, field: "syntax",
                                message: "the spec nests deeper than \(maxDepth) levels")
            }
            switch node {
            case .scalar, .alias: break
            case .mapping(let mapping):
                for (key, value) in mapping {
                    stack.append((key, depth + 1))
                    stack.append((value, depth + 1))
                }
            case .sequence(let sequence):
                for item in sequence { stack.append((item, depth + 1)) }
            }
        }
    }
}

/// A YAML scalar as the spec sees it.
enum SpecScalar: Equatable {
    case null
    case bool(Bool)
    case int(Int)
    /// Any number that is not an `Int` literal: `0.5`, `1e-5`, `.inf`, an integer too large for `Int`.
    case float(Double)
    case string(String)

    init(_ scalar: Node.Scalar, tag: Tag) {
        let text = scalar.string
        switch tag.description {
        case Tag.Name.null.rawValue: self = .null
        case Tag.Name.bool.rawValue: self = .bool(text.lowercased() == "true")
        case Tag.Name.int.rawValue:
            if let n = Int(text.hasPrefix("+") ? String(text.dropFirst()) : text) { self = .int(n) }
            else if let x = Double(text) { self = .float(x) }
            else { self = .string(text) }
        case Tag.Name.float.rawValue:
            switch text.lowercased() {
            case ".inf", "+.inf": self = .float(.infinity)
            case "-.inf": self = .float(-.infinity)
            case ".nan": self = .float(.nan)
            default: self = Double(text).map(Self.float) ?? .string(text)
            }
        default: self = .string(text)
        }
    }

    var number: Double? {
        switch self {
        case .int(let n): Double(n)
        case .float(let x): x
        default: nil
        }
    }
}

/// Reads a composed YAML tree into spec values, turning every mismatch into a `SpecError` that
/// names the file, the position, the field and what was expected.
struct SpecReader {
    let file: String

    /// A mapping's entries in document order, keys as text.
    struct Entries {
        struct Entry {
            let key: String
            let keyNode: Node
            let value: Node
        }

        let node: Node
        let field: String
        let list: [Entry]
        /// The key this mapping is the value of, where errors about a missing key point.
        let owner: Node?

        subscript(key: String) -> Entry? { list.first { $0.key == key } }

        /// The field path of a key in this mapping.
        func field(_ key: String) -> String { field.isEmpty ? key : "\(field).\(key)" }
    }

    func error(_ node: Node?, _ field: String, _ message: String) -> SpecError {
        let mark = node?.mark
        return SpecError(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, field: field, message: message)
    }

    // MARK: Structure

    /// The node as a mapping; `expected` says what the mapping holds, for the message; `owner`
    /// is the key whose value it is.
    func entries(_ node: Node, _ field: String, expected: String, owner: Node? = nil) throws(SpecError) -> Entries {
        guard case .mapping(let mapping) = node else {
            throw error(node, field.isEmpty ? "spec" : field, "expected \(expected), found \(found(node))")
        }
        var list: [Entries.Entry] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                throw error(key, field, "expected a plain key, found \(found(key))")
            }
            list.append(.init(key: scalar.string, keyNode: key, value: value))
        }
        return Entries(node: node, field: field, list: list, owner: owner)
    }

    /// Rejects keys outside `allowed`, naming them all and suggesting the nearest.
    func checkKeys(_ entries: Entries, allowed: [String], in place: String) throws(SpecError) {
        for entry in entries.list where !allowed.contains(entry.key) {
            throw error(entry.keyNode, entries.field(entry.key),
                        "unknown key \"\(entry.key)\" \(place); expected one of \(allowed.joined(separator: ", "))"
                            + Spelling.hint(for: entry.key, among: allowed))
        }
    }

    /// The value of a key that must be present; the error points at the mapping's own key, or
    /// at the mapping when it has none (the top level).
    func required(_ entries: Entries, _ key: String, _ what: String) throws(SpecError) -> Node {
        guard let entry = entries[key] else {
            let place = entries.field.isEmpty ? "" : " in \(entries.field)"
            throw error(entries.owner ?? entries.node, entries.field(key), "missing required key \"\(key)\"\(place) (\(what))")
        }
        return entry.value
    }

    func sequence(_ node: Node, _ field: String, expected: String) throws(SpecError) -> [Node] {
        guard case .sequence(let sequence) = node else {
            throw error(node, field, "expected \(expected), found \(found(node))")
        }
        return Array(sequence)
    }

    // MARK: Scalars

    func scalar(_ node: Node) -> SpecScalar? {
        guard case .scalar(let scalar) = node else { return nil }
        return SpecScalar(scalar, tag: node.tag)
    }

    /// A scalar's text as written: strings, and numbers or booleans where text is expected (an
    /// `env` value `1`, a `command` argument `5`).
    func text(_ node: Node, _ field: String, expected: String = "a string") throws(SpecError) -> String {
        guard case .scalar(let raw) = node, let value = scalar(node), value != .null else {
            throw error(node, field, "expected \(expected), found \(found(node))")
        }
        return raw.string
    }

    /// A finite number.
    func number(_ node: Node, _ field: String, expected: String = "a number") throws(SpecError) -> Double {
        guard let x = scalar(node)?.number, x.isFinite else {
            throw error(node, field, "expected \(expected), found \(found(node))")
        }
        return x
    }

    /// An integer; an integral float such as `5.0` is accepted.
    func integer(_ node: Node, _ field: String, expected: String = "an integer") throws(SpecError) -> Int {
        guard let x = scalar(node)?.number, x.isFinite, x.rounded() == x, abs(x) < 9.0e15 else {
            throw error(node, field, "expected \(expected), found \(found(node))")
        }
        return Int(x)
    }

    func bool(_ node: Node, _ field: String) throws(SpecError) -> Bool {
        guard case .bool(let b) = scalar(node) else {
            throw error(node, field, "expected true or false, found \(found(node))")
        }
        return b
    }

    /// A duration: `500ms`, `30s`, `10m`, `1h`, `1h30m`, or a number of seconds; positive.
    func duration(_ node: Node, _ field: String) throws(SpecError) -> Double {
        let expected = "a duration such as 500ms, 30s, 10m, 1h or a number of seconds"
        let seconds: Double?
        switch scalar(node) {
        case .int(let n): seconds = Double(n)
        case .float(let x): seconds = x
        case .string(let s): seconds = SpecParser.parseDuration(s)
        default: seconds = nil
        }
        guard let seconds, seconds.isFinite else { throw error(node, field, "expected \(expected), found \(found(node))") }
        guard seconds > 0 else { throw error(node, field, "expected a positive duration, found \(found(node))") }
        return seconds
    }

    /// Any value, as the JSON a trial receives. Mapping keys become strings; non-finite numbers
    /// are rejected because JSON cannot carry them.
    func json(_ node: Node, _ field: String) throws(SpecError) -> JSONValue {
        switch node {
        case .scalar:
            switch scalar(node) {
            case .null, nil: return .null
            case .bool(let b): return .bool(b)
            case .int(let n): return .number(Double(n))
            case .float(let x):
                guard x.isFinite else { throw error(node, field, "expected a finite number, found \(found(node))") }
                return .number(x)
            case .string(let s): return .string(s)
            }
        case .sequence(let sequence):
            var values: [JSONValue] = []
            for (i, element) in sequence.enumerated() { values.append(try json(element, "\(field)[\(i)]")) }
            return .array(values)
        case .mapping:
            var object: [String: JSONValue] = [:]
            for entry in try entries(node, field, expected: "a mapping").list {
                object[entry.key] = try json(entry.value, "\(field).\(entry.key)")
            }
            return .object(object)
        case .alias:
            throw error(node, field, "expected a value, found an unresolved alias")
        }
    }

    // MARK: Messages

    /// What a node is, for "expected …, found …" messages: `string "abc"`, `5.5`, `true`,
    /// `null`, `a list`, `a mapping`.
    func found(_ node: Node) -> String {
        switch node {
        case .scalar(let raw):
            switch scalar(node) {
            case .string(let s): return "string \"\(s)\""
            case .null: return raw.string.isEmpty ? "nothing" : "null"
            default: return raw.string
            }
        case .sequence(let s): return s.isEmpty ? "an empty list" : "a list"
        case .mapping(let m): return m.isEmpty ? "an empty mapping" : "a mapping"
        case .alias: return "an alias"
        }
    }
}

/// Numbers in messages and rendered specs: integral values without a decimal point, others in
/// Swift's shortest round-tripping form (`0.001`, `1e-05`).
func formatNumber(_ x: Double) -> String {
    if x.rounded() == x, abs(x) < 1e15 { return String(Int64(x)) }
    return "\(x)"
}

/// A spec value in messages: JSON, with numbers formatted as above.
func formatValue(_ value: JSONValue) -> String {
    switch value {
    case .null: "null"
    case .bool(let b): b ? "true" : "false"
    case .number(let x): formatNumber(x)
    case .string(let s): quoteYAML(s)
    case .array(let a): "[" + a.map(formatValue).joined(separator: ", ") + "]"
    case .object(let o): "{" + o.sorted { $0.key < $1.key }.map { "\(quoteYAML($0.key)): \(formatValue($0.value))" }.joined(separator: ", ") + "}"
    }
}

/// A string as a YAML double-quoted scalar (also valid JSON).
func quoteYAML(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
