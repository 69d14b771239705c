import Foundation
import LoomClient
import LoomWire
import Testing

/// A `hyperloom` child process whose output goes to a log file the test can read.
final class Spawned: @unchecked Sendable {
    let process = Process()
    let log: URL
    let name: String

    /// Runs `hyperloom` (or `executable` with `prefix` before the arguments) from the repository root.
    init(_ name: String, _ arguments: [String], environment: [String: String] = [:],
         executable: URL = Harness.binary, prefix: [String] = []) throws {
        self.name = name
        log = Harness.scratch.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = executable
        process.arguments = prefix + arguments
        process.currentDirectoryURL = Harness.repository
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits until the output has a line containing `text`; returns that line.
    func waitForLine(containing text: String, timeout: Duration = .seconds(20)) -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = output.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    func signal(_ sig: Int32) { if process.isRunning { kill(process.processIdentifier, sig) } }

    /// Waits for the process to exit; returns its status, or nil if it is still running.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(15)) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// SIGTERM, then SIGKILL if it does not exit in time.
    func stop() {
        signal(SIGTERM)
        if waitForExit(timeout: .seconds(10)) == nil {
            signal(SIGKILL)
            waitForExit()
        }
    }
}

enum Harness {
    /// The `hyperloom` executable built next to the test bundle.
    static let binary: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("hyperloom")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return exe.deletingLastPathComponent().appendingPathComponent("hyperloom")
    }()

    /// The repository root (three levels above this file), where the tests' relative paths start.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Runs a command to completion from the repository root; returns its status and output.
    /// A command still running after `timeout` is killed (SIGTERM, then SIGKILL) and reported
    /// as status -1 with its output so far: a hung child fails its test instead of the suite.
    static func run(_ command: [String], environment: [String: String] = [:],
                    timeout: Duration = .seconds(240)) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = repository
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = scratch.appendingPathComponent("run-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            kill(process.processIdentifier, SIGTERM)
            let grace = ContinuousClock.now + .seconds(10)
            while process.isRunning && ContinuousClock.now < grace { Thread.sleep(forTimeInterval: 0.01) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        if timedOut { return (-1, output + "\n[harness: killed after \(timeout): \(command.joined(separator: " "))]") }
        return (process.terminationStatus, output)
    }

    static let scratch: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// Starts a broker on loopback; returns it with its ROUTER and feed endpoints.
    static func broker(port: Int? = nil, feedPort: Int? = nil, extra: [String] = []) throws -> (Spawned, String, String) {
        let endpoint = "tcp://127.0.0.1:\(port.map(String.init) ?? "*")"
        let feed = "tcp://127.0.0.1:\(feedPort.map(String.init) ?? "*")"
        let broker = try Spawned("broker", ["broker", "--endpoint", endpoint, "--feed", feed] + extra)
        guard let line = broker.waitForLine(containing: "broker listening on") else {
            broker.stop()
            throw HarnessError.noStart("broker", broker.output)
        }
        // "broker listening on tcp://127.0.0.1:PORT, feed on tcp://127.0.0.1:PORT2"
        let words = line.split(separator: " ")
        guard let i = words.firstIndex(of: "on"), i + 1 < words.count, let last = words.last else {
            throw HarnessError.noStart("broker", line)
        }
        return (broker, String(words[i + 1].dropLast()), String(last))
    }

    static func worker(_ id: String, broker: String, slots: Int = 1, extra: [String] = []) throws -> Spawned {
        try Spawned("worker-\(id)", ["worker", "--broker", broker, "--slots", "\(slots)", "--id", id,
                                     "--work-dir", scratch.appendingPathComponent("work-\(id)").path] + extra)
    }

    static func port(of endpoint: String) -> Int { Int(endpoint.split(separator: ":").last ?? "") ?? 0 }

    /// A job running a shell snippet.
    static func shellJob(_ id: String, _ script: String, maxAttempts: UInt32 = 0) -> JobSubmission {
        JobSubmission(id: id, requirements: Requirements(maxAttempts: maxAttempts),
                      payload: JobSpec(command: ["/bin/sh", "-c", script]).payload)
    }

    /// Polls the client until `done` says so or the time is up; acknowledges every update.
    static func drive(_ client: BrokerClient, timeout: Duration, until done: () -> Bool,
                      onEvent: (ClientEvent) -> Void) throws {
        let deadline = ContinuousClock.now + timeout
        while !done() && ContinuousClock.now < deadline {
            for event in try client.poll(timeout: .milliseconds(100)) {
                onEvent(event)
                if case .update(let update) = event { try client.acknowledge(update) }
            }
        }
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case noStart(String, String)
    var description: String {
        switch self {
        case .noStart(let name, let output): "\(name) did not start; its output:\n\(output)"
        }
    }
}

/// The results a test client saw, per job.
struct Tally {
    var finals: [String: [Update]] = [:]
    var failures: [String: [Update]] = [:]
    var started: [String: [AttemptRef]] = [:]

    mutating func record(_ event: ClientEvent) {
        switch event {
        case .update(let u) where u.kind == .final: finals[u.attempt.job, default: []].append(u)
        case .update(let u) where u.kind == .failed: failures[u.attempt.job, default: []].append(u)
        case .started(let ref, _, _): started[ref.job, default: []].append(ref)
        default: break
        }
    }

    var terminalCount: Int { finals.count + failures.count }
}
