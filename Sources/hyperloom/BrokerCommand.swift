import ArgumentParser
import LoomBroker
import LoomConfig
import LoomRuntime
import Foundation
import Logging

/// The broker's options: every setting of `BrokerSettings`, and `--config`.
struct BrokerOptions: SettingsOptions {
    static var table: SettingsTable { BrokerSettings.table }

    @Option(help: Self.configHelp) var config: String?
    @Option(help: BrokerSettings.endpoint.argumentHelp) var endpoint: String?
    @Option(help: BrokerSettings.feed.argumentHelp) var feed: String?
    @Option(help: BrokerSettings.heartbeat.argumentHelp) var heartbeat: String?
    @Option(help: BrokerSettings.liveness.argumentHelp) var liveness: String?
    @Option(help: BrokerSettings.recoveryWindow.argumentHelp) var recoveryWindow: String?
    @Option(help: BrokerSettings.maxMessageSize.argumentHelp) var maxMessageSize: String?
    @Flag(inversion: .prefixedNo, help: BrokerSettings.shutdownWorkers.argumentHelp) var shutdownWorkers: Bool?
    @Option(help: BrokerSettings.keys.argumentHelp) var keys: String?
    @Flag(inversion: .prefixedNo, help: BrokerSettings.insecure.argumentHelp) var insecure: Bool?
    @Option(help: BrokerSettings.logLevel.argumentHelp) var logLevel: String?

    var flags: [String: String?] {
        let s = BrokerSettings.self
        return [
            s.endpoint.key: endpoint, s.feed.key: feed, s.heartbeat.key: heartbeat, s.liveness.key: liveness,
            s.recoveryWindow.key: recoveryWindow, s.maxMessageSize.key: maxMessageSize,
            s.shutdownWorkers.key: shutdownWorkers.map { $0 ? "true" : "false" }, s.keys.key: keys,
            s.insecure.key: insecure.map { $0 ? "true" : "false" }, s.logLevel.key: logLevel,
        ]
    }
}

struct Broker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker: dispatches jobs to workers, keeps a lease per attempt, publishes the feed.")

    @OptionGroup var options: BrokerOptions

    func run() throws {
        let settings = try options.settings()
        let s = BrokerSettings.self
        LoggingOptions.bootstrap(level: settings[s.logLevel])
        let keys = settings[s.keys]
        let exposed = [settings[s.endpoint], settings[s.feed]].filter { !Security.isLocal($0) }
        if keys == nil, !exposed.isEmpty {
            guard settings[s.insecure] else {
                Console.error("error: binding \(exposed.joined(separator: " and ")) without keys would let anyone who reaches "
                    + "the port run commands on the workers: pass --keys DIR (see Docs/security.md), or --insecure on a network you trust")
                throw ExitCode.failure
            }
            Logger(label: "hyperloom.broker").warning(
                "INSECURE: listening beyond loopback without authentication or encryption; anyone who reaches these ports can run commands on the workers",
                metadata: ["broker.exposed": "\(exposed.joined(separator: ", "))"])
        }
        let stop = StopLatch()
        stop.stopOnSignals()
        // SIGHUP reloads the allowlist; without keys it is logged and ignored (never fatal).
        let reload = SignalFlag(signals: [SIGHUP])
        let service = try BrokerService(config: BrokerServiceConfig(
            endpoint: settings[s.endpoint], feedEndpoint: settings[s.feed], heartbeat: settings[s.heartbeat],
            liveness: settings[s.liveness], recoveryWindow: settings[s.recoveryWindow],
            shutdownWorkers: settings[s.shutdownWorkers], maxMessageSize: Int64(settings[s.maxMessageSize]),
            softwareVersion: Hyperloom.version, keysDirectory: keys))
        let bound: (endpoint: String, feed: String)
        do {
            bound = try service.bind()
        } catch {
            Console.error("error: \(error)")
            throw ExitCode.failure
        }
        if let keys { Console.line("broker authenticates its peers with the keys in \(keys)") }
        Console.line("broker listening on \(bound.endpoint), feed on \(bound.feed)")
        try service.run(until: stop, reload: reload)
    }
}
