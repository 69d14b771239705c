import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

@Suite struct StudyDriverBehaviour {
    func spec(_ extra: String = "", trials: Int = 6, concurrent: Int = 2, searcher: String = "{type: random, seed: 4}") throws -> StudySpec {
        try SpecParser.parse("""
            name: d
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: \(searcher)
            trial: {command: [t]}
            budget: {max_trials: \(trials), max_concurrent: \(concurrent)}
            \(extra)
            """, file: "d.yaml")
    }

    func complete(_ driver: inout StudyDriver, _ number: Int, value: Double?, state: TrialState = .complete) {
        var t = driver.trial(number)!
        t.state = state
        t.value = value
        driver.update(t)
    }

    @Test func pointsToEvaluateComeFirstThenTheSearcherWithinTheConcurrency() throws {
        var d = StudyDriver(studyID: "d-1", spec: try spec("points_to_evaluate: [{x: 0.25}]"), createdAt: 0, trials: [])
        let first = d.fillSlots(now: 0).created
        #expect(first.map(\.number) == [1, 2])
        #expect(first[0].config == ["x": .number(0.25)] && first[0].source == "points_to_evaluate")
        #expect(first[1].source == "searcher")
        #expect(d.fillSlots(now: 0).created.isEmpty, "two are running already")
        complete(&d, 1, value: 0.5)
        #expect(d.fillSlots(now: 1).created.map(\.number) == [3])
    }

    @Test func theStudyEndsWhenMaxTrialsAreFinishedAndNotBefore() throws {
        var d = StudyDriver(studyID: "d-1", spec: try spec(trials: 3, concurrent: 3), createdAt: 0, trials: [])
        #expect(d.fillSlots(now: 0).created.count == 3)
        complete(&d, 1, value: 0.3)
        complete(&d, 2, value: nil, state: .failed)
        #expect(d.stopReason(now: 1) == nil, "trial 3 still runs")
        #expect(d.fillSlots(now: 1).created.isEmpty, "the budget is used")
        complete(&d, 3, value: 0.1)
        let end = try #require(d.stopReason(now: 2))
        #expect(end.state == .complete && end.reason == "max_trials reached (3)")
        #expect(d.best?.number == 3)
    }

    @Test func stopAtFailFastAndWallclockEndTheStudy() throws {
        var reached = StudyDriver(studyID: "d-1", spec: try spec(trials: 50).with { $0.budget.stopAt = 0.2 }, createdAt: 0, trials: [])
        _ = reached.fillSlots(now: 0).created
        complete(&reached, 1, value: 0.15)
        #expect(reached.stopReason(now: 1)?.reason.hasPrefix("stop_at reached: trial 1") == true)

        var failing = StudyDriver(studyID: "d-1", spec: try spec(trials: 50).with { $0.budget.failFast = true }, createdAt: 0, trials: [])
        _ = failing.fillSlots(now: 0).created
        var t = failing.trial(2)!
        t.state = .failed
        t.error = "exit code 3"
        failing.update(t)
        #expect(failing.stopReason(now: 1)?.state == .failed)
        #expect(failing.stopReason(now: 1)?.reason == "fail_fast: trial 2 failed: exit code 3")

        let slow = StudyDriver(studyID: "d-1", spec: try spec(trials: 50).with { $0.budget.maxWallclockSeconds = 60 }, createdAt: 100, trials: [])
        #expect(slow.stopReason(now: 159) == nil)
        #expect(slow.stopReason(now: 160)?.reason == "max_wallclock reached after 60 s")
    }

    @Test func aRestartedDriverContinuesTheSameSequenceWithoutRepeats() throws {
        let s = try spec(trials: 10, concurrent: 4)
        var straight = StudyDriver(studyID: "d-1", spec: s, createdAt: 0, trials: [])
        var all = straight.fillSlots(now: 0).created
        for n in 1...4 { complete(&straight, n, value: Double(n)) }
        all += straight.fillSlots(now: 1).created
        // The same study, stopped after its first four trials were created and two finished.
        var before = StudyDriver(studyID: "d-1", spec: s, createdAt: 0, trials: [])
        var stored = before.fillSlots(now: 0).created
        stored[0].state = .complete
        stored[1].state = .complete
        var resumed = StudyDriver(studyID: "d-1", spec: s, createdAt: 0, trials: stored)
        complete(&resumed, 3, value: 3)
        complete(&resumed, 4, value: 4)
        let next = resumed.fillSlots(now: 1).created
        #expect(next.map(\.config) == Array(all.dropFirst(4)).map(\.config), "the same proposals, in order")
    }

