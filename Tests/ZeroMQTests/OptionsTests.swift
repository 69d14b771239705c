import CZeroMQ
import Testing
import ZeroMQ

@Suite("Options", .timeLimit(.minutes(1)))
struct OptionsTests {
    @Test func optionsReadBackWhatWasSet() throws {
        try withLoopback { zmq in
            let socket = try zmq.socket(.dealer)
            try socket.setLinger(.milliseconds(250))
            #expect(try socket.linger() == .milliseconds(250))
            try socket.setLinger(nil)
            #expect(try socket.linger() == nil)

            try socket.setSendHighWaterMark(1234)
            try socket.setReceiveHighWaterMark(4321)
            #expect(try socket.sendHighWaterMark() == 1234)
            #expect(try socket.receiveHighWaterMark() == 4321)

            try socket.setImmediate(true)
            #expect(try socket.isImmediate())

            try socket.setHeartbeat(interval: .seconds(1), ttl: .seconds(3), timeout: .milliseconds(2500))
            let heartbeat = try socket.heartbeat()
            #expect(heartbeat.interval == .seconds(1))
            #expect(heartbeat.ttl == .seconds(3))
            #expect(heartbeat.timeout == .milliseconds(2500))

            #expect(try socket.maxMessageSize() == -1)
            try socket.setMaxMessageSize(64 << 20)
            #expect(try socket.maxMessageSize() == 64 << 20)

            try socket.setReconnectInterval(.milliseconds(100), max: .seconds(5))
            let reconnect = try socket.reconnectInterval()
            #expect(reconnect.interval == .milliseconds(100))
            #expect(reconnect.max == .seconds(5))

            #expect(try socket.tcpKeepalive() == nil)
            try socket.setTCPKeepalive(idle: .seconds(60), interval: .seconds(10), count: 6)
            let keepalive = try #require(try socket.tcpKeepalive())
            #expect(keepalive.idle == .seconds(60))
            #expect(keepalive.interval == .seconds(10))
            #expect(keepalive.count == 6)

            try socket.setRoutingID(Array("worker-1".utf8))
            #expect(try socket.routingID() == Array("worker-1".utf8))

            #expect(try socket.sendTimeout() == nil)
            try socket.setSendTimeout(.milliseconds(50))
            try socket.setReceiveTimeout(.milliseconds(60))
            #expect(try socket.sendTimeout() == .milliseconds(50))
            #expect(try socket.receiveTimeout() == .milliseconds(60))

            try socket.setZAPDomain("hyperloom")
            #expect(try socket.zapDomain() == "hyperloom")
        }
    }

    @Test func writeOnlyRouterOptionsAreAccepted() throws {
        try withLoopback { zmq in
            let router = try zmq.socket(.router)
            try router.setRouterMandatory(true)
            try router.setRouterHandover(true)
            try router.setProbeRouter(true)
        }
    }

    @Test func durationsRoundUpToTheUnitLibzmqStores() throws {
        try withLoopback { zmq in
            let socket = try zmq.socket(.dealer)
            try socket.setLinger(.microseconds(1))
            #expect(try socket.linger() == .milliseconds(1))
            try socket.setTCPKeepalive(idle: .milliseconds(1500), interval: .milliseconds(1), count: 3)
            let keepalive = try #require(try socket.tcpKeepalive())
            #expect(keepalive.idle == .seconds(2))
            #expect(keepalive.interval == .seconds(1))
        }
    }

    @Test(arguments: [Duration.milliseconds(-1), .seconds(Int64(Int32.max))])
    func outOfRangeDurationsThrowEINVALBeforeReachingLibzmq(duration: Duration) throws {
        try withLoopback { zmq in
            let socket = try zmq.socket(.dealer)
            let error = #expect(throws: ZMQError.self) { try socket.setLinger(duration) }
            #expect(error?.code == EINVAL)
            #expect(error?.detail?.contains("ZMQ_LINGER") == true)
            #expect(try socket.linger() == .zero)
        }
    }

    @Test func invalidOptionValueThrowsTheErrnoOfLibzmq() throws {
        try withLoopback { zmq in
            let socket = try zmq.socket(.dealer)
            let error = #expect(throws: ZMQError.self) { try socket.setRoutingID([]) }
            #expect(error?.code == EINVAL)
            #expect(error?.function == "zmq_setsockopt")
            #expect(error?.detail?.contains("ZMQ_ROUTING_ID") == true)
        }
    }
}
