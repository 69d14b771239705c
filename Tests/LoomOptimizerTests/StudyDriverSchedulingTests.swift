import LoomModel
@testable import LoomOptimizer
import LoomSearch
import LoomStore
import LoomWire
import Testing

/// A searcher that records the rung results it is told of.
struct RungRecorder: Searcher {
    var inner: RandomSearcher
    var rungs: [(trial: Double, budget: Double, value: Double)] = []

    mutating func suggest(pending: [Config]) -> Suggestion { inner.suggest(pending: pending) }
    mutating func observe(config: Config, value: Double?, state: TrialState) {}
    mutating func restore(history: [TrialOutcome]) { inner.restore(history: history) }
    mutating func observe(config: Config, budget: Double, value: Double) {
        rungs.append((config["x"]?.double ?? -1, budget, value))
    }
}

/// The driver between the optimizer and a scheduler: reports in, verdicts and slots out, and the
/// same state after a restart.
@Suite struct StudyDriverScheduling {
    static func spec(_ scheduler: String, trials: Int = 6, concurrent: Int = 2) throws -> StudySpec {
        try SpecParser.parse("""
            name: d
            metric: acc
            mode: max
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: {type: random, seed: 4}
            scheduler: \(scheduler)
            trial: {command: [t]}
            budget: {max_trials: \(trials), max_concurrent: \(concurrent)}
            """, file: "d.yaml")
    }

    /// A study run by hand: what the optimizer would do, with every report kept as the store would.
    struct Run {
        var driver: StudyDriver
        var reports: [ReportRecord] = []
        var clock = 0.0
        var log: [String] = []

        mutating func tick() -> Double {
            clock += 1
            return clock
        }

        /// Fills the slots and starts what they hold (stored, submitted, STARTED).
        mutating func fill() {
            let plan = driver.fillSlots(now: tick())
            for var trial in plan.created + plan.resumed {
                log.append(plan.created.contains(trial) ? "new \(trial.number)@\(trial.budget.map { "\($0)" } ?? "-")"
                                                        : "resume \(trial.number)@\(trial.budget!)")
                trial.state = .running
                trial.attempts += 1
                driver.update(trial)
            }
            for trial in plan.pruned { log.append("prune \(trial.number): \(trial.note!)") }
        }

        /// A report line of the running attempt; the verdict is carried out as the optimizer does.
        mutating func report(_ number: Int, epoch: Double, acc: Double) {
            let attempt = driver.trial(number)!.attempts
            let metrics = JSONValue.object(["epoch": .number(epoch), "acc": .number(acc)])
            reports.append(ReportRecord(study: "d-1", trial: number, attempt: attempt, lease: UInt64(number * 100 + attempt),
                                        seq: UInt64(reports.count + 1), metrics: metrics, time: tick()))
            guard let verdict = driver.report(trial: number, attempt: attempt, metrics: metrics, now: clock) else { return }
            log.append("\(verdict.action) \(number): \(verdict.trial.note!)")
            driver.update(verdict.trial)
        }
    }

