import FlyingFox
import FlyingSocks
import Foundation

/// The dashboard's HTTP server (FlyingFox): `DashboardRoutes` for every GET, and `/ws`, a
/// WebSocket that pushes `{"position":…,"version":…}` whenever the state changed (checked every
/// `pushInterval`), so the page fetches again what it shows without reloading.
///
/// **Threading.** FlyingFox serves on Swift concurrency; handlers only read `model` under its lock.
public struct DashboardServer: Sendable {
    /// How often each WebSocket checks the state's version: the update latency's floor.
    public static let pushInterval: Duration = .milliseconds(200)

    public let host: String
    public let port: UInt16
    public let token: String?
    public let model: DashboardModel

    public init(host: String, port: UInt16, token: String?, model: DashboardModel) {
        self.host = host
        self.port = port
        self.token = token
        self.model = model
    }

    /// The server bound to `host:port` (port 0: any free port), routes installed; serve it with
    /// `run()` and end it with `stop()`.
    public func makeServer() async throws -> HTTPServer {
        let address: sockaddr_in = try .inet(ip4: host, port: port)
        let server = HTTPServer(address: address, timeout: 30, logger: DisabledLogger.disabled)
        await install(on: server)
        return server
    }

    /// Serves in a task of its own; returns once listening, with the bound port and how to stop.
    /// Throws when it cannot bind (the port is taken, the host is not this machine's).
    public func start() async throws -> RunningDashboard {
        let http = try await makeServer()
        let serving = Task { try await http.run() }
        let listening = Task {
            try await http.waitUntilListening(timeout: 10)
        }
        // Whichever comes first: listening, or `run` failing (it throws at once when bind fails).
        let failed = Task {
            do { try await serving.value } catch { listening.cancel(); throw error }
        }
        do {
            try await listening.value
        } catch {
            if case .failure(let bindError) = await failed.result { throw bindError }
            throw error
        }
        var bound = port
        let address = await http.listeningAddress
        if case .ip4(_, let p)? = address { bound = p }
        return RunningDashboard(port: bound, stop: {
            await http.stop(timeout: 1)
            serving.cancel()
        })
    }

    /// Adds the routes to `server`.
    public func install(on server: HTTPServer) async {
        let token = token
        let model = model
        let socket = WebSocketHTTPHandler(handler: MessageFrameWSHandler(handler: PositionPusher(model: model)))
        await server.appendRoute("GET /ws") { request in
            guard DashboardRoutes.authorized(token: token, header: request.headers[HTTPHeader("Authorization")], queryToken: request.query["token"]) else {
                return HTTPResponse(statusCode: .unauthorized)
            }
            return try await socket.handleRequest(request)
        }
        await server.appendRoute("GET /*") { request in
            guard DashboardRoutes.authorized(token: token, header: request.headers[HTTPHeader("Authorization")], queryToken: request.query["token"]) else {
                let body = Data(#"{"error":"this dashboard needs its token: Authorization: Bearer <token>, or ?token=<token>"}"#.utf8)
                return HTTPResponse(statusCode: .unauthorized, headers: [.contentType: "application/json"], body: body)
            }
            var query: [String: String] = [:]
            for item in request.query { query[item.name] = item.value }
            let answer = DashboardRoutes.respond(path: request.path, query: query, model: model)
            return HTTPResponse(statusCode: HTTPStatusCode(answer.status, phrase: answer.status == 200 ? "OK" : "Error"),
                                headers: [.contentType: answer.contentType, HTTPHeader("Cache-Control"): "no-store"], body: answer.body)
        }
    }
}

/// Pushes the state's `(position, version)` to one WebSocket client when it changes.
struct PositionPusher: WSMessageHandler {
    let model: DashboardModel

    func makeMessages(for client: AsyncStream<WSMessage>) async throws -> AsyncStream<WSMessage> {
        let model = model
        let (stream, continuation) = AsyncStream<WSMessage>.makeStream()
        let pusher = Task {
            var sent: UInt64 = .max
            while !Task.isCancelled {
                let (position, version) = model.clock
                if version != sent {
                    sent = version
                    continuation.yield(.text(#"{"position":\#(position),"version":\#(version)}"#))
                }
                try? await Task.sleep(for: DashboardServer.pushInterval)
            }
            continuation.finish()
        }
        Task {
            for await _ in client {}
            pusher.cancel()
            continuation.finish()
        }
        continuation.onTermination = { _ in pusher.cancel() }
        return stream
    }
}

/// A dashboard server that listens: its port, and how to stop it.
public struct RunningDashboard: Sendable {
    public let port: UInt16
    public let stop: @Sendable () async -> Void
}
