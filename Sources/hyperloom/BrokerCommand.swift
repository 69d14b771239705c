import ArgumentParser
import LoomBroker
import LoomConfig
import LoomRuntime
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
    @Option(help: BrokerSettings.logLevel.argumentHelp) var logLevel: String?

    var flags: [String: String?] {
        let s = BrokerSettings.self
        return [
            s.endpoint.key: endpoint, s.feed.key: feed, s.heartbeat.key: heartbeat, s.liveness.key: liveness,
            s.recoveryWindow.key: recoveryWindow, s.maxMessageSize.key: maxMessageSize,
            s.shutdownWorkers.key: shutdownWorkers.map { $0 ? "true" : "false" }, s.logLevel.key: logLevel,
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
        let stop = StopLatch()
        stop.stopOnSignals()
        let service = try BrokerService(config: BrokerServiceConfig(
            endpoint: settings[s.endpoint], feedEndpoint: settings[s.feed], heartbeat: settings[s.heartbeat],
            liveness: settings[s.liveness], recoveryWindow: settings[s.recoveryWindow],
            shutdownWorkers: settings[s.shutdownWorkers], maxMessageSize: Int64(settings[s.maxMessageSize]),
            softwareVersion: Hyperloom.version))
        let bound = try service.bind()
        Console.line("broker listening on \(bound.endpoint), feed on \(bound.feed)")
        try service.run(until: stop)
    }
}
