import Testing
@testable import LoomBroker
import LoomWire

@Suite struct BrokerCounting {
    @Test func everyMessageIsReceivedAndEitherRejectedUnregisteredOrServed() {
        var h = BrokerHarness()
        h.receive("x", [Array("HLW9".utf8), [Command.heartbeat.rawValue]])
        h.receive("x", [Wire.workerHeader, [0x77]])
        // Well-formed, from connections that never said READY or HELLO.
        #expect(BrokerHarness.toWorker("x", h.worker("x", .heartbeat)) == [.disconnect(reason: DisconnectReason.reregister)])
        #expect(h.worker("x", .disconnect).isEmpty)
        #expect(BrokerHarness.toClient("y", h.client("y", .ack(job: "j", lease: 1, seq: 1))) == [.disconnect(reason: DisconnectReason.reregister)])
        // Registered: served.
        h.ready("w1")
        h.worker("w1", .heartbeat)
        let counters = h.machine.counters
        #expect(counters.received == 7)
        #expect(counters.rejected == ["version": 1, "command": 1])
        #expect(counters.unregistered == 3)
    }
}
