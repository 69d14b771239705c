import Foundation
@testable import LoomBroker
import LoomWire
import Testing

/// A restarted broker and the results its earlier process published (issue 15, failure 3): it
/// rebuilds them from the feed journal, so a returning worker's attempt of a finished job is not
/// adopted beside the recorded one, a resent result is not published twice, and an attempt of an
/// earlier run does not take the place of its job's retry.
@Suite struct BrokerRestartTests {
    /// A client `c1`, a worker `w1` and job `j1` assigned to it.
    static func running() -> (BrokerHarness, AttemptRef) {
        var h = BrokerHarness()
        h.hello("c1")
        h.ready("w1")
        let ref = BrokerHarness.assigned("w1", h.submit("c1", ["j1"]))[0]
        return (h, ref)
    }

    @Test func aSupersededAttemptOfAJobFinishedBeforeTheRestartIsFencedNotAdopted() {
        // Seed 4011: w1 is cut off and declared lost, attempt 2 runs on w2 and its result is
        // recorded; the broker restarts; w1 comes back holding attempt 1 and its FINAL.
        var (h, first) = Self.running()
        h.ready("w2")
        h.now = h.t0 + .milliseconds(2500)
        h.worker("w2", .heartbeat)
        let lost = h.advance(to: .milliseconds(3100))
        let second = BrokerHarness.assigned("w2", lost)[0]
        #expect(second.attempt == 2)
        h.update("w2", .final, second, seq: 1)
        h.client("c1", .ack(job: "j1", lease: second.lease, seq: 1))

        var r = h.restarted()
        r.hello("c1")
        let back = r.ready("w1", running: [first])
        #expect(BrokerHarness.topics(back).contains("job/j1/fenced"))
        #expect(!BrokerHarness.topics(back).contains("job/j1/reclaimed"))
        #expect(BrokerHarness.toWorker("w1", back).contains(.cancel(job: "j1", lease: first.lease, reason: CancelReason.fenced)))
        let resent = r.update("w1", .final, first, seq: 1)
        #expect(BrokerHarness.topics(resent) == ["job/j1/stale"])
        #expect(BrokerHarness.delivered("c1", resent).isEmpty)
    }

    /// S4 (simulation seeds 3634, 5295): w1 is declared lost, attempt 2 runs on w2; w1 comes
    /// back and its attempt 1 is fenced; then w2 is lost too, and (in the same process, or after
    /// a restart that rebuilds from the journal) w1 returns once more holding attempt 1 — it is
    /// fenced again, never adopted, and the job runs a new attempt.
    @Test(arguments: [false, true])
    func aFencedAttemptIsNotAdoptedOnceItsSupersedingAttemptIsLost(restart: Bool) {
        var (h, first) = Self.running()
        h.ready("w2")
        h.now = h.t0 + .milliseconds(2500)
        h.worker("w2", .heartbeat)
        let second = BrokerHarness.assigned("w2", h.advance(to: .milliseconds(3100)))[0]
        #expect(second.attempt == 2)
        #expect(BrokerHarness.topics(h.ready("w1", running: [first])).contains("job/j1/fenced"))
        // w2 leaves holding attempt 2: the job is queued again (w1 has no free slot: its
        // fenced attempt still runs there).
        h.worker("w2", .disconnect)
        var b = restart ? h.restarted() : h
        if restart { b.hello("c1") }
        let back = b.ready("w1", running: [first])
        #expect(!BrokerHarness.topics(back).contains("job/j1/reclaimed"), "\(BrokerHarness.topics(back))")
        if restart {
            // A restarted broker knows the lease only from the journal's `fenced` event.
            #expect(BrokerHarness.toWorker("w1", back).contains(.cancel(job: "j1", lease: first.lease, reason: CancelReason.fenced)))
        }
        let resent = b.update("w1", .final, first, seq: 1)
        #expect(BrokerHarness.delivered("c1", resent).isEmpty)
        #expect(b.machine.counters.finished == 0)
    }

