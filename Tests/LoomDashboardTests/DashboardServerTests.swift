import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LoomDashboard
import LoomWire
import Testing

/// The real server on a loopback port: routes, the token, the WebSocket's handshake.
@Suite struct DashboardServerTests {
    func get(_ url: String, bearer: String? = nil) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 10
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test(.timeLimit(.minutes(1))) func aServerWithATokenAnswersOnlyRequestsThatCarryIt() async throws {
        let model = DashboardModel()
        model.update { $0.apply(FeedEvent(seq: 1, event: .workerJoined(worker: "w1", host: "h", pid: 1, slots: 2, gpus: 0,
                                                                          heartbeatMs: 1_000, rejoined: false, holds: 0))) }
        let running = try await DashboardServer(host: "127.0.0.1", port: 0, token: "s3cret", model: model).start()
        let base = "http://127.0.0.1:\(running.port)"
        let refused = try await get(base + "/api/fabric")
        let wrong = try await get(base + "/api/fabric", bearer: "nope")
        let byQuery = try await get(base + "/api/fabric?token=s3cret")
        let byHeader = try await get(base + "/", bearer: "s3cret")
        let socket = try await get(base + "/ws")
        let unknown = try await get(base + "/api/trial?study=s&trial=x&token=s3cret")
        await running.stop()
        #expect(refused.status == 401 && refused.body.contains("needs its token"))
        #expect(wrong.status == 401)
        #expect(byQuery.status == 200 && byQuery.body.contains(#""id":"w1""#), "\(byQuery.body)")
        #expect(byHeader.status == 200 && byHeader.body.contains("<title>Hyperloom</title>"))
        #expect(socket.status == 401, "the WebSocket needs the token too")
        #expect(unknown.status == 400 && unknown.body.contains("?trial= must be a non-negative integer"), "\(unknown.body)")
    }

    @Test(.timeLimit(.minutes(1))) func aTakenPortIsAnErrorNotAHang() async throws {
        let model = DashboardModel()
        let first = try await DashboardServer(host: "127.0.0.1", port: 0, token: nil, model: model).start()
        await #expect(throws: (any Error).self) {
            let second = try await DashboardServer(host: "127.0.0.1", port: first.port, token: nil, model: model).start()
            await second.stop()
        }
        await first.stop()
    }
}
