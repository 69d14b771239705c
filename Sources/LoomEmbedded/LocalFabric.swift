import Foundation
import LoomBroker
import LoomOptimizer
import LoomStore
import LoomWorker

/// A broker on loopback, the optimizer on `store`, and one worker with `slots` slots, in this
/// process: what `hyperloom run` and `LocalStudy.optimize` start.
///
/// **Ownership.** The store and the services belong to their threads until `stop()` returns;
/// read the store only after that. If starting fails midway, what had started is stopped.
public final class LocalFabric {
    /// The broker's ROUTER, feed and feed replay endpoints (ephemeral loopback ports).
    public let endpoint: String
    public let feed: String
    public let feedReplay: String
    private let services = EmbeddedServices()

    /// - Parameter executor: runs the worker's trials; nil: child processes (`TrialRunner`).
    public init(store: any StudyStore, optimizerID: String, workerID: String, slots: Int, workDir: String,
                executor: sending (any TrialExecutor)? = nil, version: String) throws {
        let broker = try BrokerService(config: BrokerServiceConfig(
            endpoint: "tcp://127.0.0.1:*", feedEndpoint: "tcp://127.0.0.1:*", feedReplayEndpoint: "tcp://127.0.0.1:*", recoveryWindow: .zero, softwareVersion: version))
        let bound = try broker.bind()
        endpoint = bound.endpoint
        feed = bound.feed
        feedReplay = bound.replay
        services.start("broker") { stop in try broker.run(until: stop) }
        do {
            let optimizer = try OptimizerService(
                config: OptimizerConfig(brokerEndpoint: bound.endpoint, clientID: optimizerID, feedEndpoint: bound.feed), store: store)
            services.start("optimizer") { stop in try optimizer.run(until: stop) }
            var workerConfig = WorkerAgentConfig(
                brokerEndpoint: bound.endpoint, workDir: workDir,
                worker: WorkerConfig(workerID: workerID, slots: slots, gpus: 0, heartbeat: .seconds(1), liveness: 3,
                                     host: ProcessInfo.processInfo.hostName, pid: getpid(), version: version))
            // One worker: every retry runs where the checkpoint already is. The shared mode on
            // the work directory itself keeps the usual paths and ships nothing.
            workerConfig.checkpoints = CheckpointSettings(sharedDirectory: workDir)
            let agent = try WorkerAgent(config: workerConfig, executor: executor)
            services.start("worker") { stop in try agent.run(until: stop) }
        } catch {
            services.stopAll(workersFirst: true)
            throw error
        }
    }

    /// Stops the worker and the optimizer, then the broker, and waits for each. Idempotent.
    public func stop() {
        services.stopAll(workersFirst: true)
    }
}
