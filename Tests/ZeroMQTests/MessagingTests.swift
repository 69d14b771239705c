import CZeroMQ
import Testing
import ZeroMQ

@Suite("Messaging", .timeLimit(.minutes(1)))
struct MessagingTests {
    @Test func dealerRouterRoundTripKeepsEmptyAndLargeFramesWhole() throws {
        try withLoopback { zmq in
            let (router, endpoint) = try zmq.bound(.router)
            let dealer = try zmq.connected(.dealer, to: endpoint)
            let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let request: [[UInt8]] = [[], [1, 2, 3], [], large, []]

            #expect(try dealer.send(request))
            let received = try #require(try receive(router, within: prompt))
            #expect(received.count == request.count + 1)
            #expect(Array(received.dropFirst()) == request)

            let identity = received[0]
            #expect(try router.send([identity, [], large]))
            let reply = try #require(try receive(dealer, within: prompt))
            #expect(reply == [[], large])
        }
    }

    @Test func receiveWithoutWaitingReturnsNilOnAnEmptySocket() throws {
        try withLoopback { zmq in
            let (router, _) = try zmq.bound(.router)
            #expect(try router.receive(dontWait: true) == nil)
        }
    }

    @Test func sendWithoutWaitingReturnsFalseWhenNoPeerCanTakeIt() throws {
        try withLoopback { zmq in
            let dealer = try zmq.socket(.dealer)
            #expect(try dealer.send([[1]], dontWait: true) == false)
        }
    }

    @Test func receiveTimeoutReturnsNil() throws {
        try withLoopback { zmq in
            let (dealer, _) = try zmq.bound(.dealer) { try $0.setReceiveTimeout(.milliseconds(20)) }
            #expect(try dealer.receive() == nil)
        }
    }

    @Test func emptyMessageIsRejectedWithEINVAL() throws {
        try withLoopback { zmq in
            let dealer = try zmq.socket(.dealer)
            let error = #expect(throws: ZMQError.self) { try dealer.send([]) }
            #expect(error?.code == EINVAL)
        }
    }

    @Test func routerMandatorySendToUnknownIdentityThrowsHostUnreachable() throws {
        try withLoopback { zmq in
            let (router, _) = try zmq.bound(.router) { try $0.setRouterMandatory(true) }
            let error = #expect(throws: ZMQError.self) {
                try router.send([Array("nobody".utf8), Array("hello".utf8)], dontWait: true)
            }
            #expect(error?.isHostUnreachable == true)
            #expect(error?.code == EHOSTUNREACH)
            #expect(error?.function == "zmq_send")
        }
    }

    @Test func routerWithoutMandatoryDropsUnknownIdentitySilently() throws {
        try withLoopback { zmq in
            let (router, _) = try zmq.bound(.router)
            #expect(try router.send([Array("nobody".utf8), Array("hello".utf8)], dontWait: true))
        }
    }

    @Test func routingIDIsWhatTheRouterSees() throws {
        try withLoopback { zmq in
            let (router, endpoint) = try zmq.bound(.router)
            let dealer = try zmq.connected(.dealer, to: endpoint) { try $0.setRoutingID(Array("worker-7".utf8)) }
            try dealer.send([Array("hi".utf8)])
            let received = try #require(try receive(router, within: prompt))
            #expect(received == [Array("worker-7".utf8), Array("hi".utf8)])
        }
    }

    @Test func subscriberReceivesOnlyMatchingTopics() throws {
        try withLoopback { zmq in
            let (publisher, endpoint) = try zmq.bound(.pub)
            let subscriber = try zmq.connected(.sub, to: endpoint) { try $0.subscribe(Array("trial.".utf8)) }
            // Subscriptions reach the publisher asynchronously: publish until one match arrives.
            var received: [[[UInt8]]] = []
            let deadline = ContinuousClock.now + prompt
            while received.isEmpty, ContinuousClock.now < deadline {
                try publisher.send([Array("study.created".utf8), [1]])
                try publisher.send([Array("trial.started".utf8), [2]])
                if let frames = try receive(subscriber, within: .milliseconds(20)) { received.append(frames) }
            }
            try publisher.send([Array("study.deleted".utf8), [3]])
            try publisher.send([Array("trial.end".utf8), [4]])
            while received.last?.first != Array("trial.end".utf8) {
                received.append(try #require(try receive(subscriber, within: prompt)))
            }
            #expect(received.allSatisfy { $0.first?.starts(with: Array("trial.".utf8)) == true })
        }
    }

    @Test func messageAboveMaxMessageSizeIsNotDelivered() throws {
        try withLoopback { zmq in
            let (router, endpoint) = try zmq.bound(.router) { try $0.setMaxMessageSize(1024) }
            let dealer = try zmq.connected(.dealer, to: endpoint)
            try dealer.send([[UInt8](repeating: 1, count: 512)])
            #expect(try receive(router, within: prompt)?.last?.count == 512)

            try dealer.send([[UInt8](repeating: 2, count: 4096)])
            #expect(try receive(router, within: .milliseconds(300)) == nil)
        }
    }

    @Test func closedSocketThrowsNotASocket() throws {
        try withLoopback { zmq in
            let dealer = try zmq.socket(.dealer)
            dealer.close()
            let error = #expect(throws: ZMQError.self) { try dealer.receive(dontWait: true) }
            #expect(error?.code == ENOTSOCK)
            #expect(error?.function == "zmq_msg_recv")
        }
    }
}
