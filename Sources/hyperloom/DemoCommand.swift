import ArgumentParser
import Foundation
import LoomBroker
import LoomClient
import LoomRuntime
import LoomWire
import LoomWorker
import Logging

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run broker, workers and a client in one process on a batch of example trials.",
        discussion: """
            Starts an embedded broker on loopback, WORKERS local workers with one slot each, and \
            submits JOBS runs of the example trial (Configs/examples/train.py) with random \
            learning rates and regularisation. Prints progress and a table of the results.
            """)

    @Option(help: "Local workers (one slot each).")
    var workers = 4

    @Option(help: "Jobs to run.")
    var jobs = 40

    @Option(help: "The trial script (Python 3, standard library only).")
    var script = "Configs/examples/train.py"

    @Option(help: "Seed of the random configurations.")
    var seed: UInt64 = 1

    @Option(help: "Directory for worker logs and checkpoints.")
    var dataDir = "hyperloom-data/demo"

    @Option(help: "Log level of the embedded services.")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard FileManager.default.isReadableFile(atPath: script) else {
            throw ValidationError("--script \(script): no such readable file (run from the repository root)")
        }
    }

    func run() throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let interrupted = LoomRuntimeStop.latch()
        let scriptPath = URL(fileURLWithPath: script).standardizedFileURL.path
        let dataPath = URL(fileURLWithPath: dataDir).standardizedFileURL.path

        let broker = try BrokerService(config: BrokerServiceConfig(
            endpoint: "tcp://127.0.0.1:*", feedEndpoint: "tcp://127.0.0.1:*", recoveryWindow: .zero))
        let bound = try broker.bind()
        let services = EmbeddedServices()
        services.start("broker") { stop in try broker.run(until: stop) }
        for i in 0..<workers {
            let id = "demo-worker-\(i + 1)"
            let agent = try WorkerAgent(config: WorkerAgentConfig(
                brokerEndpoint: bound.endpoint, workDir: "\(dataPath)/\(id)",
                worker: WorkerConfig(workerID: id, slots: 1, gpus: 0, heartbeat: .seconds(1), liveness: 3,
                                     host: ProcessInfo.processInfo.hostName,
                                     pid: ProcessInfo.processInfo.processIdentifier, version: Hyperloom.version)))
            services.start(id) { stop in try agent.run(until: stop) }
        }
        defer { services.stopAll(workersFirst: true) }

        let client = try BrokerClient(endpoint: bound.endpoint, name: "hyperloom demo")
        defer { client.close() }
        try client.connect()
        var rng = SplitMix64(seed: seed)
        var configs: [String: [String: JSONValue]] = [:]
        let submissions = (1...jobs).map { n -> JobSubmission in
            let config: [String: JSONValue] = [
                "lr": .number(exp(log(0.001) + rng.unit() * (log(1.0) - log(0.001)))),
                "l2": .number(exp(log(1e-5) + rng.unit() * (log(0.1) - log(1e-5)))),
                "epochs": .number(Double(5 + Int(rng.unit() * 6))),
                "seed": .number(Double(n)),
            ]
            let id = "demo/\(n)"
            configs[id] = config
            let spec = JobSpec(command: ["python3", scriptPath], config: config, timeoutS: 120)
            return JobSubmission(id: id, requirements: Requirements(maxAttempts: 3), payload: spec.payload)
        }
        Console.line("hyperloom demo: \(jobs) jobs on \(workers) workers (broker \(bound.endpoint), feed \(bound.feed))")
        let started = ContinuousClock.now
        try client.submitAndWait(submissions)
        var results: [String: DemoResult] = [:]
        var reports = 0
        var lastLine = ContinuousClock.now
        while results.count < jobs && !interrupted.isStopRequested {
            for event in try client.poll(timeout: .milliseconds(250)) {
                guard case .update(let update) = event else { continue }
                switch update.kind {
                case .report, .checkpoint: if update.kind == .report { reports += 1 }
                case .final, .failed:
                    results[update.attempt.job] = DemoResult(update: update, config: configs[update.attempt.job] ?? [:])
                }
                try client.acknowledge(update)
            }
            if ContinuousClock.now - lastLine >= .seconds(1) || results.count == jobs {
                lastLine = .now
                let elapsed = started.duration(to: .now)
                Console.line("  \(results.count)/\(jobs) done, \(reports) reports, \(Self.seconds(elapsed))")
            }
        }
        let elapsed = started.duration(to: .now)
        Console.line(DemoResult.table(results.values.sorted()))
        let failed = results.values.filter { !$0.completed }.count
        Console.line("\(results.count) of \(jobs) jobs finished (\(failed) failed) in \(Self.seconds(elapsed)); logs under \(dataPath)")
        if interrupted.isStopRequested { throw ExitCode(130) }
    }

    static func seconds(_ d: Duration) -> String {
        String(format: "%.1fs", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}

/// The result of one demo job, for the final table.
struct DemoResult: Comparable {
    var job: String
    var attempt: UInt32
    var completed: Bool
    var loss: Double?
    var accuracy: Double?
    var config: [String: JSONValue]
    var error: String?

    init(update: Update, config: [String: JSONValue]) {
        job = update.attempt.job
        attempt = update.attempt.attempt
        completed = update.kind == .final
        self.config = config
        let body = (try? JSONDecoder().decode(JSONValue.self, from: Data(update.payload)))?.object ?? [:]
        let metrics = body["metrics"]?.object ?? [:]
        loss = metrics["loss"]?.double
        accuracy = metrics["accuracy"]?.double
        if !completed { error = body["message"]?.argument ?? body["error"]?.argument }
    }

    static func < (a: DemoResult, b: DemoResult) -> Bool {
        (a.loss ?? .infinity, a.job) < (b.loss ?? .infinity, b.job)
    }

    static func table(_ rows: [DemoResult]) -> String {
        var lines = ["  JOB          LR        L2        EPOCHS  LOSS     ACCURACY  ATTEMPT"]
        for r in rows {
            let lr = r.config["lr"]?.double.map { String(format: "%.5f", $0) } ?? "-"
            let l2 = r.config["l2"]?.double.map { String(format: "%.5f", $0) } ?? "-"
            let epochs = r.config["epochs"]?.argument ?? "-"
            let loss = r.loss.map { String(format: "%.4f", $0) } ?? (r.error.map { "failed: \($0)" } ?? "-")
            let acc = r.accuracy.map { String(format: "%.3f", $0) } ?? "-"
            lines.append("  " + [r.job.padding(toLength: 12, withPad: " ", startingAt: 0),
                                 lr.padding(toLength: 9, withPad: " ", startingAt: 0),
                                 l2.padding(toLength: 9, withPad: " ", startingAt: 0),
                                 epochs.padding(toLength: 7, withPad: " ", startingAt: 0),
                                 loss.padding(toLength: max(8, loss.count), withPad: " ", startingAt: 0),
                                 acc.padding(toLength: 9, withPad: " ", startingAt: 0),
                                 "\(r.attempt)"].joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}

/// A small seeded generator (SplitMix64) so a demo run is repeatable.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
