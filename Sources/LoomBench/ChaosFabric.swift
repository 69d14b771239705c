import Foundation

/// The processes of a chaos run: a broker, an optimizer, workers and a feed logger, each a
/// `hyperloom` child on loopback with its own data directory under `directory`, restartable
/// with the same arguments (so a restarted broker keeps its ports and feed journal, a restarted
/// optimizer its store, a restarted worker its id and work directory, a restarted logger its file).
///
/// **Ownership.** `stopAll()` (also on `deinit`) thaws and ends every process it started.
/// **Threading.** One thread.
public final class ChaosFabric {
    public let directory: URL
    public let executable: String
    public let workers: Int
    public let slots: Int
    public let endpoint: String
    public let feed: String
    public let replay: String
    /// The optimizer's SQLite store.
    public var store: String { directory.appendingPathComponent("optimizer/study.db").path }
    /// The logger's JSONL file.
    public var feedLog: String { directory.appendingPathComponent("logger/feed.jsonl").path }

    private var running: [ChaosTarget: ChildProcess] = [:]
    private var incarnations: [ChaosTarget: Int] = [:]
    /// Processes that exited without being killed by the schedule, with their status and log.
    public private(set) var crashes: [String] = []

    public init(directory: URL, executable: String, workers: Int, slots: Int) throws {
        self.directory = directory
        self.executable = executable
        self.workers = workers
        self.slots = slots
        endpoint = "tcp://127.0.0.1:\(try ChildProcess.freeLoopbackPort())"
        feed = "tcp://127.0.0.1:\(try ChildProcess.freeLoopbackPort())"
        replay = "tcp://127.0.0.1:\(try ChildProcess.freeLoopbackPort())"
        for sub in ["broker", "optimizer", "logger", "logs"] + (1...workers).map({ "w\($0)" }) {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
    }

    deinit { stopAll() }

    public var targets: [ChaosTarget] { [.broker, .optimizer, .logger] + (1...workers).map { .worker($0) } }

    /// The command line of `target`.
    func arguments(_ target: ChaosTarget) -> [String] {
        let quiet = ["--log-level", "warning"]
        switch target {
        case .broker:
            return ["broker", "--endpoint", endpoint, "--feed", feed, "--feed-replay", replay,
                    "--feed-journal", directory.appendingPathComponent("broker/feed.journal").path] + quiet
        case .optimizer:
            return ["optimizer", "--broker", endpoint, "--store", store, "--feed", feed] + quiet
        case .logger:
            return ["logger", "--feed", feed, "--replay", replay, "--out", feedLog]
        case .worker(let n):
            return ["worker", "--broker", endpoint, "--id", "w\(n)", "--slots", "\(slots)", "--gpus", "none",
                    "--work-dir", directory.appendingPathComponent("w\(n)").path] + quiet
        }
    }

    /// Starts `target` (again); its output goes to `logs/<target>-<incarnation>.log`.
    public func start(_ target: ChaosTarget) throws {
        let incarnation = (incarnations[target] ?? 0) + 1
        incarnations[target] = incarnation
        running[target] = try ChildProcess(target.description, executable: executable, arguments: arguments(target),
                                           log: directory.appendingPathComponent("logs/\(target)-\(incarnation).log"))
    }

    /// Starts every process, the broker first (and waits until it listens).
    public func startAll() throws {
        try start(.broker)
        guard running[.broker]?.waitForOutput(containing: "broker listening", timeout: .seconds(30)) == true else {
            throw BenchError("the broker did not start: \(running[.broker]?.output.suffix(2000) ?? "")")
        }
        for target in targets where target != .broker { try start(target) }
    }

    public func signal(_ target: ChaosTarget, _ signal: Int32) { running[target]?.signal(signal) }

    /// SIGKILL, and waits until the process is gone.
    public func kill(_ target: ChaosTarget) {
        guard let process = running[target] else { return }
        process.signal(SIGKILL)
        process.waitForExit(timeout: .seconds(10))
        running[target] = nil
    }

    /// Is `target` started (not killed)?
    public func isUp(_ target: ChaosTarget) -> Bool { running[target] != nil }

    /// Notes and restarts any process that exited although the schedule did not kill it.
    public func restartCrashed() throws {
        for (target, process) in running where !process.isRunning {
            crashes.append("\(target) exited by itself (status \(process.exitStatus ?? 0)); its log ends: "
                           + process.output.suffix(600).replacingOccurrences(of: "\n", with: " | "))
            try start(target)
        }
    }

    /// Ends `target` gracefully (SIGCONT first, in case it is frozen; then SIGTERM, SIGKILL after 5 s).
    public func stop(_ target: ChaosTarget) {
        guard let process = running[target] else { return }
        process.signal(SIGCONT)
        process.stop()
        running[target] = nil
    }

    /// Ends everything: workers, optimizer, logger, then the broker.
    public func stopAll() {
        for target in targets.reversed() { stop(target) }
    }
}