    /// Seed 12: after attempt 2 failed the client retried the job as a new run from attempt 3;
    /// attempt 1, lost with its frozen worker earlier, comes back — it belongs to the earlier run
    /// and is fenced, not adopted into this one.
    @Test func anAttemptBelowTheRunsFirstAttemptIsFencedNotAdopted() {
        var h = BrokerHarness()
        h.hello("c1")
        var requirements = Requirements()
        requirements.firstAttempt = 3
        h.submit("c1", ["j1"], requirements: requirements)
        let old = AttemptRef(job: "j1", attempt: 1, lease: 42)
        let back = h.ready("w1", running: [old])
        #expect(!BrokerHarness.topics(back).contains("job/j1/reclaimed"))
        #expect(BrokerHarness.toWorker("w1", back).contains(.cancel(job: "j1", lease: 42, reason: CancelReason.fenced)))
        // The same attempt number as the run's first is its own and is adopted.
        let own = AttemptRef(job: "j1", attempt: 3, lease: 43)
        var r = BrokerHarness()
        r.hello("c1")
        r.submit("c1", ["j1"], requirements: requirements)
        #expect(BrokerHarness.topics(r.ready("w1", running: [own])).contains("job/j1/reclaimed"))
    }

    @Test func aResentFinalWhoseResultWasPublishedIsHeldForItsClientNotPublishedAgain() {
        var (h, ref) = Self.running()
        #expect(BrokerHarness.topics(h.update("w1", .final, ref, seq: 3)) == ["job/j1/finished"])

        // The broker dies before the client's ACK: the worker still holds the result.
        var r = h.restarted(recoveryWindow: .seconds(5))
        let back = r.ready("w1", running: [ref])
        #expect(BrokerHarness.topics(back) == ["worker/w1/joined"], "neither adopted nor fenced: \(BrokerHarness.topics(back))")
        let resent = r.update("w1", .final, ref, seq: 3)
        #expect(BrokerHarness.topics(resent).isEmpty, "published once, by the first process")
        // The client that submitted the job gets it on HELLO, without re-syncing it.
        let hello = r.hello("c1")
        #expect(BrokerHarness.delivered("c1", hello).map(\.attempt) == [ref])
        let ack = r.client("c1", .ack(job: "j1", lease: ref.lease, seq: 3))
        #expect(BrokerHarness.toWorker("w1", ack) == [.ack(job: "j1", lease: ref.lease, seq: 3)])
    }

    @Test func aResyncedJobWhosePublishedResultItsWorkerStillHoldsGetsThatResultWithoutASecondRun() {
        var (h, ref) = Self.running()
        h.update("w1", .final, ref, seq: 2)

        var r = h.restarted(recoveryWindow: .seconds(5))
        r.hello("c1")
        let resync = r.submit("c1", ["j1"], requirements: Requirements(firstAttempt: 2, flags: Requirements.Flags.resync))
        #expect(BrokerHarness.delivered("c1", resync).map(\.attempt) == [ref], "answered with the published result")
        #expect(!BrokerHarness.topics(resync).contains("job/j1/queued"), "not run again")
        r.now = r.t0 + .milliseconds(4500)
        r.ready("w9", slots: 4)
        let back = r.ready("w1", running: [ref])
        #expect(BrokerHarness.topics(back) == ["worker/w1/joined"], "neither reclaimed (run on) nor fenced")
        #expect(BrokerHarness.topics(r.update("w1", .final, ref, seq: 2)).isEmpty, "not published twice")
        #expect(BrokerHarness.assigned("w9", r.advance(to: .seconds(6))).isEmpty, "nothing runs twice")
        let ack = r.client("c1", .ack(job: "j1", lease: ref.lease, seq: 2))
        #expect(BrokerHarness.toWorker("w1", ack) == [.ack(job: "j1", lease: ref.lease, seq: 2)])
        // Its ACK lost, the worker lists the attempt again: told at once that the result is in.
        let again = r.ready("w1", running: [ref])
        #expect(BrokerHarness.toWorker("w1", again).contains(.ack(job: "j1", lease: ref.lease, seq: 2)))
        #expect(!BrokerHarness.topics(again).contains("job/j1/fenced"), "the recorded attempt is never published fenced")
    }

