import CZeroMQ
import LoomSecurity
import Testing
import ZeroMQ

/// A context with a `ZAPHandler` and a CURVE-server ROUTER in the broker's router domain, plus
/// the DEALERs a test connects; all torn down by `withFabric`.
///
/// **Threading.** One test, one thread: the test's receive loop answers ZAP requests, as the
/// broker's poll loop does.
final class Fabric {
    let context: ZMQContext
    let server: ZMQCurveKeyPair
    let handler: ZAPHandler
    let router: ZMQSocket
    let endpoint: String
    private var sockets: [ZMQSocket] = []
    /// Every decision the handler made so far.
    private(set) var decisions: [ZAPHandler.Decision] = []

    init(allowlist: Allowlist) throws {
        context = try ZMQContext()
        server = try ZMQCurveKeyPair.generate()
        handler = try ZAPHandler(context: context, allowlist: allowlist)
        router = try context.socket(.router)
        try router.setLinger(.zero)
        try router.setZAPDomain(ZAPAuthenticator.routerDomain)
        try router.setCurveServer(secretKey: server.secretKey)
        try router.bind("tcp://127.0.0.1:*")
        endpoint = try router.lastEndpoint()
    }

    /// A DEALER connected to the ROUTER as a CURVE client with `key`.
    func dealer(key: ZMQCurveKeyPair) throws -> ZMQSocket {
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(.zero)
        sockets.append(dealer)
        try dealer.setCurveClient(serverKey: server.publicKey, publicKey: key.publicKey, secretKey: key.secretKey)
        try dealer.connect(endpoint)
        return dealer
    }

    /// The next message on the ROUTER, answering ZAP requests meanwhile; nil after `timeout`.
    func receive(within timeout: Duration) throws -> ZMQReceived? {
        var poller = Poller()
        poller.add(router)
        poller.add(handler.socket)
        let deadline = ContinuousClock.now + timeout
        while true {
            decisions += handler.handlePending()
            if let error = handler.lastError { throw error }
            if let message = try router.receiveMessage(dontWait: true) { return message }
            let now = ContinuousClock.now
            guard now < deadline else { return nil }
            _ = try poller.poll(timeout: now.duration(to: deadline))
        }
    }

    func tearDown() {
        for socket in sockets { socket.close() }
        router.close()
        handler.close()
        context.terminate()
    }
}

func withFabric<T>(allowlist: Allowlist, _ body: (Fabric) throws -> T) throws -> T {
    let fabric = try Fabric(allowlist: allowlist)
    defer { fabric.tearDown() }
    return try body(fabric)
}

@Suite("ZAP handler over CURVE", .enabled(if: ZMQ.has("curve")), .timeLimit(.minutes(1)))
struct ZAPHandlerTests {
    let worker: ZMQCurveKeyPair
    let subscriber: ZMQCurveKeyPair
    let allowlist: Allowlist

    init() throws {
        worker = try ZMQCurveKeyPair.generate()
        subscriber = try ZMQCurveKeyPair.generate()
        allowlist = Allowlist(peers: [
            .init(role: .worker, name: "gpu-01", publicKey: ZMQCurveKeyPair.z85Decode(worker.publicKey)!),
            .init(role: .subscriber, name: "grafana", publicKey: ZMQCurveKeyPair.z85Decode(subscriber.publicKey)!),
        ])
    }

    @Test func anAllowedWorkersMessageArrivesWithItsUserID() throws {
        try withFabric(allowlist: allowlist) { fabric in
            let dealer = try fabric.dealer(key: worker)
            try dealer.send([Array("HLW1".utf8), [0x01]])
            let message = try #require(try fabric.receive(within: .seconds(5)))
            #expect(message.userID == "worker/gpu-01")
            #expect(Array(message.frames.dropFirst()) == [Array("HLW1".utf8), [0x01]])
            #expect(fabric.decisions.count == 1)
            #expect(fabric.decisions.first?.userID == "worker/gpu-01")
            #expect(fabric.decisions.first?.clientKey == worker.publicKey)
            #expect(fabric.decisions.first?.address == "127.0.0.1")
        }
    }

    @Test func anUnknownKeysMessageNeverArrives() throws {
        let stranger = try ZMQCurveKeyPair.generate()
        try withFabric(allowlist: allowlist) { fabric in
            let dealer = try fabric.dealer(key: stranger)
            try dealer.send([Array("HLW1".utf8), [0x01]], dontWait: true)
            #expect(try fabric.receive(within: .milliseconds(500)) == nil)
            #expect(!fabric.decisions.isEmpty)
            #expect(fabric.decisions.allSatisfy { $0.status == .refused && $0.reason == "unknown key" })
            #expect(fabric.decisions.first?.clientKey == stranger.publicKey)
        }
    }

    @Test func aSubscriberKeyIsRefusedOnTheRouter() throws {
        try withFabric(allowlist: allowlist) { fabric in
            let dealer = try fabric.dealer(key: subscriber)
            try dealer.send([Array("HLC1".utf8), [0x01]], dontWait: true)
            #expect(try fabric.receive(within: .milliseconds(500)) == nil)
            #expect(!fabric.decisions.isEmpty)
            #expect(fabric.decisions.allSatisfy {
                $0.status == .refused && $0.reason == "role subscriber may not connect to hyperloom.router"
                    && $0.role == .subscriber && $0.name == "grafana"
            })
        }
    }

    @Test func aReloadedAllowlistAdmitsANewKey() throws {
        let newcomer = try ZMQCurveKeyPair.generate()
        try withFabric(allowlist: allowlist) { fabric in
            let refused = try fabric.dealer(key: newcomer)
            try refused.send([[0x01]], dontWait: true)
            #expect(try fabric.receive(within: .milliseconds(300)) == nil)
            #expect(fabric.decisions.last?.reason == "unknown key")

            fabric.handler.reload(Allowlist(peers: allowlist.peers + [
                .init(role: .worker, name: "new", publicKey: ZMQCurveKeyPair.z85Decode(newcomer.publicKey)!),
            ]))
            refused.close()
            let admitted = try fabric.dealer(key: newcomer)
            try admitted.send([[0x02]])
            let message = try #require(try fabric.receive(within: .seconds(5)))
            #expect(message.userID == "worker/new")
            #expect(message.frames.last == [0x02])
        }
    }

    @Test func aSecondHandlerInTheSameContextIsRefused() throws {
        try withFabric(allowlist: allowlist) { fabric in
            let error = #expect(throws: ZMQError.self) { try ZAPHandler(context: fabric.context, allowlist: allowlist) }
            #expect(error?.code == EADDRINUSE)
        }
    }
}
