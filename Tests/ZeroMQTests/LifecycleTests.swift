import CZeroMQ
import Testing
import ZeroMQ

@Suite("Lifecycle", .timeLimit(.minutes(1)))
struct LifecycleTests {
    /// A privileged port no test can bind, so nothing ever accepts there.
    let unreachable = "tcp://127.0.0.1:9"

    @Test(arguments: [
        ("not-an-endpoint", EINVAL),
        ("tcp://127.0.0.1", EINVAL),
        ("bogus://127.0.0.1:1", EPROTONOSUPPORT),
    ])
    func bindToAMalformedEndpointThrowsTheExactErrno(endpoint: String, errno: Int32) throws {
        try withLoopback { zmq in
            let socket = try zmq.socket(.router)
            let error = #expect(throws: ZMQError.self) { try socket.bind(endpoint) }
            #expect(error?.function == "zmq_bind")
            #expect(error?.code == errno)
            #expect(error?.detail == endpoint)
            #expect(error?.description.contains(endpoint) == true)
            #expect(error?.description.contains("zmq_bind") == true)
        }
    }

    @Test func lastEndpointResolvesTheWildcardPort() throws {
        try withLoopback { zmq in
            let (_, endpoint) = try zmq.bound(.router)
            #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
            let port = Int(endpoint.split(separator: ":").last ?? "")
            #expect((port ?? 0) > 0)
        }
    }

    @Test func closeIsIdempotent() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.dealer)
        #expect(!socket.isClosed)
        socket.close()
        socket.close()
        #expect(socket.isClosed)
        context.terminate()
    }

    @Test func socketKeepsItsContextAliveAfterTheCallerDropsIt() throws {
        weak var weakContext: ZMQContext?
        var socket: ZMQSocket?
        do {
            let context = try ZMQContext()
            weakContext = context
            socket = try context.socket(.pair)
        }
        #expect(weakContext != nil)
        try talkOverInproc(from: try #require(socket))
        socket = nil
        #expect(weakContext == nil)
    }

    /// Proves `socket`'s context still works: a second socket from it exchanges a message.
    private func talkOverInproc(from socket: ZMQSocket) throws {
        let peer = try socket.context.socket(.pair)
        try socket.bind("inproc://kept-alive")
        try peer.connect("inproc://kept-alive")
        try peer.send([Array("ping".utf8)])
        #expect(try receive(socket, within: prompt) == [Array("ping".utf8)])
        socket.close()
        peer.close()
        socket.context.terminate()
    }

    @Test func terminateAfterAllSocketsAreClosedReturnsPromptly() throws {
        let context = try ZMQContext()
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(.zero)
        try dealer.connect(unreachable)  // Nobody listens: the message stays queued.
        try dealer.send([Array("stuck".utf8)], dontWait: true)
        dealer.close()
        let clock = ContinuousClock()
        #expect(clock.measure { context.terminate() } < .seconds(1))
        #expect(clock.measure { context.terminate() } < .milliseconds(100))
        #expect(context.isTerminated)
    }

    @Test func socketDeinitClosesWithoutBlocking() throws {
        let context = try ZMQContext()
        do {
            let socket = try context.socket(.dealer)
            try socket.setLinger(.zero)
            try socket.connect(unreachable)
            try socket.send([[1]], dontWait: true)
        }
        // zmq_ctx_term would block forever if the dropped socket were still open.
        let clock = ContinuousClock()
        #expect(clock.measure { context.terminate() } < .seconds(1))
    }

    @Test func terminatedContextRefusesNewSockets() throws {
        let context = try ZMQContext()
        context.terminate()
        let error = #expect(throws: ZMQError.self) { try context.socket(.dealer) }
        #expect(error?.isTerminated == true)
        #expect(error?.function == "zmq_socket")
    }

    @Test func shutdownMakesSocketCallsFailWithTerminated() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.dealer)
        try socket.setLinger(.zero)
        context.shutdown()
        let error = #expect(throws: ZMQError.self) { try socket.receive() }
        #expect(error?.isTerminated == true)
        socket.close()
        context.terminate()
    }

    @Test func versionAndCapabilitiesComeFromTheLinkedLibrary() {
        let version = ZMQ.version
        #expect(version.major >= 4)
        #expect(ZMQ.has("curve"))
        #expect(!ZMQ.has("no-such-capability"))
    }

    @Test func errorDescriptionUsesStrerror() {
        let error = ZMQError(code: EHOSTUNREACH, function: "zmq_send", detail: "ROUTER frame 1 of 2")
        let reason = String(cString: zmq_strerror(EHOSTUNREACH))
        #expect(error.description == "zmq_send(ROUTER frame 1 of 2): \(reason) (errno \(EHOSTUNREACH))")
        #expect(error.isHostUnreachable)
        #expect(ZMQError(code: EAGAIN, function: "zmq_send").wouldBlock)
        #expect(ZMQError(code: ETERM, function: "zmq_poll").isTerminated)
    }
}
