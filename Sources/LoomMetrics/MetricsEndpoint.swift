import Dispatch
import FlyingFox
import FlyingSocks
import Foundation

/// The `/metrics` HTTP endpoint of a service (FlyingFox): answers `GET /metrics` with the
/// exposition text of a `PrometheusExport`, and 404 for anything else.
///
/// **Threading.** The server runs on Swift concurrency's executor, apart from the service's loop
/// thread; `startBlocking` and `stopBlocking` let the synchronous commands wait for it.
/// **Exposure.** Loopback unless the command's `--metrics-host` says otherwise: the metrics name
/// studies and workers, which is information an operator may not want on every interface.
public final class MetricsEndpoint: Sendable {
    /// Why the endpoint could not start.
    public struct Failure: Error, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var reason: String
        public var description: String { "metrics endpoint \(host):\(port): \(reason)" }
    }

    /// How long `start` waits for the socket to listen. Binding takes microseconds; the bound is
    /// for a process whose concurrency pool is busy (a test runner with blocking tests beside).
    static let startTimeout: TimeInterval = 20

    private let server: HTTPServer
    private let task: Task<Void, any Error>
    /// The host the endpoint listens on.
    public let host: String
    /// The port it listens on (the one chosen when 0 was asked for).
    public let port: Int

    /// Starts serving `export` on `host:port` (port 0: any free port); returns once it listens.
    public static func start(host: String, port: Int, export: PrometheusExport) async throws(Failure) -> MetricsEndpoint {
        guard (0...65_535).contains(port) else { throw Failure(host: host, port: port, reason: "port must be 0…65535") }
        let address: any SocketAddress
        do {
            address = host.contains(":") ? try sockaddr_in6.inet6(ip6: host, port: UInt16(port))
                : try sockaddr_in.inet(ip4: host, port: UInt16(port))
        } catch {
            throw Failure(host: host, port: port, reason: "not an IPv4 or IPv6 address (\(error))")
        }
        let server = HTTPServer(address: address, timeout: 15, logger: .disabled, handler: MetricsHandler(export: export))
        let failed = LockedBox<String>()
        let task = Task {
            do {
                try await server.run()
            } catch {
                failed.set("\(error)")
                throw error
            }
        }
        // Listening, or `run` failed (the address is taken, say): whichever comes first.
        let deadline = ContinuousClock.now + .seconds(startTimeout)
        while !(await server.isListening) {
            if let reason = failed.value { throw Failure(host: host, port: port, reason: reason) }
            guard ContinuousClock.now < deadline else {
                task.cancel()
                throw Failure(host: host, port: port, reason: "did not listen within \(Int(startTimeout)) s")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        switch await server.listeningAddress {
        case .ip4(_, let bound)?, .ip6(_, let bound)?:
            return MetricsEndpoint(server: server, task: task, host: host, port: Int(bound))
        default:
            task.cancel()
            throw Failure(host: host, port: port, reason: "no listening address")
        }
    }

    /// `start` for a synchronous caller (the commands' main thread, never a task of Swift
    /// concurrency's pool, which the server needs).
    public static func startBlocking(host: String, port: Int, export: PrometheusExport) throws(Failure) -> MetricsEndpoint {
        let result = Blocking.wait(timeout: startTimeout + 2) { () async -> Result<MetricsEndpoint, Failure> in
            do throws(Failure) {
                return .success(try await start(host: host, port: port, export: export))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let endpoint)?: return endpoint
        case .failure(let failure)?: throw failure
        case nil: throw Failure(host: host, port: port, reason: "did not listen within \(Int(startTimeout)) s")
        }
    }

    private init(server: HTTPServer, task: Task<Void, any Error>, host: String, port: Int) {
        self.server = server
        self.task = task
        self.host = host
        self.port = port
    }

    /// The URL of the endpoint.
    public var url: String { host.contains(":") ? "http://[\(host)]:\(port)/metrics" : "http://\(host):\(port)/metrics" }

    /// Stops listening and closes open connections; returns when the server has stopped.
    public func stop() async {
        await server.stop(timeout: 1)
        task.cancel()
        _ = await task.result
    }

    /// `stop` for a synchronous caller (see `startBlocking`); waits at most 3 s.
    public func stopBlocking() {
        _ = Blocking.wait(timeout: 3) { () async -> Bool in
            await self.stop()
            return true
        }
    }
}

/// Answers `GET /metrics`.
struct MetricsHandler: HTTPHandler {
    let export: PrometheusExport

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard request.path == "/metrics" else { return HTTPResponse(statusCode: .notFound) }
        guard request.method == .GET || request.method == .HEAD else { return HTTPResponse(statusCode: .methodNotAllowed) }
        return HTTPResponse(statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: Data(export.render()))
    }
}

/// Runs async work from a synchronous thread and waits for its value, at most `timeout` seconds
/// (nil when it took longer).
enum Blocking {
    static func wait<T: Sendable>(timeout: TimeInterval, _ work: @escaping @Sendable () async -> T) -> T? {
        let box = LockedBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.set(await work())
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        return box.value
    }

}

/// A value set on one thread and read on another.
final class LockedBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?
    func set(_ value: T) { lock.withLock { stored = value } }
    var value: T? { lock.withLock { stored } }
}
