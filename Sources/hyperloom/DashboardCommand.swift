import ArgumentParser
import Foundation
import LoomClient
import LoomDashboard
import LoomOptimizer
import LoomRuntime
import LoomWire

/// `hyperloom dashboard`: a web page of the fabric served by this binary (Docs/dashboard.md).
/// The main thread follows the feed (history, then live) into a `DashboardModel` and asks the
/// optimizer and the broker for their status every `statusInterval`; FlyingFox serves the page.
struct Dashboard: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live web dashboard: studies, trials, learning curves, logs, workers.",
        discussion: """
            Serves http://HOST:PORT/ (loopback by default). Beyond loopback it needs --token (browsers then \
            open http://HOST:PORT/?token=TOKEN) or the CURVE client keys (--key, --broker-key), like every other \
            client of a fabric reachable from elsewhere. Prints "dashboard: <url>" once it listens.
            """)

    @Option(help: "The address to listen on (default: loopback only).")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port).")
    var port: UInt16 = 8090

    @Option(help: ArgumentHelp("A token every request must carry (Authorization: Bearer <token>, or ?token=<token>); required beyond loopback unless CURVE keys are given.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("Read the token from this file; when it does not exist, write a new random token there (mode 0600) first. For containers: the token survives restarts and stays off the command line.", valueName: "file"))
    var tokenFile: String?

    @Option(help: "The metric of studies the optimizer does not describe (a feed without an optimizer to ask).")
    var metric: String?

    @Option(help: "With --metric: min or max.")
    var mode = "min"

    @OptionGroup var feed: FeedOptions

    @OptionGroup var source: StudySourceOptions

    /// The optimizer's study summaries and the broker's status are asked for this often.
    static let statusInterval: Duration = .seconds(2)

    /// Live events are applied to the state in batches this far apart: the update latency grows
    /// by at most this much (the page hears of changes every 200 ms anyway).
    static let applyInterval: Duration = .milliseconds(100)

    /// At most this many events are applied under the lock at once (catching up), so a page's
    /// request waits for one batch at most.
    static let maxBatch = 2_000

    func validate() throws {
        let loopback = host == "localhost" || host == "::1" || host.hasPrefix("127.")
        let env = ProcessInfo.processInfo.environment
        let curve = source.keys.key ?? env["HYPERLOOM_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if token != nil, tokenFile != nil { throw ValidationError("give --token or --token-file, not both") }
        if !loopback, token == nil, tokenFile == nil, curve == nil {
            throw ValidationError("--host \(host) is reachable from other machines: give --token or --token-file (or the CURVE client keys, --key and --broker-key)")
        }
        if let token, token.isEmpty { throw ValidationError("--token must not be empty") }
        guard mode == "min" || mode == "max" else { throw ValidationError("--mode must be min or max, not \(mode)") }
    }

    func run() throws {
        let stop = LoomRuntimeStop.latch()
        let model = DashboardModel(state: DashboardState(defaultMetric: metric, maximize: mode == "max"))
        let subscriber = try feed.subscriber(topics: ["job/", "log/", "worker/"], start: .beginning, keys: source.keys,
                                             command: "hyperloom dashboard", broker: source.broker)
        defer { subscriber.close() }
        let token: String?
        do {
            token = try tokenFile.map(Self.readOrCreateToken) ?? self.token
        } catch {
            Console.error("hyperloom dashboard: \(error)")
            throw ExitCode.failure
        }
        let server = DashboardServer(host: host, port: port, token: token, model: model)
        let started = DispatchSemaphore(value: 0)
        let outcome = LockedBox<Result<RunningDashboard, any Error>?>(nil)
        Task.detached {
            do { outcome.set(.success(try await server.start())) } catch { outcome.set(.failure(error)) }
            started.signal()
        }
        started.wait()
        let running: RunningDashboard
        switch outcome.get() {
        case .success(let r)?: running = r
        case .failure(let error)?:
            Console.error("hyperloom dashboard: cannot serve on \(host):\(port): \(error)")
            throw ExitCode.failure
        case nil: throw ExitCode.failure
        }
        Console.line("dashboard: http://\(host.contains(":") ? "[\(host)]" : host):\(running.port)/" + (token == nil ? "" : "?token=…"))

        // The status documents on a thread of their own: a slow or absent optimizer must not hold
        // the feed back.
        let source = self.source
        let status = Thread {
            let studies = try? source.open()
            defer { studies?.close() }
            while !stop.isStopRequested {
                if let studies {
                    if let doc = try? studies.fetch(OptimizerRequest(op: "studies"), patience: .seconds(1)) { model.update { $0.applyStudies(doc) } }
                    if let doc = studies.brokerStatus() { model.update { $0.applyBrokerStatus(doc) } }
                }
                Thread.sleep(forTimeInterval: Double(Self.statusInterval.components.seconds))
            }
        }
        status.start()
        // Live events are applied once per `applyInterval`, not one by one: a feed of 500
        // events/s otherwise wakes this thread, takes the lock and bumps the version 500 times a
        // second. While catching up (a replay under way, or a full batch) it goes on at once.
        var full = false
        while !stop.isStopRequested {
            var batch: [FeedEvent] = []
            if !full, let first = try subscriber.next(timeout: .milliseconds(100)) {
                batch.append(first)
                // Live: let the rest of this interval's events gather in the socket.
                if !subscriber.isReplaying { Thread.sleep(forTimeInterval: Self.applyInterval / .seconds(1)) }
            }
            while batch.count < Self.maxBatch, let event = try subscriber.next(timeout: .zero) { batch.append(event) }
            full = batch.count == Self.maxBatch
            if !batch.isEmpty { model.update { state in for event in batch { state.apply(event) } } }
        }
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await running.stop()
            done.signal()
        }
        _ = done.wait(timeout: .now() + 3)
    }
}

extension Dashboard {
    /// The token in `path` (surrounding whitespace trimmed); a missing file is created with 32
    /// random hex digits, mode 0600. An empty file is an error.
    static func readOrCreateToken(_ path: String) throws -> String {
        if FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure("--token-file \(path): cannot read it") }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw Failure("--token-file \(path): the file is empty") }
            return token
        }
        var rng = SystemRandomNumberGenerator()
        let token = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Failure("--token-file \(path): cannot create it")
        }
        Console.error("hyperloom dashboard: wrote a new token to \(path)")
        return token
    }
}

/// A value shared between the main thread and a task.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ new: Value) { lock.lock(); value = new; lock.unlock() }
}
