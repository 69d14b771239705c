import Testing
@testable import LoomBroker
import LoomWire

/// A broker that did not run for a while (SIGSTOP, a paused VM) does not count that time as its
/// peers' silence (`BrokerStateMachine+Pauses`; simulation seeds 2978 and 8381).
@Suite struct BrokerPauses {
    /// Two workers heartbeat every 100 ms until 1 s (w2 once more at 1.05 s); the broker then
    /// does not run until 6 s. Its first sweep after finds both silent for about 5 s, past their
    /// 3 s liveness window.
    func pausedBroker(threshold: Duration?) throws -> (BrokerHarness, AttemptRef, [BrokerAction]) {
        var h = BrokerHarness(pauseThreshold: threshold)
        h.ready("w1")
        h.ready("w2")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"], spec: stragglerSpec(stall: 3))).first)
        h.worker("w1", .started(ref))
        h.run(until: .seconds(1), heartbeating: ["w1", "w2"], step: .milliseconds(100))
        // Heard after the last sweep, before the pause (seed 8381's worker sent a CHUNK then).
        h.now = h.t0 + .milliseconds(1050)
        h.worker("w2", .heartbeat)
        let thawed = h.advance(to: .seconds(6))
        return (h, ref, thawed)
    }

    @Test func theFirstSweepAfterAPauseDeclaresNoWorkerLostAndNoAttemptStalled() throws {
        var (h, ref, thawed) = try pausedBroker(threshold: .seconds(1))
        #expect(BrokerHarness.topics(thawed).isEmpty)
        #expect(h.machine.counters.pauses == 1 && h.machine.counters.workersLost == 0)
        // What w1 sent during the pause is read next: its FINAL is the job's result.
        h.worker("w1", .heartbeat)
        let result = h.update("w1", .final, ref, seq: 1)
        #expect(BrokerHarness.topics(result).contains("job/j1/finished"))
    }

    @Test func aWorkerThatDiedDuringThePauseIsLostOneLivenessWindowAfterIt() throws {
        var (h, _, _) = try pausedBroker(threshold: .seconds(1))
        // w2 was last heard at 1.05 s; the pause (6 s - 1 s - one sweep interval = 4.9 s) is not
        // its silence, so its window ends at 1.05 + 4.9 + 3 = 8.95 s.
        let before = h.run(until: .milliseconds(8_800), heartbeating: ["w1"], step: .milliseconds(100))
        #expect(!BrokerHarness.topics(before).contains("worker/w2/lost"))
        let after = h.run(until: .milliseconds(9_000), heartbeating: ["w1"], step: .milliseconds(100))
        #expect(BrokerHarness.topics(after).contains("worker/w2/lost"))
        #expect(h.machine.counters.pauses == 1)
    }

    @Test func anAttemptSilentOnlyWhileTheBrokerWasPausedIsNotStalled() throws {
        var (h, ref, _) = try pausedBroker(threshold: .seconds(1))
        // Stall timeout 3 s, STARTED at 0: the attempt's own silence is 1 s before the pause
        // and counts on after it.
        let quiet = h.run(until: .milliseconds(7_800), heartbeating: ["w1", "w2"], step: .milliseconds(100))
        #expect(!BrokerHarness.topics(quiet).contains("job/j1/stalled"))
        let stall = h.run(until: .seconds(8), heartbeating: ["w1", "w2"], step: .milliseconds(100))
        #expect(BrokerHarness.topics(stall).prefix(1) == ["job/j1/stalled"])
        #expect(BrokerHarness.cancels("w1", stall) == [ref.lease: CancelReason.stalled])
    }

    /// Without the rule (as before it), the same schedule loses both workers and the attempt on
    /// the first sweep after the pause.
    @Test func withoutAPauseThresholdTheSameSweepLosesEveryWorker() throws {
        let (h, _, thawed) = try pausedBroker(threshold: nil)
        #expect(BrokerHarness.topics(thawed).filter { $0.hasSuffix("/lost") } == ["worker/w1/lost", "worker/w2/lost"])
        #expect(h.machine.counters.pauses == 0)
    }

    /// Seed 8381: during the pause the worker missed the broker's heartbeats and reconnected; the
    /// thawed broker's heartbeat to its old connection failed before its READY on the new one was
    /// read. The job (quarantined after one lost worker here) is requeued, not failed, and the
    /// READY that follows reclaims the attempt it still runs.
    @Test func aWorkerUnreachableAfterThePauseIsNotCountedAgainstTheJobsQuarantine() throws {
        var h = BrokerHarness(pauseThreshold: .seconds(1))
        h.ready("w1")
        h.hello("c1")
        var requirements = Requirements()
        requirements.quarantineAfter = 1
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"], requirements: requirements)).first)
        h.worker("w1", .started(ref))
        h.run(until: .seconds(1), heartbeating: ["w1"], step: .milliseconds(100))
        h.advance(to: .seconds(6))
        let unreachable = h.machine.peerUnreachable(BrokerHarness.identity("w1"), now: h.now)
        #expect(BrokerHarness.topics(unreachable) == ["worker/w1/lost", "job/j1/requeued"])
        let back = h.ready("w1-new", id: "w1", running: [ref])
        #expect(BrokerHarness.topics(back).contains("job/j1/reclaimed"))
        #expect(!BrokerHarness.topics(h.log + unreachable).contains("job/j1/failed"))
        // The same loss before the pause counts: the job is quarantined.
        var g = BrokerHarness(pauseThreshold: .seconds(1))
        g.ready("w1")
        g.hello("c1")
        let first = try #require(BrokerHarness.assigned("w1", g.submit("c1", ["j1"], requirements: requirements)).first)
        g.worker("w1", .started(first))
        g.run(until: .seconds(1), heartbeating: ["w1"], step: .milliseconds(100))
        #expect(BrokerHarness.topics(g.machine.peerUnreachable(BrokerHarness.identity("w1"), now: g.now)) == ["worker/w1/lost", "job/j1/failed"])
    }
}
