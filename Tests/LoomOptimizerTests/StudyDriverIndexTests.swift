import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// The driver's incrementally kept active index and state counts agree, after every step, with
/// a scan of all its trials: creation, start, pause, resume, prune, failure, `ask`, restart.
@Suite struct StudyDriverIndex {
    /// What a scan of every trial says; the index and the counts must say the same.
    static func expectConsistent(_ driver: StudyDriver, _ step: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let scanned = driver.trials.filter { !$0.state.isFinished && $0.state != .paused }.map(\.number)
        #expect(driver.activeNumbers == scanned, "active index after \(step)", sourceLocation: sourceLocation)
        #expect(driver.active.map(\.number) == scanned, "active trials after \(step)", sourceLocation: sourceLocation)
        let counts = driver.trials.reduce(into: [TrialState: Int]()) { counts, t in counts[t.state, default: 0] += 1 }
        #expect(driver.stateCounts == counts, "state counts after \(step)", sourceLocation: sourceLocation)
    }

    @Test func theIndexFollowsPausesResumesPrunesFailuresAndAsk() throws {
        let spec = try StudyDriverScheduling.spec("{type: promotion, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}",
                                                  trials: 5, concurrent: 2)
        var run = StudyDriverScheduling.Run(driver: StudyDriver(studyID: "d-1", spec: spec, createdAt: 0, trials: []))
        Self.expectConsistent(run.driver, "creation")
        run.fill()
        Self.expectConsistent(run.driver, "the first fill")
        #expect(run.driver.activeNumbers == [1, 2])
        run.report(1, epoch: 1, acc: 0.2)
        Self.expectConsistent(run.driver, "trial 1 paused")
        #expect(run.driver.activeNumbers == [2], "a paused trial is not active")
        run.fill()
        run.report(2, epoch: 1, acc: 0.6)
        run.fill()
        Self.expectConsistent(run.driver, "trial 2 paused and resumed")
        #expect(run.driver.activeNumbers == [2, 3], "a resumed trial goes back in number order")
        let now = run.tick()
        let handedOut = run.driver.askedTrial(now: now)
        let asked = try #require(handedOut)
        Self.expectConsistent(run.driver, "ask")
        #expect(run.driver.activeNumbers == [2, 3, asked.number])
        var failed = run.driver.trial(3)!
        failed.state = .failed
        run.driver.update(failed)
        Self.expectConsistent(run.driver, "trial 3 failed")
        var told = asked
        told.state = .complete
        told.value = 0.5
        run.driver.update(told)
        Self.expectConsistent(run.driver, "the asked trial told")
        #expect(run.driver.activeNumbers == [2])
        let restarted = StudyDriver(studyID: "d-1", spec: spec, createdAt: 0, trials: run.driver.trials.reversed(),
                                    reports: run.reports)
        Self.expectConsistent(restarted, "a restart from the stored trials")
        #expect(restarted.activeNumbers == run.driver.activeNumbers && restarted.stateCounts == run.driver.stateCounts)
        _ = run.driver.abandonPaused(now: run.tick(), reason: "the study ended")
        Self.expectConsistent(run.driver, "abandoning the paused trials")
        #expect(run.driver.stateCounts[.paused] == nil, "a state no trial is in has no count")
    }
}
