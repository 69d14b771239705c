import ArgumentParser
import Foundation
import LoomBench
import Logging
import LoomClient
import LoomModel
import LoomWire

/// SIGKILLs a worker that runs a job, N times: how long the broker takes to declare it lost,
/// and how long from then until the job's next attempt is assigned and running elsewhere.
struct FailoverBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "SIGKILL a busy worker N times: detection latency and time until the attempt runs again elsewhere.")

    @Option(help: "Kills.") var kills = 20
    @Option(help: "Worker processes.") var workers = 3
    @Option(help: "Heartbeat interval of the workers (liveness 3).") var heartbeat = "250ms"
    @OptionGroup var logging: BenchLogging

    func validate() throws {
        guard kills >= 1, workers >= 2 else { throw ValidationError("--kills ≥ 1 and --workers ≥ 2 (the job needs somewhere to go)") }
        guard SpecParser.parseDuration(heartbeat) != nil else { throw ValidationError("--heartbeat: expected a duration such as 250ms, found \(heartbeat)") }
    }

    func run() throws {
        logging.options.bootstrap(default: .warning)
        let interval = SpecParser.parseDuration(heartbeat) ?? 0.25
        let services = try BenchServices(label: "failover")
        defer { services.stop() }
        for i in 1...workers { try services.startWorker("w\(i)", slots: 1, heartbeat: heartbeat) }
        let feed = try FeedSubscriber(endpoint: services.feed)
        defer { feed.close() }
        let client = try BrokerClient(endpoint: services.endpoint, name: "bench failover")
        defer { client.close() }
        try client.connect()
        // Let the subscription reach the broker before anything happens.
        Thread.sleep(forTimeInterval: 0.3)
        // One job that never ends by itself; every kill moves it.
        let payload = Array(#"{"command": ["sleep", "3600"], "config": {}}"#.utf8)
        try client.submitAndWait([JobSubmission(id: "bench/1", payload: payload)])

        var running: (worker: String, attempt: Int)?
        var detections: [Double] = []
        var assignments: [Double] = []
        var starts: [Double] = []
        func next(_ deadline: ContinuousClock.Instant, _ what: String, where match: (BenchEvent) -> Bool) throws -> BenchEvent {
            while ContinuousClock.now < deadline {
                _ = try? client.poll(timeout: .zero)
                guard let raw = try feed.next(timeout: .milliseconds(50)), let event = BenchEvent(raw) else { continue }
                if event.name == "started", event.job == "bench/1", let worker = event.worker {
                    running = (worker, event.attempt)
                }
                if match(event) { return event }
            }
            throw Failure("timed out waiting for \(what)")
        }
        _ = try next(.now + .seconds(20), "the job to start") { $0.name == "started" }
        for round in 1...kills {
            guard let (victim, attempt) = running, let process = services.workers[victim] else { throw Failure("no running attempt") }
            let killed = Date().timeIntervalSince1970
            process.signal(SIGKILL)
            let deadline = ContinuousClock.now + .seconds(30)
            let lost = try next(deadline, "worker \(victim) to be declared lost") { $0.name == "lost" && $0.worker == victim }
            let assigned = try next(deadline, "attempt \(attempt + 1) to be assigned") {
                $0.name == "assigned" && $0.job == "bench/1" && $0.attempt > attempt
            }
            let started = try next(deadline, "attempt \(attempt + 1) to start") {
                $0.name == "started" && $0.job == "bench/1" && $0.attempt > attempt
            }
            detections.append(lost.time - killed)
            assignments.append(assigned.time - lost.time)
            starts.append(started.time - lost.time)
            Console.line(String(format: "kill %d: %@ lost after %.0f ms; attempt %d assigned %.1f ms and running %.1f ms later on %@",
                                round, victim, (lost.time - killed) * 1000, started.attempt, (assigned.time - lost.time) * 1000,
                                (started.time - lost.time) * 1000, started.worker ?? "?"))
            process.waitForExit(timeout: .seconds(5))
            try services.startWorker(victim, slots: 1, heartbeat: heartbeat)
            _ = try next(.now + .seconds(20), "\(victim) to rejoin") { $0.name == "joined" && $0.worker == victim }
        }
        _ = try? client.cancel(["bench/1"])
        guard let detection = Summary(detections), let assignment = Summary(assignments), let start = Summary(starts) else { return }
        let bound = interval * 3 + interval
        Console.line(String(format: "failover: %d kills, heartbeat %.0f ms × liveness 3: detection p50 %.0f ms, p99 %.0f ms "
                            + "(bound %.0f ms); lost→assigned p50 %.1f ms, p99 %.1f ms; lost→running p50 %.1f ms, p99 %.1f ms",
                            kills, interval * 1000, detection.p50 * 1000, detection.p99 * 1000, bound * 1000,
                            assignment.p50 * 1000, assignment.p99 * 1000, start.p50 * 1000, start.p99 * 1000))
        var figure = BenchFigure(bench: "failover")
        figure.add("detection_ms", detection, milliseconds: true)
        figure.add("detection_bound_ms", bound * 1000)
        figure.add("reassign_ms", assignment, milliseconds: true)
        figure.add("restart_ms", start, milliseconds: true)
        figure.add("kills", kills)
        figure.add("heartbeat_ms", interval * 1000)
        Console.line(figure.line())
    }
}
