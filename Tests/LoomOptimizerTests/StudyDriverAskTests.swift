import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

extension StudyDriver {
    /// The trial `ask` hands out at `now`, nil when it hands out none.
    mutating func askedTrial(now: Double, lease: Double = StudyDriver.defaultLeaseSeconds) -> TrialRecord? {
        if case .trial(let trial) = ask(now: now, leaseSeconds: lease).0 { return trial }
        return nil
    }
}

/// Asked trials under leases, ask-only studies, and the scheduler's verdicts on asked trials'
/// reports: all on a manual clock (`now` passed in), no sleeps.
@Suite struct StudyDriverAskTests {
    func spec(trial: String = "", scheduler: String = "{type: fifo}", trials: Int = 4, concurrent: Int = 4) throws -> StudySpec {
        try SpecParser.parse("""
            name: a
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: {type: random, seed: 3}
            scheduler: \(scheduler)
            \(trial)
            budget: {max_trials: \(trials), max_concurrent: \(concurrent)}
            """, file: "a.yaml")
    }

    func tell(_ d: inout StudyDriver, _ number: Int, _ value: Double, state: TrialState = .complete) {
        var t = d.trial(number)!
        t.state = state
        t.value = value
        t.finishedAt = 0
        d.update(t)
    }

    @Test func anAskOnlyStudyCreatesNoTrialOfItsOwnAndCompletesWhenEveryTrialIsTold() throws {
        var d = StudyDriver(studyID: "a-1", spec: try spec(trials: 2), createdAt: 0, trials: [])
        #expect(d.fillSlots(now: 0) == SlotPlan(), "no job to run: the spec has no trial.command")
        #expect(d.stopReason(now: 0) == nil)
        let handedOut1 = d.askedTrial(now: 1)
        let one = try #require(handedOut1)
        let handedOut2 = d.askedTrial(now: 1)
        let two = try #require(handedOut2)
        #expect(d.fillSlots(now: 1) == SlotPlan())
        tell(&d, one.number, 0.5)
        tell(&d, two.number, 0.25)
        #expect(d.ask(now: 2).0 == .exhausted)
        #expect(d.stopReason(now: 2)?.state == .complete)
    }

    @Test func aHeartbeatedLeaseKeepsTheTrialAndAnExpiredOneOffersItToTheNextAsk() throws {
        var d = StudyDriver(studyID: "a-1", spec: try spec(trial: "trial: {max_retries: 1}", trials: 1), createdAt: 0, trials: [])
        let handedOut3 = d.askedTrial(now: 0, lease: 10)
        let first = try #require(handedOut3)
        #expect(first.attempts == 1 && d.leases[1] == AskLease(attempt: 1, seconds: 10, expiresAt: 10))
        try d.renewLease(trial: 1, attempt: 1, now: 8)
        #expect(d.expireLeases(now: 17).isEmpty, "renewed at 8: held until 18")
        #expect(d.ask(now: 17).0 == .wait(retryAfter: 1, held: [1]))
        let expired = d.expireLeases(now: 18)
        #expect(expired.map(\.state) == [.waiting] && expired[0].note?.contains("the lease expired") == true)
        let handedOut4 = d.askedTrial(now: 19)
        let again = try #require(handedOut4)
        #expect(again.number == 1 && again.attempts == 2 && again.config == first.config, "the same trial, next attempt")
        #expect(throws: AskRefusal.leaseLost(trial: 1, attempt: 1, current: 2)) { try d.renewLease(trial: 1, attempt: 1, now: 19) }
        #expect(throws: AskRefusal.leaseLost(trial: 1, attempt: 1, current: 2)) { _ = try d.heldTrial(1, attempt: 1) }
        #expect(try d.heldTrial(1, attempt: 2).attempts == 2)
    }

    @Test func aTrialWhoseLeasesExpireMoreOftenThanItsRetriesAllowFails() throws {
        var d = StudyDriver(studyID: "a-1", spec: try spec(trials: 1), createdAt: 0, trials: [])
        let handedOut5 = d.askedTrial(now: 0, lease: 5)
        _ = try #require(handedOut5)
        let expired = d.expireLeases(now: 5)
        #expect(expired.map(\.state) == [.failed])
        #expect(expired[0].error?.contains("no attempt left (trial.max_retries: 0)") == true)
        #expect(d.leases.isEmpty && d.ask(now: 6).0 == .exhausted)
        #expect(d.stopReason(now: 6)?.state == .complete)
    }

