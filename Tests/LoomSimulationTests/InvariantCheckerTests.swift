@testable import LoomSimulation
import LoomWire
import Testing

/// The checker itself: each invariant fails when what it guards is broken.
@Suite("Invariant checker")
struct InvariantCheckerTests {
    func update(_ kind: UpdateKind, _ job: String, lease: UInt64, seq: UInt64) -> Update {
        Update(kind: kind, attempt: AttemptRef(job: job, attempt: 1, lease: lease), seq: seq, payload: Array("{}".utf8))
    }

    func feed(_ seq: UInt64, _ event: BrokerEvent) -> FeedEvent {
        FeedEvent(seq: seq, event: event)
    }

    func ref(_ job: String, attempt: UInt32 = 1, lease: UInt64) -> AttemptRef { AttemptRef(job: job, attempt: attempt, lease: lease) }

    @Test func anAcknowledgementOfAnUpdateTheStoreLacksBreaksS2UnlessTheBrokerAnsweredIt() {
        let store = SimulatedStore()
        store.create("t0")
        var checker = InvariantChecker()
        checker.published(feed(1, .stale(ref("t0", lease: 5), worker: "w0", updateSeq: 2, kind: "REPORT")), at: 0)
        checker.workerAcknowledged(job: "t0", lease: 5, seq: 2, store: store, at: 0)
        #expect(checker.violations.isEmpty, "the broker answered it as stale")
        store.storeReport(update(.report, "t0", lease: 5, seq: 3))
        checker.workerAcknowledged(job: "t0", lease: 5, seq: 3, store: store, at: 0)
        #expect(checker.violations.isEmpty, "the store has it")
        checker.workerAcknowledged(job: "t0", lease: 5, seq: 4, store: store, at: 1_000_000_000)
        #expect(checker.violations.map(\.invariant) == ["S2"])
    }

    @Test func aResultFromAFencedLeaseBreaksS4() {
        let store = SimulatedStore()
        store.create("t0")
        var checker = InvariantChecker()
        checker.published(feed(1, .fenced(ref("t0", lease: 5), worker: "w0")), at: 0)
        let final = update(.final, "t0", lease: 5, seq: 3)
        store.recordResult(final, value: 1)
        checker.acknowledgedByOptimizer(final, store: store, at: 0)
        #expect(checker.violations.map(\.invariant) == ["S4"])
    }

    @Test func aSecondFinishedAttemptAWrongValueAndARetryFromScratchAreCaught() {
        let store = SimulatedStore()
        store.create("t0")
        var checker = InvariantChecker()
        checker.published(feed(1, .update(.final, ref("t0", lease: 5), worker: "w0", updateSeq: 3, backup: false)), at: 0)
        checker.published(feed(2, .update(.final, ref("t0", attempt: 2, lease: 6), worker: "w1", updateSeq: 2, backup: false)), at: 0)
        store.recordResult(update(.final, "t0", lease: 6, seq: 2), value: 2)
        checker.attemptStarted(AttemptRef(job: "t0", attempt: 2, lease: 6), from: 0, acknowledged: 3, at: 0)
        let plan = TrialPlan(job: "t0", steps: 3, stepTime: .milliseconds(100), value: 1.5, attempts: [])
        checker.finish(store: store, plans: ["t0": plan], at: 0)
        #expect(Set(checker.violations.map(\.invariant)) == ["S1", "S5", "S6"])
    }

    @Test func aCompletedTrialLaterRecordedFailedBreaksS3() {
        let store = SimulatedStore()
        store.create("t0")
        store.recordResult(update(.final, "t0", lease: 5, seq: 3), value: 1.5)
        store.recordFailure(update(.failed, "t0", lease: 6, seq: 1), error: "exit code 1", final: true)
        var checker = InvariantChecker()
        let plan = TrialPlan(job: "t0", steps: 3, stepTime: .milliseconds(100), value: 1.5, attempts: [])
        checker.finish(store: store, plans: ["t0": plan], at: 0)
        #expect(checker.violations.map(\.invariant) == ["S3"])
    }
}
