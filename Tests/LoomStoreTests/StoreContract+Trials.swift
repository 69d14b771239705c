import LoomModel
import LoomStore
import LoomWire
import Testing

/// Trials: keys, order, updates, and queries by state.
extension StoreContract {
    @Test(arguments: StoreKind.allCases)
    func trialsReadBackInNumberOrder(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            try store.createStudy(Fixture.studyRecord("other-1"))
            for number in [3, 1, 10, 2] { try store.insertTrial(Fixture.trial(number)) }
            try store.insertTrial(Fixture.trial(1, study: "other-1"))
            #expect(try store.trials(study: Fixture.study).map(\.number) == [1, 2, 3, 10])
            #expect(try store.trials(study: "other-1") == [Fixture.trial(1, study: "other-1")])
            #expect(try store.trial(study: Fixture.study, number: 3) == Fixture.trial(3))
            #expect(try store.trial(study: Fixture.study, number: 4) == nil)
            #expect(try store.trials(study: "absent-1").isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func everyTrialFieldRoundTrips(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            let trial = TrialRecord(
                study: Fixture.study, number: 4, config: ["lr": .number(0.003)], state: .failed, source: "ask",
                attempts: 3, value: -1.25e-7, metrics: .object(["loss": .number(-1.25e-7), "epoch": .number(12)]),
                worker: "gpu-box-2", error: "exit status 137 (killed)", createdAt: 1_700_000_000.125,
                startedAt: 1_700_000_001.5, finishedAt: 1_700_003_600.75, budget: 2.5,
                note: "pruned at rung 3 (epoch 9): not in the top 1/3 of 4 trials there", restoreFrom: 2)
            try store.insertTrial(trial)
            #expect(try store.trial(study: Fixture.study, number: 4) == trial)
            var paused = trial
            paused.state = .paused
            paused.budget = nil
            paused.note = nil
            paused.restoreFrom = nil
            try store.updateTrial(paused)
            #expect(try store.trial(study: Fixture.study, number: 4) == paused, "cleared fields read back as nil")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func duplicateTrialNumberIsConflictAndKeepsTheFirst(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            try store.createStudy(Fixture.studyRecord("other-1"))
            try store.insertTrial(Fixture.trial(3))
            #expect(throws: StoreError.conflict("trial \(Fixture.study)/3")) {
                try store.insertTrial(Fixture.trial(3, config: ["lr": .number(0.5)]))
            }
            #expect(try store.trials(study: Fixture.study) == [Fixture.trial(3)])
            try store.insertTrial(Fixture.trial(3, study: "other-1"))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trialOfUnknownStudyIsNotFound(kind: StoreKind) throws {
        try kind.withStore { store in
            #expect(throws: StoreError.notFound("study ghost-1")) {
                try store.insertTrial(Fixture.trial(1, study: "ghost-1"))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func updateTrialReplacesItsRow(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store, trials: 1...2)
            var trial = Fixture.trial(2)
            trial.state = .running
            trial.attempts = 1
            trial.worker = "w-1"
            trial.startedAt = 1_700_000_500
            trial.metrics = .object(["loss": .number(0.9)])
            try store.updateTrial(trial)
            #expect(try store.trials(study: Fixture.study) == [Fixture.trial(1), trial])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func updateUnknownTrialIsNotFound(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            #expect(throws: StoreError.notFound("trial \(Fixture.study)/9")) { try store.updateTrial(Fixture.trial(9)) }
            #expect(try store.trials(study: Fixture.study) == [Fixture.trial(1)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func trialsByStateAndCounts(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            let states: [TrialState] = [.running, .complete, .running, .waiting, .failed, .running]
            for (index, state) in states.enumerated() {
                try store.insertTrial(Fixture.trial(index + 1, state: state))
            }
            #expect(try store.trials(study: Fixture.study, state: .running).map(\.number) == [1, 3, 6])
            #expect(try store.trials(study: Fixture.study, state: .paused).isEmpty)
            #expect(try store.trialCounts(study: Fixture.study) == [.running: 3, .complete: 1, .waiting: 1, .failed: 1])
            #expect(try store.trialCounts(study: "absent-1") == [:])
        }
    }
}
