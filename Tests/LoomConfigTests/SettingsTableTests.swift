import Foundation
import LoomConfig
import Testing

/// The tables' names follow one rule, and the example files in `Configs/` list every key with its
/// default.
struct SettingsTableTests {
    /// Test arguments by command name: a table's own description is pages long.
    static let commands = ["broker", "worker", "optimizer"]
    static func table(_ command: String) -> SettingsTable {
        [BrokerSettings.table, WorkerSettings.table, OptimizerSettings.table].first { $0.command == command }!
    }

    /// Variables the worker sets for trials (Docs/trial-protocol.md): a setting must not read one
    /// with another meaning.
    static let trialVariables = ["HYPERLOOM_CONFIG", "HYPERLOOM_TRIAL_ID", "HYPERLOOM_ATTEMPT", "HYPERLOOM_LEASE",
                                 "HYPERLOOM_CHECKPOINT_DIR", "HYPERLOOM_ATTEMPT_DIR", "HYPERLOOM_RESUME",
                                 "HYPERLOOM_GPUS", "HYPERLOOM_GPU_SHARE", "HYPERLOOM_BUDGET"]

    @Test(arguments: commands)
    func namesDeriveFromTheKey(command: String) {
        let table = Self.table(command)
        for setting in table.settings {
            #expect(setting.key.allSatisfy { $0.isLowercase || $0 == "_" }, "\(setting.key)")
            #expect(setting.flag == "--" + setting.key.replacingOccurrences(of: "_", with: "-"))
            let derived = "HYPERLOOM_\(table.command.uppercased())_\(setting.key.uppercased())"
            #expect(setting.environment == (setting.key == "broker" ? "HYPERLOOM_BROKER" : derived), "\(setting.key)")
        }
        #expect(Set(table.keys).count == table.keys.count)
        let variables = table.settings.map(\.environment) + [table.configEnvironment]
        #expect(Set(variables).count == variables.count)
        #expect(Set(variables).isDisjoint(with: Self.trialVariables), "\(variables)")
    }

    @Test(arguments: commands)
    func shippedExampleLoadsAndSetsOnlyDefaults(command: String) throws {
        let table = Self.table(command)
        let path = Self.repository.appendingPathComponent("Configs/\(table.command).yaml").path
        let settings = try table.resolve(flags: [:], configFile: path, environment: [:])
        let defaults = try table.resolve(flags: [:], file: nil, environment: [:])
        for (set, standard) in zip(settings.settings, defaults.settings) {
            #expect(set.text == standard.text, "\(table.command).\(set.key): the example says \(set.text), the default is \(standard.text)")
        }
        #expect(settings.settings.contains { if case .file = $0.source { true } else { false } })
    }

    /// Every key is in the example, set (`key: value`) or, when its default is worked out at
    /// start-up, commented out (`# key: value`).
    @Test(arguments: commands)
    func shippedExampleListsEveryKey(command: String) throws {
        let table = Self.table(command)
        let path = Self.repository.appendingPathComponent("Configs/\(table.command).yaml").path
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        for key in table.keys {
            #expect(lines.contains { $0.hasPrefix("\(key): ") || $0.hasPrefix("# \(key): ") }, "\(table.command).yaml lacks \(key)")
        }
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}
