import Foundation

/// The settings of one command, in the order `config show` and the example files list them.
public struct SettingsTable: Sendable {
    /// The command's name: `broker`, `worker`, `optimizer`.
    public let command: String
    public let settings: [any AnySetting]

    public init(command: String, _ settings: [any AnySetting]) {
        self.command = command
        self.settings = settings
    }

    public var keys: [String] { settings.map(\.key) }

    /// The variable naming the config file when `--config` is not given: `HYPERLOOM_WORKER_CONFIG`
    /// (not `HYPERLOOM_CONFIG`, which is a trial's configuration).
    public var configEnvironment: String { "HYPERLOOM_\(command.uppercased())_CONFIG" }

    /// Resolves every setting: a flag beats the environment, which beats the config file (named by
    /// `configFile`, else by `configEnvironment`), which beats the default. `flags` holds the
    /// command-line values by key, as text; an environment variable set to the empty string counts
    /// as unset (what `docker-compose` passes for `${VAR:-}`). Throws the first setting, in table
    /// order, that is set anywhere to something unusable.
    public func resolve(flags: [String: String], configFile: String?,
                        environment: [String: String]) throws(ConfigError) -> ConfigResolution {
        let named: (path: String, source: SettingSource)?
        if let configFile {
            named = (configFile, .flag("--config"))
        } else if let path = environment[configEnvironment], !path.isEmpty {
            named = (path, .environment(configEnvironment))
        } else {
            named = nil
        }
        let file = try named.map { named throws(ConfigError) in try ConfigFile.load(named.path, table: self, namedBy: named.source) }
        return try resolve(flags: flags, file: file, fileSource: named?.source, environment: environment)
    }

    /// `resolve` with the config file already parsed (or none).
    public func resolve(flags: [String: String], file: ConfigFile?, fileSource: SettingSource? = nil,
                        environment: [String: String]) throws(ConfigError) -> ConfigResolution {
        var resolved: [ResolvedSetting] = []
        for setting in settings {
            let variable = environment[setting.environment].flatMap { $0.isEmpty ? nil : $0 }
            resolved.append(try setting.resolve(flag: flags[setting.key], environment: variable, file: file?[setting.key]))
        }
        return ConfigResolution(command: command, file: file.map { ($0.path, fileSource ?? .default) }, settings: resolved)
    }
}

/// The effective settings of a command and where each came from.
public struct ConfigResolution: Sendable {
    public let command: String
    /// The config file that was read and what named it (`--config` or its variable).
    public let file: (path: String, source: SettingSource)?
    /// In table order.
    public let settings: [ResolvedSetting]

    /// The effective value of `setting`, which must belong to this command's table.
    public subscript<Value>(setting: Setting<Value>) -> Value {
        guard let resolved = settings.first(where: { $0.key == setting.key }), let value = resolved.value as? Value else {
            preconditionFailure("\(setting.key) is not a setting of \(command)")
        }
        return value
    }

    /// Where the effective value of `setting` came from.
    public func source<Value>(of setting: Setting<Value>) -> SettingSource {
        settings.first { $0.key == setting.key }?.source ?? .default
    }

    /// An error about `setting`'s effective value found after resolution (by a parser that lives
    /// elsewhere, such as the worker's GPU selection), located where that value was given.
    public func error<Value>(in setting: Setting<Value>, _ message: String) -> ConfigError {
        ConfigError(source: source(of: setting), field: setting.key, message: message)
    }

    /// What `hyperloom config show` prints: a header, then one row per setting with its key, its
    /// effective value and its source (`flag`, `env HYPERLOOM_…`, `file PATH:LINE`, `default`).
    /// Columns are separated by at least two spaces.
    public func rendered() -> String {
        var lines = ["hyperloom \(command): effective settings (flag > environment > config file > default)"]
        if let file {
            let named: String
            switch file.source {
            case .flag(let flag): named = flag
            case .environment(let name): named = "env \(name)"
            default: named = file.source.description
            }
            lines.append("config file: \(file.path) (named by \(named))")
        } else {
            lines.append("config file: none (--config FILE or env HYPERLOOM_\(command.uppercased())_CONFIG)")
        }
        let rows = [["KEY", "VALUE", "SOURCE"]] + settings.map { [$0.key, $0.text, $0.source.description] }
        let widths = (0..<2).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(row[0].padding(toLength: widths[0] + 2, withPad: " ", startingAt: 0)
                + row[1].padding(toLength: widths[1] + 2, withPad: " ", startingAt: 0) + row[2])
        }
        return lines.joined(separator: "\n")
    }
}