    @Test func anAttemptOfAnEarlierRunIsAcknowledgedNotAdoptedInPlaceOfTheRetry() {
        // Seed 3811: attempt 1 FAILED and was acknowledged, the job was submitted again (the
        // retry), and the broker died before the ACK reached the worker.
        var (h, first) = Self.running()
        h.update("w1", .failed, first, seq: 1)
        h.client("c1", .ack(job: "j1", lease: first.lease, seq: 1))
        let retry = BrokerHarness.assigned("w1", h.client("c1", .submit(request: 2, jobs: [
            JobSubmission(id: "j1", requirements: Requirements(firstAttempt: 2), payload: JobSpec(command: ["true"]).payload),
        ])))[0]
        #expect(retry.attempt == 2)

        var r = h.restarted()
        r.hello("c1")
        let back = r.ready("w1", running: [first, retry])
        #expect(BrokerHarness.toWorker("w1", back).contains(.ack(job: "j1", lease: first.lease, seq: 1)))
        #expect(BrokerHarness.feedEvents(back).filter { $0.topic == "job/j1/reclaimed" }.count == 1, "the retry only")
        // The retry's result reaches its client, which submitted the job before the restart.
        let final = r.update("w1", .final, retry, seq: 1)
        #expect(BrokerHarness.delivered("c1", final).map(\.attempt) == [retry])
    }

    @Test func aJobsClientClaimsItsAdoptedAttemptOnHello() {
        let (h, ref) = Self.running()
        var r = h.restarted()
        #expect(BrokerHarness.topics(r.ready("w1", running: [ref])).contains("job/j1/reclaimed"))
        r.hello("c1")
        let final = r.update("w1", .final, ref, seq: 1)
        #expect(BrokerHarness.delivered("c1", final).map(\.attempt) == [ref], "delivered without a re-sync")
    }

    @Test func theJournalRebuildsPublishedResultsWithExactLeases() throws {
        var (h, ref) = Self.running()
        h.update("w1", .final, ref, seq: 5)
        let path = FeedJournalTests.scratch("published-results")
        let journal = try FeedJournal(path: path)
        // A lease above 2^53, as a random epoch gives (a double would round it).
        let big = AttemptRef(job: "j2", attempt: 3, lease: 0xFFFF_FFF0_0000_0007)
        let events = BrokerHarness.feedEvents(h.log) + [
            FeedEvent(topic: "job/j2/finished", seq: h.machine.feedSeq + 1,
                      body: Array(#"{"event":"finished","job":"j2","attempt":3,"lease":18446744004990074887,"worker":"w","seq":9}"#.utf8),
                      payload: Array(#"{"loss":0.5}"#.utf8)),
        ]
        for event in events { journal.append(event) }
        journal.close()
        let reopened = try FeedJournal(path: path)
        let results = try reopened.publishedResults()
        #expect(results.result(of: "j1") == Update(kind: .final, attempt: ref, seq: 5, payload: Array(#"{"loss":1}"#.utf8)))
        #expect(results.entry(of: "j1")?.owner == "c", "the client id `c1` said HELLO with")
        #expect(results.result(of: "j2")?.attempt == big)
        #expect(results.result(of: "j2")?.seq == 9)
        reopened.close()
    }

    @Test func publishedResultsForgetTheOldestJobsPastTheirCapacity() {
        var results = PublishedResults(capacity: 2)
        for job in ["a", "b", "c"] {
            results.published(Update(kind: .final, attempt: AttemptRef(job: job, attempt: 1, lease: 1), seq: 1, payload: []))
        }
        #expect(results.count == 2)
        #expect(results.result(of: "a") == nil && results.result(of: "c") != nil)
    }
}
