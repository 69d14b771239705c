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
    @Option(help: BrokerSettings.feedReplay.argumentHelp) var feedReplay: String?
    @Option(help: BrokerSettings.feedJournal.argumentHelp) var feedJournal: String?
    @Option(help: BrokerSettings.heartbeat.argumentHelp) var heartbeat: String?
    @Option(help: BrokerSettings.liveness.argumentHelp) var liveness: String?
    @Option(help: BrokerSettings.recoveryWindow.argumentHelp) var recoveryWindow: String?
    @Option(help: BrokerSettings.maxMessageSize.argumentHelp) var maxMessageSize: String?
    @Flag(inversion: .prefixedNo, help: BrokerSettings.shutdownWorkers.argumentHelp) var shutdownWorkers: Bool?
    @Option(help: BrokerSettings.keys.argumentHelp) var keys: String?
    @Flag(inversion: .prefixedNo, help: BrokerSettings.insecure.argumentHelp) var insecure: Bool?
    @Option(help: BrokerSettings.logLevel.argumentHelp) var logLevel: String?
    @Option(help: BrokerSettings.stallIntervalFactor.argumentHelp) var stallIntervalFactor: String?
    @Option(help: BrokerSettings.stallTimeoutMinimum.argumentHelp) var stallTimeoutMinimum: String?
    @Option(help: BrokerSettings.slowAttemptFactor.argumentHelp) var slowAttemptFactor: String?
    @Option(help: BrokerSettings.slowAttemptMinPeers.argumentHelp) var slowAttemptMinPeers: String?
    @Option(help: BrokerSettings.slowAttemptMinRuntime.argumentHelp) var slowAttemptMinRuntime: String?
    @Option(help: BrokerSettings.maxWorkers.argumentHelp) var maxWorkers: String?
    @Option(help: BrokerSettings.maxClients.argumentHelp) var maxClients: String?
    @Option(help: BrokerSettings.maxReplayPrefixes.argumentHelp) var maxReplayPrefixes: String?

    var flags: [String: String?] {
        let s = BrokerSettings.self
        return [
            s.endpoint.key: endpoint, s.feed.key: feed, s.feedReplay.key: feedReplay, s.feedJournal.key: feedJournal,
            s.heartbeat.key: heartbeat, s.liveness.key: liveness,
            s.recoveryWindow.key: recoveryWindow, s.maxMessageSize.key: maxMessageSize,
            s.shutdownWorkers.key: shutdownWorkers.map { $0 ? "true" : "false" }, s.keys.key: keys,
            s.insecure.key: insecure.map { $0 ? "true" : "false" }, s.logLevel.key: logLevel,
            s.stallIntervalFactor.key: stallIntervalFactor, s.stallTimeoutMinimum.key: stallTimeoutMinimum,
            s.slowAttemptFactor.key: slowAttemptFactor, s.slowAttemptMinPeers.key: slowAttemptMinPeers,
            s.slowAttemptMinRuntime.key: slowAttemptMinRuntime,
            s.maxWorkers.key: maxWorkers, s.maxClients.key: maxClients, s.maxReplayPrefixes.key: maxReplayPrefixes,
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
        let exposed = [settings[s.endpoint], settings[s.feed], settings[s.feedReplay] ?? Self.replayEndpoint(feed: settings[s.feed])].filter { !Security.isLocal($0) }
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
        let feedPort = settings[s.feed].split(separator: ":").last.map(String.init) ?? "*"
        let journal = settings[s.feedJournal] ?? (Int(feedPort) == nil ? nil : "hyperloom-data/broker/feed-\(feedPort).journal")
        if let journal {
            let directory = (journal as NSString).deletingLastPathComponent
            if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        }
        let replay = settings[s.feedReplay] ?? Self.replayEndpoint(feed: settings[s.feed])
        // The lease secret lives in the broker's data directory (beside the journal, or
        // hyperloom-data/broker), so leases given out before a restart still verify after it.
        let dataDirectory = journal.map { ($0 as NSString).deletingLastPathComponent } ?? "hyperloom-data/broker"
        try FileManager.default.createDirectory(atPath: dataDirectory.isEmpty ? "." : dataDirectory, withIntermediateDirectories: true)
        let leaseSecret = ((dataDirectory.isEmpty ? "." : dataDirectory) as NSString).appendingPathComponent("lease.secret")
        let service = try BrokerService(config: BrokerServiceConfig(
            endpoint: settings[s.endpoint], feedEndpoint: settings[s.feed], feedReplayEndpoint: replay,
            feedJournal: journal, heartbeat: settings[s.heartbeat],
            liveness: settings[s.liveness], recoveryWindow: settings[s.recoveryWindow],
            shutdownWorkers: settings[s.shutdownWorkers], maxMessageSize: Int64(settings[s.maxMessageSize]),
            softwareVersion: Hyperloom.version, keysDirectory: keys,
            stragglers: StragglerPolicy(stallIntervalFactor: settings[s.stallIntervalFactor],
                                        minimumStallTimeout: settings[s.stallTimeoutMinimum],
                                        slowAttemptFactor: settings[s.slowAttemptFactor],
                                        slowAttemptMinimumPeers: settings[s.slowAttemptMinPeers],
                                        slowAttemptMinimumRuntime: settings[s.slowAttemptMinRuntime]),
            leaseSecret: leaseSecret, maxWorkers: settings[s.maxWorkers], maxClients: settings[s.maxClients],
            maxReplayPrefixes: settings[s.maxReplayPrefixes]))
        let bound: (endpoint: String, feed: String, replay: String)
        do {
            bound = try service.bind()
        } catch {
            Console.error("error: \(error)")
            throw ExitCode.failure
        }
        if let keys { Console.line("broker authenticates its peers with the keys in \(keys)") }
        Console.line("feed replay on \(bound.replay), journal \(journal ?? "in memory")")
        Console.line("broker listening on \(bound.endpoint), feed on \(bound.feed)")
        try service.run(until: stop, reload: reload)
    }

    /// The feed's host with its port + 1 (`*` stays `*`).
    static func replayEndpoint(feed: String) -> String {
        guard let colon = feed.lastIndex(of: ":"), let port = Int(feed[feed.index(after: colon)...]) else {
            return feed.hasSuffix(":*") ? feed : feed + "-replay"
        }
        return "\(feed[..<colon]):\(port + 1)"
    }
}