    @Test func promotionASHAPausesResumesAndTellsTheSearcherItsRungs() throws {
        let spec = try Self.spec("{type: promotion, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}", trials: 3)
        var run = Run(driver: StudyDriver(studyID: "d-1", spec: spec, createdAt: 0, trials: []))
        run.driver.searcher = RungRecorder(inner: RandomSearcher(space: spec.space, seed: 4))
        run.fill()
        run.report(1, epoch: 1, acc: 0.2)
        run.fill()
        run.report(2, epoch: 1, acc: 0.6)
        run.fill()
        run.report(3, epoch: 0.5, acc: 0.1)
        run.report(3, epoch: 1, acc: 0.4)
        run.fill()
        #expect(run.log == [
            "new 1@1.0", "new 2@1.0", "pause 1: paused at rung 1 (epoch 1)", "new 3@1.0", "pause 2: paused at rung 1 (epoch 1)",
            "resume 2@2.0", "pause 3: paused at rung 1 (epoch 1)",
        ])
        #expect(run.driver.trial(2)!.note == "promoted from rung 1 (epoch 1) to epoch 2")
        #expect(run.driver.trial(1)!.state == .paused && run.driver.trial(1)!.value == 0.2)
        #expect(run.driver.stopReason(now: run.clock) == nil, "trial 2 runs")
        let recorder = try #require(run.driver.searcher as? RungRecorder)
        #expect(recorder.rungs.map(\.budget) == [1, 1, 1], "one observation per rung reached, none at epoch 0.5")
        #expect(recorder.rungs.map(\.value) == [0.2, 0.6, 0.4])

        // A late line of paused trial 1's attempt is ignored; trial 2 reaches its budget.
        #expect(run.driver.report(trial: 1, attempt: 1, metrics: .object(["epoch": .number(2), "acc": .number(0.9)]), now: 9) == nil)
        run.report(2, epoch: 2, acc: 0.7)
        run.fill()
        // Rung 2 holds only trial 2 (⌊1/2⌋ = 0); rung 1's top ⌊3/2⌋ = 1 is trial 2, promoted: the study is done.
        #expect(run.log.suffix(1) == ["pause 2: paused at rung 2 (epoch 2)"])
        #expect(run.driver.stopReason(now: run.clock)?.reason == "max_trials reached (3)")
        let left = run.driver.abandonPaused(now: run.clock, reason: "max_trials reached (3)")
        #expect(left.map(\.number) == [1, 2, 3] && left.allSatisfy { $0.state == .pruned })
        #expect(left[1].note == "paused at rung 2 (epoch 2); not resumed before the study ended (max_trials reached (3))")
    }

    @Test func stoppingASHAPrunesWithItsLastValue() throws {
        let spec = try Self.spec("{type: asha, resource: epoch, max_t: 9, grace_period: 1, reduction_factor: 3}", concurrent: 3)
        var run = Run(driver: StudyDriver(studyID: "d-1", spec: spec, createdAt: 0, trials: []))
        run.fill()
        run.report(1, epoch: 1, acc: 0.5)
        run.report(2, epoch: 1, acc: 0.6)
        run.report(3, epoch: 1, acc: 0.1)
        #expect(run.log == ["new 1@9.0", "new 2@9.0", "new 3@9.0",
                            "prune 3: pruned at rung 1 (epoch 1): not in the top 1/3 of 3 trials there"])
        let pruned = try #require(run.driver.report(trial: 3, attempt: 1, metrics: nil, now: 1) == nil ? run.driver.trial(3) : nil)
        #expect(pruned.state == .pruned && pruned.value == 0.1 && pruned.finishedAt != nil)
        run.fill()
        #expect(run.log.last == "new 4@9.0", "the pruned trial's slot is reused")
    }

    @Test func aRestartedDriverRebuildsTheSchedulerFromTheStoredReports() throws {
        let spec = try Self.spec("{type: promotion, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}",
                                 trials: 8, concurrent: 2)
        var run = Run(driver: StudyDriver(studyID: "d-1", spec: spec, createdAt: 0, trials: []))
        run.fill()
        run.report(1, epoch: 1, acc: 0.2)
        run.fill()
        run.report(2, epoch: 1, acc: 0.6)
        run.fill()                              // resumes 2 to epoch 2, creates 3
        run.report(2, epoch: 2, acc: 0.65)      // pauses at rung 2
        run.fill()                              // creates 4
        run.report(3, epoch: 1, acc: 0.7)
        // The optimizer restarts here: a new driver from the stored trials and reports.
        var restarted = Run(driver: StudyDriver(studyID: "d-1", spec: spec, createdAt: 0, trials: run.driver.trials,
                                                reports: run.reports), clock: run.clock)
        let a = try #require(run.driver.scheduler as? ASHAScheduler)
        let b = try #require(restarted.driver.scheduler as? ASHAScheduler)
        #expect(a.rungStates == [[.init(level: 1, recorded: [1, 2, 3], promoted: [2]), .init(level: 2, recorded: [2], promoted: [])]])
        #expect(b.rungStates == a.rungStates)
        #expect(b.pausedTrials == a.pausedTrials && b.targetRungs == a.targetRungs)
        // From here on both decide the same.
        for var r in [run, restarted] {
            r.log = []
            r.fill()
            r.report(4, epoch: 1, acc: 0.9)
            r.fill()
            r.report(3, epoch: 2, acc: 0.8)
            r.fill()
            #expect(r.log == ["resume 3@2.0", "pause 4: paused at rung 1 (epoch 1)", "resume 4@2.0",
                              "pause 3: paused at rung 2 (epoch 2)", "resume 3@4.0"])
        }
    }

    @Test func aResumedTrialWhoseNewAttemptHasNotReportedIsResumedByTheReplay() throws {
        let spec = try Self.spec("{type: hyperband, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2, brackets: 1}",
                                 trials: 4, concurrent: 4)
        var run = Run(driver: StudyDriver(studyID: "d-1", spec: spec, createdAt: 0, trials: []))
        run.fill()
        for (n, acc) in [(1, 0.1), (2, 0.4), (3, 0.3), (4, 0.2)] { run.report(n, epoch: 1, acc: acc) }
        run.fill()
        #expect(run.log.suffix(4) == ["resume 2@2.0", "resume 3@2.0", "prune 4: pruned at rung 1 (epoch 1): not in the top 2 of 4",
                                      "prune 1: pruned at rung 1 (epoch 1): not in the top 2 of 4"])
        var restarted = Run(driver: StudyDriver(studyID: "d-1", spec: spec, createdAt: 0, trials: run.driver.trials,
                                                reports: run.reports), clock: run.clock)
        restarted.fill()
        #expect(restarted.log.isEmpty, "nothing to resume twice, nothing to prune twice")
        restarted.report(2, epoch: 2, acc: 0.5)
        restarted.report(3, epoch: 2, acc: 0.45)
        restarted.fill()
        #expect(restarted.log == ["pause 2: paused at rung 2 (epoch 2) until its 2 trials have results",
                                  "pause 3: paused at rung 2 (epoch 2) until its 2 trials have results",
                                  "resume 2@4.0", "prune 3: pruned at rung 2 (epoch 2): not in the top 1 of 2"])
    }

    @Test func theSummaryCountsTrialsPerBudgetReached() {
        let trials = [1.0, 1, 3, 9, nil].enumerated().map { i, budget in
            TrialRecord(study: "d-1", number: i + 1, config: [:], createdAt: 0, budget: budget)
        }
        #expect(StudyDocuments.rungs(trials) == .array([
            .object(["budget": .number(1), "trials": .number(4)]),
            .object(["budget": .number(3), "trials": .number(2)]),
            .object(["budget": .number(9), "trials": .number(1)]),
        ]))
        #expect(StudyDocuments.rungs([TrialRecord(study: "d-1", number: 1, config: [:], createdAt: 0)]) == nil)
    }
}
