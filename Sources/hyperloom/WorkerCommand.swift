import ArgumentParser
import Foundation
import LoomRuntime
import LoomWorker
import Logging

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a worker: takes jobs from the broker and runs each as a child process.")

    @OptionGroup var brokerOption: BrokerOption

    @Option(help: "Job slots offered (default: the number of cores).")
    var slots: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "GPUs offered.")
    var gpus: Int = 0

    @Option(help: "Directory for attempt logs and checkpoints (default: ./hyperloom-data/worker-<id>).")
    var workDir: String?

    @Option(help: "Heartbeat interval proposed to the broker.")
    var heartbeat = DurationArgument(argument: "1s")!

    @Option(help: "Missed heartbeats after which the broker is considered dead.")
    var liveness = 3

    @Option(help: "Time between SIGTERM and SIGKILL when a trial is stopped.")
    var killGrace = DurationArgument(argument: "5s")!

    @Option(help: "Stable worker id (default: <host>-<pid>).")
    var id: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard slots >= 1 else { throw ValidationError("--slots must be at least 1") }
        guard gpus >= 0 else { throw ValidationError("--gpus must not be negative") }
        guard liveness >= 1 else { throw ValidationError("--liveness must be at least 1") }
        guard heartbeat.duration > .zero else { throw ValidationError("--heartbeat must be positive") }
    }

    func run() throws {
        logging.bootstrap()
        let stop = StopLatch()
        stop.stopOnSignals()
        let host = ProcessInfo.processInfo.hostName
        let pid = ProcessInfo.processInfo.processIdentifier
        let workerID = id ?? "\(host)-\(pid)"
        let config = WorkerAgentConfig(
            brokerEndpoint: brokerOption.broker,
            workDir: workDir ?? "hyperloom-data/worker-\(workerID)",
            killGrace: killGrace.duration,
            worker: WorkerConfig(workerID: workerID, slots: slots, gpus: gpus, heartbeat: heartbeat.duration,
                                 liveness: liveness, host: host, pid: pid, version: Hyperloom.version))
        try WorkerAgent(config: config).run(until: stop)
    }
}
