#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZeroMQ
import Testing
@testable import ZeroMQ

@Suite("Poller", .timeLimit(.minutes(1)))
struct PollerTests {
    @Test func pollerReportsOnlyTheReadyIndex() throws {
        try withLoopback { zmq in
            let (quiet, _) = try zmq.bound(.router)
            let (busy, endpoint) = try zmq.bound(.router)
            let dealer = try zmq.connected(.dealer, to: endpoint)
            var poller = Poller()
            let quietIndex = poller.add(quiet)
            let busyIndex = poller.add(busy)
            #expect(quietIndex == 0 && busyIndex == 1)

            try dealer.send([[42]])
            let ready = try poller.poll(timeout: prompt)
            #expect(ready == [busyIndex])
        }
    }

    @Test func pollerReturnsNothingAfterTheTimeoutOnAnIdleSocket() throws {
        try withLoopback { zmq in
            let (idle, _) = try zmq.bound(.router)
            var poller = Poller()
            poller.add(idle)
            let clock = ContinuousClock()
            var ready: [Int] = [0]
            let elapsed = try clock.measure { ready = try poller.poll(timeout: .milliseconds(30)) }
            #expect(ready.isEmpty)
            #expect(elapsed >= .milliseconds(30))
            #expect(elapsed < .seconds(1))
        }
    }

    @Test func zeroTimeoutReturnsAtOnce() throws {
        try withLoopback { zmq in
            let (idle, _) = try zmq.bound(.router)
            var poller = Poller()
            poller.add(idle)
            let clock = ContinuousClock()
            var ready: [Int] = [0]
            let elapsed = try clock.measure { ready = try poller.poll(timeout: .zero) }
            #expect(ready.isEmpty)
            #expect(elapsed < .milliseconds(100))
        }
    }

    @Test func subMillisecondTimeoutWaitsInsteadOfSpinning() throws {
        var poller = Poller()
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        poller.add(fd: fds[0])
        let clock = ContinuousClock()
        var ready: [Int] = [0]
        let elapsed = try clock.measure { ready = try poller.poll(timeout: .microseconds(200)) }
        #expect(ready.isEmpty)
        #expect(elapsed >= .microseconds(200))
    }

    @Test func pollerReportsAReadablePipe() throws {
        try withLoopback { zmq in
            let (idle, _) = try zmq.bound(.router)
            var fds: [Int32] = [0, 0]
            #expect(pipe(&fds) == 0)
            defer { close(fds[0]); close(fds[1]) }
            var poller = Poller()
            poller.add(idle)
            let pipeIndex = poller.add(fd: fds[0])
            #expect(try poller.poll(timeout: .zero).isEmpty)

            var byte: UInt8 = 1
            #expect(write(fds[1], &byte, 1) == 1)
            #expect(try poller.poll(timeout: prompt) == [pipeIndex])
        }
    }

    @Test func pollerKeepsItsSocketsAlive() throws {
        try withLoopback { zmq in
            weak var dropped: ZMQSocket?
            var poller = Poller()
            do {
                let socket = try zmq.context.socket(.dealer)
                try socket.setLinger(.zero)
                dropped = socket
                poller.add(socket)
            }
            #expect(dropped != nil)
            #expect(try poller.poll(timeout: .zero).isEmpty)
            dropped?.close()
        }
    }

    @Test func pollingAClosedSocketThrowsNotASocket() throws {
        try withLoopback { zmq in
            let socket = try zmq.socket(.dealer)
            var poller = Poller()
            poller.add(socket)
            socket.close()
            let error = #expect(throws: ZMQError.self) { try poller.poll(timeout: .zero) }
            #expect(error?.code == ENOTSOCK)
            #expect(error?.function == "zmq_poll")
        }
    }

    @Test(arguments: [
        (Duration.zero, Int64(0)),
        (.nanoseconds(1), 1),
        (.microseconds(999), 1),
        (.milliseconds(5), 5),
        (.seconds(2) + .nanoseconds(1), 2001),
        (.microseconds(-1500), -1),
    ])
    func durationsRoundUpToWholeMilliseconds(duration: Duration, milliseconds: Int64) {
        #expect(duration.roundedUpCount(perSecond: 1000) == milliseconds)
    }

    @Test func durationsRoundUpToWholeSeconds() {
        #expect(Duration.milliseconds(1).roundedUpCount(perSecond: 1) == 1)
        #expect(Duration.seconds(60).roundedUpCount(perSecond: 1) == 60)
        #expect(Duration.seconds(Int64.max).roundedUpCount(perSecond: 1000) == nil)
    }
}