    @Test func leasesAreClampedAndARestartedOptimizerGivesHeldTrialsAFreshLease() throws {
        var d = StudyDriver(studyID: "a-1", spec: try spec(), createdAt: 0, trials: [])
        let handedOut6 = d.askedTrial(now: 0, lease: 0.01)
        _ = try #require(handedOut6)
        #expect(d.leases[1]?.seconds == StudyDriver.leaseRange.lowerBound)
        var restarted = StudyDriver(studyID: "a-1", spec: d.spec, createdAt: 0, trials: d.trials)
        #expect(restarted.leases.isEmpty)
        #expect(restarted.expireLeases(now: 100).isEmpty, "its holder may still be alive")
        #expect(restarted.leases[1]?.expiresAt == 100 + StudyDriver.defaultLeaseSeconds)
    }

    @Test func pointsToEvaluateAreAskedFirstAndNotAgainAfterARestart() throws {
        let s = try SpecParser.parse("""
            name: a
            metric: loss
            mode: min
            space: {x: {uniform: [0.0, 1.0]}}
            budget: {max_trials: 3}
            points_to_evaluate: [{x: 0.5}]
            """, file: "a.yaml")
        var d = StudyDriver(studyID: "a-1", spec: s, createdAt: 0, trials: [])
        let handedOut7 = d.askedTrial(now: 0)
        #expect(try #require(handedOut7).config == ["x": .number(0.5)])
        var restarted = StudyDriver(studyID: "a-1", spec: s, createdAt: 0, trials: d.trials)
        let handedOut8 = restarted.askedTrial(now: 1)
        #expect(try #require(handedOut8).config != ["x": .number(0.5)])
    }

    @Test func theSchedulerPrunesAnAskedTrialThatReportsBelowItsRung() throws {
        let asha = "{type: asha, resource: epoch, max_t: 9, grace_period: 1, reduction_factor: 3}"
        var d = StudyDriver(studyID: "a-1", spec: try spec(scheduler: asha, trials: 8), createdAt: 0, trials: [])
        for n in 1...3 {
            let handedOut9 = d.askedTrial(now: 0)
            _ = try #require(handedOut9)
            let verdict = try d.reportAsked(trial: n, attempt: 1, metrics: .object(["loss": .number(1 - Double(n) * 0.1), "epoch": .number(1)]), now: 1)
            #expect(verdict == nil, "each result is the best at rung 1 so far: it goes on")
        }
        let handedOut10 = d.askedTrial(now: 2)
        _ = try #require(handedOut10)
        let verdict = try #require(try d.reportAsked(trial: 4, attempt: 1, metrics: .object(["loss": .number(0.95), "epoch": .number(1)]), now: 3))
        #expect(verdict.action == .prune && verdict.trial.note?.contains("rung") == true)
        #expect(d.trial(4)?.state == .running, "pruned only when told")
        #expect(throws: AskRefusal.leaseLost(trial: 4, attempt: 2, current: 1)) {
            _ = try d.reportAsked(trial: 4, attempt: 2, metrics: .object(["loss": .number(0.9), "epoch": .number(2)]), now: 3)
        }
    }

    @Test func aPausingSchedulerNeverJudgesAskedTrials() throws {
        let promotion = "{type: promotion, resource: epoch, max_t: 9, grace_period: 1}"
        var d = StudyDriver(studyID: "a-1", spec: try spec(trial: "trial: {command: [t]}", scheduler: promotion, concurrent: 1),
                            createdAt: 0, trials: [])
        let handedOut11 = d.askedTrial(now: 0)
        let asked = try #require(handedOut11)
        #expect(try d.reportAsked(trial: asked.number, attempt: 1, metrics: .object(["loss": .number(99), "epoch": .number(1)]), now: 1) == nil)
        tell(&d, asked.number, 99)
        #expect(d.fillSlots(now: 2).created.count == 1, "the fabric's trials go on")
    }
}
