import CZeroMQ
import Testing
import ZeroMQ

@Suite("Message metadata", .timeLimit(.minutes(1)))
struct MetadataTests {
    @Test func receiveMessageWithoutSecurityHasTheFramesAndNoUserID() throws {
        try withLoopback { zmq in
            let (router, endpoint) = try zmq.bound(.router)
            let dealer = try zmq.connected(.dealer, to: endpoint)
            try dealer.send([[], Array("plain".utf8)])
            let received = try #require(try receiveMessage(router, within: prompt))
            #expect(received.frames.count == 3)
            #expect(Array(received.frames.dropFirst()) == [[], Array("plain".utf8)])
            #expect(received.userID == nil)
        }
    }

    @Test func receiveMessageWithoutWaitingReturnsNilOnAnEmptySocket() throws {
        try withLoopback { zmq in
            let (router, _) = try zmq.bound(.router)
            #expect(try router.receiveMessage(dontWait: true) == nil)
        }
    }

    @Test(.enabled(if: ZMQ.has("curve")))
    func routerSeesTheUserIDTheZAPHandlerReturned() throws {
        let server = try ZMQCurveKeyPair.generate()
        let client = try ZMQCurveKeyPair.generate()
        try withLoopback { zmq in
            // The ZAP handler is bound before the CURVE server, as libzmq requires.
            let zap = try zmq.socket(.rep)
            try zap.bind("inproc://zeromq.zap.01")
            let (router, endpoint) = try zmq.bound(.router) {
                try $0.setZAPDomain("test.domain")
                try $0.setCurveServer(secretKey: server.secretKey)
            }
            let dealer = try zmq.connected(.dealer, to: endpoint) {
                try $0.setCurveClient(serverKey: server.publicKey, publicKey: client.publicKey, secretKey: client.secretKey)
            }
            try dealer.send([Array("sealed".utf8)])

            var requests: [[[UInt8]]] = []
            let answerZAP = {
                guard let request = try zap.receive(dontWait: true) else { return }
                requests.append(request)
                try zap.send([Array("1.0".utf8), request[1], Array("200".utf8), Array("OK".utf8), Array("alice".utf8), []])
            }
            let received = try #require(try receiveMessage(router, within: prompt, serveZAP: answerZAP, zapSocket: zap))

            #expect(received.userID == "alice")
            #expect(received.frames.last == Array("sealed".utf8))
            let request = try #require(requests.first)
            #expect(request.count == 7)
            #expect(request[0] == Array("1.0".utf8))
            #expect(request[2] == Array("test.domain".utf8))
            #expect(request[5] == Array("CURVE".utf8))
            #expect(request[6] == ZMQCurveKeyPair.z85Decode(client.publicKey))
        }
    }
}

/// The next message on `socket` with its metadata, or nil when none arrives within `timeout`.
/// When `zapSocket` is given, it is polled too and `serveZAP` runs whenever it is readable.
func receiveMessage(
    _ socket: ZMQSocket, within timeout: Duration,
    serveZAP: () throws -> Void = {}, zapSocket: ZMQSocket? = nil
) throws -> ZMQReceived? {
    var poller = Poller()
    poller.add(socket)
    if let zapSocket { poller.add(zapSocket) }
    let deadline = ContinuousClock.now + timeout
    while true {
        try serveZAP()
        if let message = try socket.receiveMessage(dontWait: true) { return message }
        let now = ContinuousClock.now
        guard now < deadline else { return nil }
        _ = try poller.poll(timeout: now.duration(to: deadline))
    }
}
