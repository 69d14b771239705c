import ArgumentParser
import Foundation
import LoomConfig
import Logging

/// The options of a long-running command whose settings are described once in `LoomConfig`:
/// `broker`, `worker`, `optimizer`, and `config show` for each of them.
///
/// Every setting is an optional option here (nil: not on the command line), so that the
/// environment, the config file and the default can decide it: the command line only wins when it
/// says something. Values stay text until `LoomConfig` parses them, so a flag, a variable and a
/// file entry are checked by the same code and their errors say where the value came from.
protocol SettingsOptions: ParsableArguments {
    static var table: SettingsTable { get }
    /// `--config FILE`.
    var config: String? { get }
    /// The settings given on the command line, by key, as text; nil: not given.
    var flags: [String: String?] { get }
    /// Checks that need a parser from another module (the worker's GPU selection).
    static func check(_ settings: ConfigResolution) throws(ConfigError)
}

extension SettingsOptions {
    static func check(_ settings: ConfigResolution) throws(ConfigError) {}

    /// `--help` of `--config`.
    static var configHelp: ArgumentHelp {
        ArgumentHelp("YAML file of \(table.command) settings, keys as in Configs/\(table.command).yaml; "
            + "flags and environment variables override it. Env: \(table.configEnvironment).",
                     valueName: "file")
    }

    /// The effective settings: flags > environment > config file > defaults.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> ConfigResolution {
        let settings = try Self.table.resolve(flags: flags.compactMapValues { $0 }, configFile: config, environment: environment)
        try Self.check(settings)
        return settings
    }

    /// `resolve()`, or the error on stderr and exit status 1.
    func settings() throws -> ConfigResolution {
        do {
            return try resolve()
        } catch {
            Console.error("error: \(error)")
            throw ExitCode.failure
        }
    }
}

extension Setting {
    /// The setting's `--help` text.
    var argumentHelp: ArgumentHelp { ArgumentHelp(help, valueName: type.valueName) }
}
