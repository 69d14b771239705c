import LoomWire
import Testing
@testable import LoomBroker

/// LOG: published on `log/<job>/<attempt>` without an acknowledgement, and counted.
@Suite struct BrokerLogTests {
    @Test func logIsPublishedOnItsTopicAndNeverAcknowledged() throws {
        var h = BrokerHarness()
        h.ready("w")
        let batch = LogBatch(attempt: AttemptRef(job: "s/4", attempt: 2, lease: 77), stream: .stdout, firstLine: 3, lines: ["a", "b"])
        let actions = h.worker("w", .log(batch))
        #expect(BrokerHarness.toWorker("w", actions).isEmpty)
        let events = BrokerHarness.feedEvents(actions)
        #expect(events.map(\.topic) == ["log/s/4/2"])
        let body = try JSONValue(parsing: try #require(events.first).body)
        #expect(body.object?["lines"] == .array([.string("a"), .string("b")]))
        #expect(body.object?["first"] == .number(3))
        #expect(body.object?["worker"] == .string("w"))
        #expect(h.machine.counters.logLines == 2)
    }

    @Test func malformedLogIsAnsweredWithAnErrorAndCounted() {
        var h = BrokerHarness()
        h.ready("w")
        let frames: [Frame] = [Wire.workerHeader, [Command.log.rawValue], Array("s/4".utf8), BigEndian.frame(UInt32(1)),
                               BigEndian.frame(UInt64(1)), Array("stdin".utf8), BigEndian.frame(UInt64(1)), Array("x".utf8)]
        let actions = h.receive("w", frames)
        #expect(BrokerHarness.topics(actions).isEmpty)
        #expect(h.machine.counters.rejected["value"] == 1)
        #expect(h.machine.counters.logLines == 0)
    }
}
