import ArgumentParser
import LoomBroker
import LoomRuntime
import Logging

struct Broker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker: dispatches jobs to workers, keeps a lease per attempt, publishes the feed.")

    @Option(help: "ROUTER endpoint for workers and clients.")
    var endpoint = "tcp://*:5555"

    @Option(help: "PUB endpoint of the event feed.")
    var feed = "tcp://*:5556"

    @Option(help: "Heartbeat interval towards clients (workers propose their own).")
    var heartbeat = DurationArgument(argument: "1s")!

    @Option(help: "Missed heartbeats after which a peer is declared dead.")
    var liveness = 3

    @Option(help: "How long re-synced jobs wait for their workers to re-register after a start.")
    var recoveryWindow = DurationArgument(argument: "5s")!

    @Option(help: "Largest message accepted, in bytes; a peer that sends a larger one is disconnected.")
    var maxMessageSize: Int64 = 64 << 20

    @Flag(help: "On SIGTERM/SIGINT also tell every worker to shut down.")
    var shutdownWorkers = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard liveness >= 1 else { throw ValidationError("--liveness must be at least 1") }
        guard maxMessageSize >= 1024 else { throw ValidationError("--max-message-size must be at least 1024 bytes") }
        guard heartbeat.duration > .zero else { throw ValidationError("--heartbeat must be positive") }
    }

    func run() throws {
        logging.bootstrap()
        let stop = StopLatch()
        stop.stopOnSignals()
        let service = try BrokerService(config: BrokerServiceConfig(
            endpoint: endpoint, feedEndpoint: feed, heartbeat: heartbeat.duration, liveness: liveness,
            recoveryWindow: recoveryWindow.duration, shutdownWorkers: shutdownWorkers,
            maxMessageSize: maxMessageSize, softwareVersion: Hyperloom.version))
        let bound = try service.bind()
        Console.line("broker listening on \(bound.endpoint), feed on \(bound.feed)")
        try service.run(until: stop)
    }
}
