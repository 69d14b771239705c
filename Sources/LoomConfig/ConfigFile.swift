import Foundation
import LoomModel
import Yams
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A config file of one command: a YAML mapping of setting keys to scalars, for example
///
///     slots: 8
///     kill_grace: 10s
///
/// Parsing checks the keys against the command's table (an unknown key is an error naming the
/// file, the line and the key, with the nearest known key); the values are checked when the
/// settings are resolved, against each setting's type.
public struct ConfigFile: Sendable {
    /// One `key: value` line.
    public struct Entry: Sendable {
        /// A scalar, or what else the value was (`a list`, `a mapping`) for messages.
        public enum Value: Sendable {
            case scalar(ConfigScalar)
            case other(String)
        }

        public let key: String
        public let value: Value
        /// The file as named.
        public let path: String
        /// Where the key is; what `config show` cites.
        public let line: Int
        public let column: Int
        /// Where the value is; what errors about it point at.
        let valueLine: Int
        let valueColumn: Int

        func error(_ field: String, _ message: String) -> ConfigError {
            ConfigError(file: path, line: valueLine, column: valueColumn, field: field, message: message)
        }
    }

    /// The file as named on the command line or in the environment.
    public let path: String
    /// The entries in document order.
    public let entries: [Entry]

    public subscript(key: String) -> Entry? { entries.first { $0.key == key } }

    /// Reads and parses the file at `path`; `namedBy` says who named it, for the message when it
    /// cannot be read.
    public static func load(_ path: String, table: SettingsTable, namedBy: SettingSource? = nil) throws(ConfigError) -> ConfigFile {
        let text: String
        do {
            text = try readText(path)
        } catch {
            let origin: String
            switch namedBy {
            case .flag(let flag)?: origin = " (named by \(flag))"
            case .environment(let name)?: origin = " (named by env \(name))"
            default: origin = ""
            }
            throw ConfigError(file: path, line: 0, column: 0, field: "file",
                              message: "cannot read the \(table.command) config file\(origin): \(error.reason)")
        }
        return try parse(text, path: path, table: table)
    }

    /// Parses the text of a config file of `table`'s command. Pure.
    public static func parse(_ text: String, path: String, table: SettingsTable) throws(ConfigError) -> ConfigFile {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, resolver)
        } catch let error as YamlError {
            throw syntaxError(error, path: path)
        } catch {
            throw ConfigError(file: path, line: 1, column: 1, field: "syntax", message: "\(error)")
        }
        // A file of comments only (or a bare `---`) sets nothing.
        guard let root, kind(of: root) != .null else { return ConfigFile(path: path, entries: []) }
        guard case .mapping(let mapping) = root else {
            throw ConfigError(file: path, line: root.mark?.line ?? 1, column: root.mark?.column ?? 1, field: "config",
                              message: "expected a mapping of \(table.command) settings (\(table.keys.joined(separator: ", "))), "
                                  + "found \(describe(root))")
        }
        var entries: [Entry] = []
        for (keyNode, valueNode) in mapping {
            let keyMark = keyNode.mark
            guard case .scalar(let key) = keyNode else {
                throw ConfigError(file: path, line: keyMark?.line ?? 1, column: keyMark?.column ?? 1, field: "config",
                                  message: "expected a setting name, found \(describe(keyNode))")
            }
            guard table.keys.contains(key.string) else {
                throw ConfigError(file: path, line: keyMark?.line ?? 1, column: keyMark?.column ?? 1, field: key.string,
                                  message: "unknown key \"\(key.string)\" for \(table.command); expected one of "
                                      + table.keys.joined(separator: ", ") + Spelling.hint(for: key.string, among: table.keys))
            }
            let value: Entry.Value
            if case .scalar(let scalar) = valueNode {
                value = .scalar(ConfigScalar(kind: kind(of: valueNode), text: scalar.string))
            } else {
                value = .other(describe(valueNode))
            }
            let valueMark = valueNode.mark ?? keyMark
            entries.append(Entry(key: key.string, value: value, path: path,
                                 line: keyMark?.line ?? 1, column: keyMark?.column ?? 1,
                                 valueLine: valueMark?.line ?? 1, valueColumn: valueMark?.column ?? 1))
        }
        return ConfigFile(path: path, entries: entries)
    }

    // MARK: YAML

    /// The YAML 1.2 core schema of the study-spec parser: `yes`, `no`, `on`, `off` stay strings
    /// (`shutdown_workers: yes` is refused rather than guessed), `1:30` is not sexagesimal.
    static var resolver: Resolver { SpecSchema.resolver }

    static func kind(of node: Node) -> ConfigScalar.Kind {
        switch node.tag.description {
        case Tag.Name.null.rawValue: .null
        case Tag.Name.bool.rawValue: .bool
        case Tag.Name.int.rawValue: .int
        case Tag.Name.float.rawValue: .float
        default: .string
        }
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): ConfigScalar(kind: kind(of: node), text: scalar.string).found
        case .sequence(let sequence): sequence.isEmpty ? "an empty list" : "a list"
        case .mapping(let mapping): mapping.isEmpty ? "an empty mapping" : "a mapping"
        default: "an alias"
        }
    }

    static func syntaxError(_ error: YamlError, path: String) -> ConfigError {
        func at(_ mark: Mark, _ message: String) -> ConfigError {
            ConfigError(file: path, line: mark.line, column: mark.column, field: "syntax", message: message)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return at(mark, problem + detail)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return at(context.mark, "the key \(keys) is set more than once")
        default:
            return ConfigError(file: path, line: 1, column: 1, field: "syntax", message: "\(error)")
        }
    }

    /// Why a file could not be read, in the system's words (`No such file or directory`).
    struct ReadFailure: Error {
        var reason: String
    }

    /// More than any config file needs; a path that names a device or a log by mistake fails
    /// here instead of filling memory.
    static let maxSize = 1 << 20

    static func readText(_ path: String) throws(ReadFailure) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadFailure(reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadFailure(reason: String(cString: strerror(errno)))
            }
            bytes += chunk.prefix(count)
            guard bytes.count <= maxSize else {
                throw ReadFailure(reason: "it is larger than \(maxSize >> 20) MiB, too large for a config file")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ReadFailure(reason: "it is not UTF-8 text") }
        return text
    }
}

/// "Did you mean" for misspelt keys (`kill-grace`, `slot`).
enum Spelling {
    /// `" (did you mean \"x\"?)"` for the candidate closest to `word` when it is a likely typo:
    /// at most 1 edit up to 4 characters, 2 up to 8, 3 beyond; a dash for an underscore is free.
    static func hint(for word: String, among candidates: [String]) -> String {
        let lowered = word.lowercased().replacingOccurrences(of: "-", with: "_")
        let allowed = lowered.count <= 4 ? 1 : lowered.count <= 8 ? 2 : 3
        let best = candidates.map { ($0, editDistance(lowered, $0)) }.filter { $0.1 <= allowed }.min { $0.1 < $1.1 }
        return best.map { " (did you mean \"\($0.0)\"?)" } ?? ""
    }

    /// Levenshtein distance: insertions, deletions and substitutions each cost 1.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
