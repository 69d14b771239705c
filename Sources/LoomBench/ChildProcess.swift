import Foundation

/// A `hyperloom` service started by a benchmark as its own process (broker, worker), with its
/// output in a log file the benchmark can wait on.
///
/// **Ownership.** `stop()` (or `deinit`) ends the process: SIGTERM, then SIGKILL after 5 s.
public final class ChildProcess {
    public let name: String
    public let log: URL
    private let process = Process()

    /// Starts `executable` with `arguments`; stdout and stderr go to `log`.
    public init(_ name: String, executable: String, arguments: [String], log: URL) throws {
        self.name = name
        self.log = log
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { stop() }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    /// The exit status (or the signal that ended it); nil while it runs.
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// The log so far.
    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits until the log holds `text`; false after `timeout` or when the process exited.
    public func waitForOutput(containing text: String, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    /// Sends `signal` (SIGKILL for the failure benchmark).
    public func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to exit after a signal; false if it is still running after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        return !process.isRunning
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s. Idempotent.
    public func stop() {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if !waitForExit(timeout: .seconds(5)) {
            signal(SIGKILL)
            waitForExit(timeout: .seconds(5))
        }
    }

    /// The path of the running executable (`/proc/self/exe`), to start more of it.
    public static var currentExecutable: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and released), for a
    /// child that must be told its endpoint before it starts.
    public static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket(): errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { ptr in
                Glibc.bind(fd, ptr, length) == 0 && getsockname(fd, ptr, &length) == 0
            }
        }
        guard bound else { throw BenchError("bind(127.0.0.1:0): errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A benchmark that could not run, with what went wrong.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Raises this process's soft limit on open descriptors to its hard limit (children inherit
/// it): a thousand simulated workers need a thousand connections on each side. Returns the limit.
@discardableResult
public func raiseDescriptorLimit() -> UInt64 {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return UInt64(limit.rlim_cur)
}
