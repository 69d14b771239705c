import Foundation

/// One option of a long-running command, described once: its config-file key, its flag, its
/// environment variable, its type and its default. The command's flags, `hyperloom config show`
/// and the example files in `Configs/` are all checked against these descriptions.
///
/// **Names.** The key is snake case (`kill_grace`); the flag is the key with dashes
/// (`--kill-grace`); the environment variable is `HYPERLOOM_<COMMAND>_<KEY>` in upper case
/// (`HYPERLOOM_WORKER_KILL_GRACE`) unless the setting names an established one
/// (`HYPERLOOM_BROKER`, the broker's endpoint for workers, the optimizer and the CLI).
public struct Setting<Value: Sendable>: AnySetting {
    public let key: String
    public let type: SettingType<Value>
    public let defaultValue: Value
    /// The default in words, when it is worked out at start-up (`the number of cores`,
    /// `<host>-<pid>`); shown instead of `defaultValue` in help, and for a value left unset.
    public let defaultNote: String?
    public let environment: String
    /// One sentence for `--help`.
    public let summary: String

    public init(_ command: String, _ key: String, _ type: SettingType<Value>, default defaultValue: Value,
                note defaultNote: String? = nil, environment: String? = nil, help summary: String) {
        self.key = key
        self.type = type
        self.defaultValue = defaultValue
        self.defaultNote = defaultNote
        self.environment = environment ?? "HYPERLOOM_\(command)_\(key)".uppercased()
        self.summary = summary
    }

    public var flag: String { "--" + key.replacingOccurrences(of: "_", with: "-") }

    public var defaultDescription: String { defaultNote ?? type.text(defaultValue) }

    /// `--help` text: the summary, the default and the environment variable.
    public var help: String { "\(summary) Default: \(defaultDescription). Env: \(environment)." }

    public var expected: String { type.expected }

    /// The value of the highest-precedence place that sets it. Every place that sets it must hold
    /// a valid value, even one that is overridden: a broken file fails now, not on the day the
    /// flag that hid it is dropped.
    public func resolve(flag text: String?, environment variable: String?,
                        file entry: ConfigFile.Entry?) throws(ConfigError) -> ResolvedSetting {
        var chosen: (value: Value, source: SettingSource)?
        if let text {
            guard let value = type.parse(text) else {
                throw ConfigError(source: .flag(flag), field: key, message: "expected \(expected), found \"\(text)\"")
            }
            chosen = (value, .flag(flag))
        }
        if let variable {
            guard let value = type.parse(variable) else {
                throw ConfigError(source: .environment(environment), field: key,
                                  message: "expected \(expected), found \"\(variable)\"")
            }
            chosen = chosen ?? (value, .environment(environment))
        }
        if let entry {
            let value: Value
            switch entry.value {
            case .scalar(let scalar) where scalar.kind == .null:
                throw entry.error(key, "expected \(expected), found \(scalar.found); leave the key out for the default")
            case .scalar(let scalar):
                guard let read = type.read(scalar) else { throw entry.error(key, "expected \(expected), found \(scalar.found)") }
                value = read
            case .other(let found):
                throw entry.error(key, "expected \(expected), found \(found)")
            }
            chosen = chosen ?? (value, .file(path: entry.path, line: entry.line, column: entry.column))
        }
        let (value, source) = chosen ?? (defaultValue, .default)
        return ResolvedSetting(key: key, value: value, text: show(value), source: source)
    }

    /// The value as `config show` prints it: an unset optional shows its default in words.
    func show(_ value: Value) -> String {
        if let optional = value as? any OptionalValue, optional.isNone, let defaultNote { return defaultNote }
        return type.text(value)
    }
}

/// What a settings table needs of a `Setting`, whatever its value type.
public protocol AnySetting: Sendable {
    var key: String { get }
    var flag: String { get }
    var environment: String { get }
    var help: String { get }
    var summary: String { get }
    var expected: String { get }
    var defaultDescription: String { get }
    func resolve(flag: String?, environment: String?, file: ConfigFile.Entry?) throws(ConfigError) -> ResolvedSetting
}

/// A setting's effective value and where it came from.
public struct ResolvedSetting: Sendable {
    public let key: String
    /// The typed value, as `ConfigResolution`'s subscript hands it out.
    let value: any Sendable
    /// The value as shown.
    public let text: String
    public let source: SettingSource
}

/// Lets `Setting.show` tell an unset optional from a value without knowing its type.
protocol OptionalValue {
    var isNone: Bool { get }
}

extension Optional: OptionalValue {
    var isNone: Bool { self == nil }
}
