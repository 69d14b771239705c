import LoomWire
import Testing

/// The refusal log lets a few lines per reason through per interval, and the first line after a
/// held-back spell says how many it held back.
@Suite struct RefusalLogTests {
    static func refusal(_ reason: String, peer: String = "worker/w1") -> RefusalLog.Refusal {
        RefusalLog.Refusal(peer: peer, message: "READY", reason: reason, detail: "beyond a limit")
    }

    @Test func aFloodOfOneReasonLogsABurstPerIntervalAndCountsTheRest() {
        var log = RefusalLog(burst: 3, interval: .seconds(10))
        let t0 = ContinuousClock.now
        let admitted = (0..<100).filter { _ in log.note(Self.refusal("capacity"), now: t0) }
        #expect(admitted.count == 3)
        let burst = log.take()
        #expect(burst.map(\.suppressed) == [0, 0, 0])
        let none = log.take()
        #expect(none.isEmpty)
        // Still within the interval: held back.
        let held = log.note(Self.refusal("capacity"), now: t0 + .seconds(9))
        #expect(!held)
        // A new interval: the first line says how many were held back (97 + 1).
        let logged = log.note(Self.refusal("capacity"), now: t0 + .seconds(10))
        #expect(logged)
        let line = log.take()
        #expect(line.map(\.suppressed) == [98])
        #expect(line.first?.metadata["refusal.suppressed"] == "98")
    }

    @Test func reasonsHaveTheirOwnBursts() {
        var log = RefusalLog(burst: 1, interval: .seconds(10))
        let t0 = ContinuousClock.now
        let first = log.note(Self.refusal("capacity"), now: t0)
        let second = log.note(Self.refusal("capacity", peer: "worker/w2"), now: t0)
        let other = log.note(Self.refusal("lease"), now: t0)
        #expect(first && !second && other)
        let lines = log.take()
        #expect(lines.map(\.refusal.reason) == ["capacity", "lease"])
        #expect(lines[0].metadata == ["peer.key": "worker/w1", "message.kind": "READY", "refusal.reason": "capacity",
                                      "refusal.detail": "beyond a limit"])
    }
}
