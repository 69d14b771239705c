import Foundation
import LoomBench
import LoomClient
import LoomWire

/// A broker (and workers) started as child processes of a benchmark, on free loopback ports,
/// with their logs in a scratch directory that is removed afterwards.
final class BenchServices {
    let directory: URL
    let endpoint: String
    let feed: String
    private(set) var broker: ChildProcess?
    private(set) var workers: [String: ChildProcess] = [:]
    let executable = ChildProcess.currentExecutable

    init(label: String, brokerArguments: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-bench-\(getpid())-\(label)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        endpoint = "tcp://127.0.0.1:\(try ChildProcess.freeLoopbackPort())"
        feed = "tcp://127.0.0.1:\(try ChildProcess.freeLoopbackPort())"
        let broker = try ChildProcess("broker", executable: executable,
                                      arguments: ["broker", "--endpoint", endpoint, "--feed", feed, "--log-level", "warning"]
                                          + brokerArguments,
                                      log: directory.appendingPathComponent("broker.log"))
        self.broker = broker
        guard broker.waitForOutput(containing: "broker listening", timeout: .seconds(20)) else {
            throw Failure("the broker did not start: \(broker.output.suffix(2000))")
        }
    }

    /// Starts (or restarts) the worker `id` with `slots` slots.
    @discardableResult
    func startWorker(_ id: String, slots: Int, heartbeat: String) throws -> ChildProcess {
        let worker = try ChildProcess(id, executable: executable,
                                      arguments: ["worker", "--broker", endpoint, "--id", id, "--slots", "\(slots)", "--gpus", "none",
                                                  "--heartbeat", heartbeat, "--kill-grace", "1s", "--log-level", "warning",
                                                  "--work-dir", directory.appendingPathComponent(id).path],
                                      log: directory.appendingPathComponent("\(id)-\(UUID().uuidString.prefix(4)).log"))
        workers[id] = worker
        return worker
    }

    func stop() {
        for worker in workers.values { worker.stop() }
        workers.removeAll()
        broker?.stop()
        broker = nil
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}

/// A feed event decoded (`BrokerEvent`), with the topic.
struct BenchEvent {
    let topic: String
    let typed: TypedFeedEvent

    init?(_ event: FeedEvent) {
        guard let typed = try? event.typed() else { return nil }
        topic = event.topic
        self.typed = typed
    }

    var name: String { typed.event.name }
    var time: Double { typed.time }
    var job: String? { typed.event.job }
    var worker: String? { typed.event.worker }
    var attempt: Int { Int(typed.event.attempt ?? 0) }
}
