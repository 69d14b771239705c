import Foundation
import LoomBroker
import LoomOptimizer
import LoomStore
import LoomWorker
import ZeroMQ

/// A broker, the optimizer on `store`, and one worker with `slots` slots, in this process: what
/// `hyperloom run` and `LocalStudy.optimize` start.
///
/// **Transport.** The services share one ZeroMQ context and talk over `inproc://` endpoints:
/// the same protocol as over TCP, without the kernel's loopback stack or the context's I/O
/// thread between them (half the CPU time of trivial trials went there). A client of this
/// fabric makes its sockets from `context`.
/// **Ownership.** The store and the services belong to their threads until `stop()` returns;
/// read the store only after that. If starting fails midway, what had started is stopped.
/// `stop()` terminates the context: close every socket made from it first.
public final class LocalFabric {
    /// The broker's ROUTER, feed and feed replay endpoints (`inproc://`, unique to this fabric).
    public let endpoint: String
    public let feed: String
    public let feedReplay: String
    /// The context every socket on this fabric's endpoints must be made from.
    public let context: ZMQContext
    private let services = EmbeddedServices()

    /// - Parameter executor: runs the worker's trials; nil: child processes (`TrialRunner`).
    public init(store: any StudyStore, optimizerID: String, workerID: String, slots: Int, workDir: String,
                executor: sending (any TrialExecutor)? = nil, version: String) throws {
        let context = try ZMQContext()
        self.context = context
        let name = "hyperloom-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
        let broker: BrokerService
        let bound: (endpoint: String, feed: String, replay: String)
        do {
            broker = try BrokerService(config: BrokerServiceConfig(
                endpoint: "inproc://\(name)", feedEndpoint: "inproc://\(name)-feed", feedReplayEndpoint: "inproc://\(name)-feed-replay",
                recoveryWindow: .zero, softwareVersion: version),
                context: context)
            bound = try broker.bind()
        } catch {
            context.terminate()
            throw error
        }
        endpoint = bound.endpoint
        feed = bound.feed
        feedReplay = bound.replay
        services.start("broker") { stop in try broker.run(until: stop) }
        do {
            var optimizerConfig = OptimizerConfig(brokerEndpoint: bound.endpoint, clientID: optimizerID, feedEndpoint: bound.feed)
            optimizerConfig.feedIsNew = true
            let optimizer = try OptimizerService(config: optimizerConfig, store: store, context: context)
            services.start("optimizer") { stop in try optimizer.run(until: stop) }
            var workerConfig = WorkerAgentConfig(
                brokerEndpoint: bound.endpoint, workDir: workDir,
                worker: WorkerConfig(workerID: workerID, slots: slots, gpus: 0, heartbeat: .seconds(1), liveness: 3,
                                     host: ProcessInfo.processInfo.hostName, pid: getpid(), version: version))
            // One worker: every retry runs where the checkpoint already is. The shared mode on
            // the work directory itself keeps the usual paths and ships nothing.
            workerConfig.checkpoints = CheckpointSettings(sharedDirectory: workDir)
            let agent = try WorkerAgent(config: workerConfig, executor: executor, context: context)
            services.start("worker") { stop in try agent.run(until: stop) }
        } catch {
            stop()
            throw error
        }
    }

    /// Stops the worker and the optimizer, then the broker, waits for each, and terminates the
    /// context. Idempotent.
    public func stop() {
        services.stopAll(workersFirst: true)
        context.terminate()
    }
}
