/// Where an effective setting came from, in precedence order: a flag beats the environment, the
/// environment beats the config file, the file beats the default.
public enum SettingSource: Equatable, Sendable, CustomStringConvertible {
    /// Given on the command line as this flag (`--slots`).
    case flag(String)
    /// Read from this environment variable (`HYPERLOOM_WORKER_SLOTS`).
    case environment(String)
    /// Read from a config file; line and column count from 1 and point at the key.
    case file(path: String, line: Int, column: Int)
    /// Nothing set it.
    case `default`

    /// `flag`, `env HYPERLOOM_…`, `file PATH:LINE` or `default`: what `hyperloom config show` prints.
    public var description: String {
        switch self {
        case .flag: "flag"
        case .environment(let name): "env \(name)"
        case .file(let path, let line, _): "file \(path):\(line)"
        case .default: "default"
        }
    }
}

/// A setting that cannot be used, located like a compiler diagnostic, as study-spec errors are.
///
/// `description` reads, by where the value came from:
///
///     Configs/worker.yaml:7:8: slots: expected an integer of at least 1, found string "four"
///     --liveness: expected an integer of at least 1, found "0"
///     env HYPERLOOM_WORKER_KILL_GRACE: expected a duration such as 500ms, 5s, 2m or a number of seconds, found "soon"
///
/// **Position.** For a file, `line` and `column` count from 1 and point at the node at fault: the
/// key of an unknown entry, the value of a bad one. They are 0 when there is no text to point
/// into (the file cannot be read); `description` then leaves them out.
/// **Field.** The setting's key; `syntax` for YAML that does not parse, `file` for a file that
/// cannot be read, `config` for a document that is not a mapping of settings.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Where the value at fault was given.
    public var source: SettingSource
    public var field: String
    /// What was expected and what was found.
    public var message: String

    public init(source: SettingSource, field: String, message: String) {
        self.source = source
        self.field = field
        self.message = message
    }

    /// An error in a config file at a position (0, 0: the file as a whole).
    public init(file: String, line: Int, column: Int, field: String, message: String) {
        self.init(source: .file(path: file, line: line, column: column), field: field, message: message)
    }

    public var description: String {
        switch source {
        case .file(let path, let line, let column):
            let position = line > 0 ? "\(path):\(line):\(column)" : path
            return "\(position): \(field): \(message)"
        case .flag(let flag): return "\(flag): \(message)"
        case .environment(let name): return "env \(name): \(message)"
        case .default: return "\(field): \(message)"
        }
    }
}
