import LoomConfig
import Testing

/// The limits on what peers may make the broker and the optimizer hold are settings: flags,
/// environment and config files, with the defaults of Docs/security.md's limits table; a value
/// past a bound the protocol keeps is refused naming the setting (issue 16).
struct LimitSettingsTests {
    @Test func brokerLimitsComeFromFlagsAndTheEnvironment() throws {
        let b = BrokerSettings.self
        let defaults = try BrokerSettings.table.resolve(flags: [:], file: nil, environment: [:])
        #expect(defaults[b.maxWorkers] == 10_000 && defaults[b.maxClients] == 10_000 && defaults[b.maxReplayPrefixes] == 64)
        let set = try BrokerSettings.table.resolve(flags: ["max_workers": "2"], file: nil,
                                                   environment: ["HYPERLOOM_BROKER_MAX_CLIENTS": "5", "HYPERLOOM_BROKER_MAX_REPLAY_PREFIXES": "8"])
        #expect(set[b.maxWorkers] == 2)
        #expect(set[b.maxClients] == 5)
        #expect(set[b.maxReplayPrefixes] == 8)
    }

    @Test func optimizerLimitsHaveTheProtocolsDefaults() throws {
        let o = OptimizerSettings.self
        let defaults = try OptimizerSettings.table.resolve(flags: [:], file: nil, environment: [:])
        #expect(defaults[o.checkpointMaxFiles] == 100_000)
        #expect(defaults[o.specMaxBytes] == 4 << 20)
        #expect(defaults[o.specMaxNodes] == 500_000)
        let set = try OptimizerSettings.table.resolve(flags: ["spec_max_nodes": "1000"], file: nil,
                                                      environment: ["HYPERLOOM_OPTIMIZER_CHECKPOINT_MAX_FILES": "10"])
        #expect(set[o.specMaxNodes] == 1_000)
        #expect(set[o.checkpointMaxFiles] == 10)
    }

    @Test func aLimitBeyondTheProtocolsBoundIsRefusedNamingIt() {
        do {
            _ = try BrokerSettings.table.resolve(flags: ["max_replay_prefixes": "65"], file: nil, environment: [:])
            Issue.record("65 replay prefixes were accepted")
        } catch {
            #expect("\(error)".contains("max-replay-prefixes") || "\(error)".contains("max_replay_prefixes"), "\(error)")
            #expect("\(error)".contains("an integer from 1 to 64"), "\(error)")
        }
        #expect(throws: ConfigError.self) { try OptimizerSettings.table.resolve(flags: ["spec_max_bytes": "0"], file: nil, environment: [:]) }
        #expect(throws: ConfigError.self) { try BrokerSettings.table.resolve(flags: ["max_workers": "0"], file: nil, environment: [:]) }
    }
}
