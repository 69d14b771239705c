import ArgumentParser
import Foundation
import LoomConfig
import LoomMetrics
import LoomRuntime
import LoomWorker
import Logging
import ZeroMQ

/// The worker's options: every setting of `WorkerSettings`, and `--config`.
struct WorkerOptions: SettingsOptions {
    static var table: SettingsTable { WorkerSettings.table }

    @Option(help: Self.configHelp) var config: String?
    @Option(help: WorkerSettings.broker.argumentHelp) var broker: String?
    @Option(help: WorkerSettings.slots.argumentHelp) var slots: String?
    @Option(help: WorkerSettings.gpus.argumentHelp) var gpus: String?
    @Option(help: WorkerSettings.workDir.argumentHelp) var workDir: String?
    @Option(help: WorkerSettings.heartbeat.argumentHelp) var heartbeat: String?
    @Option(help: WorkerSettings.liveness.argumentHelp) var liveness: String?
    @Option(help: WorkerSettings.killGrace.argumentHelp) var killGrace: String?
    @Option(help: WorkerSettings.id.argumentHelp) var id: String?
    @Option(help: WorkerSettings.labels.argumentHelp) var labels: String?
    @Option(help: WorkerSettings.checkpointStore.argumentHelp) var checkpointStore: String?
    @Option(help: WorkerSettings.checkpointMaxBytes.argumentHelp) var checkpointMaxBytes: String?
    @Option(help: WorkerSettings.key.argumentHelp) var key: String?
    @Option(help: WorkerSettings.brokerKey.argumentHelp) var brokerKey: String?
    @Option(help: WorkerSettings.logLevel.argumentHelp) var logLevel: String?
    @Option(help: WorkerSettings.metricsPort.argumentHelp) var metricsPort: String?
    @Option(help: WorkerSettings.metricsHost.argumentHelp) var metricsHost: String?

    var flags: [String: String?] {
        let s = WorkerSettings.self
        return [
            s.broker.key: broker, s.slots.key: slots, s.gpus.key: gpus, s.workDir.key: workDir, s.heartbeat.key: heartbeat,
            s.liveness.key: liveness, s.killGrace.key: killGrace, s.id.key: id, s.key.key: key, s.brokerKey.key: brokerKey,
            s.logLevel.key: logLevel, s.checkpointStore.key: checkpointStore, s.checkpointMaxBytes.key: checkpointMaxBytes,
            s.labels.key: labels, s.metricsPort.key: metricsPort, s.metricsHost.key: metricsHost,
        ]
    }

    /// The GPU selection is parsed by the worker's own parser (discovery waits for `run`).
    static func check(_ settings: ConfigResolution) throws(ConfigError) {
        do {
            _ = try GPUDevices.parse(settings[WorkerSettings.gpus])
        } catch {
            throw settings.error(in: WorkerSettings.gpus, error.description)
        }
        let store = settings[WorkerSettings.checkpointStore]
        guard store == "ship" || (store.hasPrefix("shared:") && store.count > "shared:".count) else {
            throw settings.error(in: WorkerSettings.checkpointStore, "expected ship or shared:DIR, found \"\(store)\"")
        }
    }

    /// The shared checkpoint directory of `shared:DIR`, nil for `ship`.
    static func sharedCheckpoints(_ store: String) -> String? {
        store.hasPrefix("shared:") ? String(store.dropFirst("shared:".count)) : nil
    }
}

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a worker: takes jobs from the broker and runs each as a child process.")

    @OptionGroup var options: WorkerOptions

    func run() throws {
        let settings = try options.settings()
        let s = WorkerSettings.self
        LoggingOptions.bootstrap(level: settings[s.logLevel])
        let curve = try Security.curveOrExit("error") { try Security.curve(key: settings[s.key], brokerKey: settings[s.brokerKey]) }
        let stop = StopLatch()
        stop.stopOnSignals()
        let host = ProcessInfo.processInfo.hostName
        let pid = ProcessInfo.processInfo.processIdentifier
        let workerID = settings[s.id] ?? "\(host)-\(pid)"
        // `check` has parsed the selection already: only `auto` does anything here (discovery).
        let gpus = try GPUDevices.resolve(settings[s.gpus])
        if let note = gpus.note {
            Logger(label: "hyperloom.worker").info("\(note)", metadata: ["worker.id": "\(workerID)"])
        }
        var config = WorkerAgentConfig(
            brokerEndpoint: settings[s.broker],
            workDir: settings[s.workDir] ?? "hyperloom-data/worker-\(workerID)",
            killGrace: settings[s.killGrace],
            worker: WorkerConfig(workerID: workerID, slots: settings[s.slots], gpus: gpus.devices.count,
                                 heartbeat: settings[s.heartbeat], liveness: settings[s.liveness],
                                 host: host, pid: pid, version: Hyperloom.version),
            gpuDevices: gpus.devices, curve: curve)
        config.worker.labels = (settings[s.labels] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        config.checkpoints = CheckpointSettings(sharedDirectory: WorkerOptions.sharedCheckpoints(settings[s.checkpointStore]),
                                                maxBytes: Int64(settings[s.checkpointMaxBytes]))
        let metrics = try MetricsOption.start(command: "worker", host: settings[s.metricsHost], port: settings[s.metricsPort])
        defer { metrics?.endpoint.stopBlocking() }
        config.metrics = metrics?.export
        let agent = try WorkerAgent(config: config)
        try agent.run(until: stop)
        if agent.wasRevoked { throw ExitCode.failure }
    }
}