    /// A TPE study with a warm start, results out of creation order and trials still running: the
    /// driver rebuilt from the stored trials (searcher restored, warm start observed again)
    /// proposes exactly what the uninterrupted driver proposes.
    @Test func aRestartedModelBasedStudyProposesWhatTheUninterruptedOneWould() throws {
        let s = try spec("points_to_evaluate: [{x: 0.9}]", trials: 20, concurrent: 3,
                         searcher: "{type: tpe, seed: 2, n_startup_trials: 3}")
        var live = StudyDriver(studyID: "d-1", spec: s, createdAt: 0, trials: [])
        _ = live.fillSlots(now: 0).created
        for (round, order) in [[2, 1], [4, 3], [6, 5], [8, 7]].enumerated() {
            for n in order { complete(&live, n, value: abs(live.trial(n)!.config["x"]!.double! - 0.3)) }
            _ = live.fillSlots(now: Double(round + 1))
        }
        var resumed = StudyDriver(studyID: "d-1", spec: s, createdAt: 0, trials: live.trials)
        for n in [9, 10] {
            complete(&live, n, value: 0.5)
            complete(&resumed, n, value: 0.5)
        }
        let expected = live.fillSlots(now: 9).created
        #expect(expected.count == 2)
        #expect(resumed.fillSlots(now: 9).created.map(\.config) == expected.map(\.config))
    }

    @Test func askedTrialsCountTowardsTheBudget() throws {
        var d = StudyDriver(studyID: "d-1", spec: try spec(trials: 2, concurrent: 1), createdAt: 0, trials: [])
        let handedOut = d.askedTrial(now: 0)
        let asked = try #require(handedOut)
        #expect(asked.source == "ask" && asked.state == .running)
        #expect(d.fillSlots(now: 0).created.isEmpty, "the asked trial occupies the one concurrent slot")
        complete(&d, 1, value: 0.4)
        #expect(d.fillSlots(now: 1).created.count == 1)
        #expect(d.ask(now: 1).0 == .exhausted, "both trials of the budget exist, and the fabric runs trial 2")
    }

    @Test func aFinalWithoutTheMetricIsAnErrorNamingTheKeysReported() throws {
        let d = StudyDriver(studyID: "d-1", spec: try spec(), createdAt: 0, trials: [])
        guard case .failure(let error) = d.value(fromFinal: .object(["metrics": .object(["acc": .number(0.9)])])) else {
            Issue.record("a final without loss was accepted")
            return
        }
        #expect(error.message == #"the final metrics hold no finite "loss" (reported keys: acc)"#)
        guard case .success(let (value, _)) = d.value(fromFinal: .object(["metrics": .object(["loss": .number(0.25)])])) else {
            Issue.record("a final with loss was refused")
            return
        }
        #expect(value == 0.25)
    }
}

extension StudySpec {
    /// A copy changed by `change`.
    func with(_ change: (inout StudySpec) -> Void) -> StudySpec {
        var copy = self
        change(&copy)
        return copy
    }
}

@Suite struct FailureMessages {
    @Test func aFailureQuotesTheLastLineOfStderr() {
        let payload = JSONValue.object(["error": .string("exit code 2"),
                                        "stderr_tail": .string("python3: can't open file '/x/train.py': [Errno 2] No such file or directory\n\n")])
        #expect(StudyDriver.failureMessage(payload) == "exit code 2: python3: can't open file '/x/train.py': [Errno 2] No such file or directory")
        #expect(StudyDriver.failureMessage(.object(["error": .string("killed by signal 9"), "stderr_tail": .string("")])) == "killed by signal 9")
        #expect(StudyDriver.failureMessage(nil) == "attempt failed")
        let long = String(repeating: "x", count: 1000)
        #expect(StudyDriver.failureMessage(.object(["error": .string("exit code 1"), "stderr_tail": .string(long)])).count == "exit code 1: …".count + 300)
    }
}
