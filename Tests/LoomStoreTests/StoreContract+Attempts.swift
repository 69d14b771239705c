import LoomModel
import LoomStore
import LoomWire
import Testing

/// Attempts, reports and results: upserts, idempotence, once-only results.
extension StoreContract {
    @Test(arguments: StoreKind.allCases)
    func attemptsUpsertAndReadInNumberOrder(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store, trials: 1...2)
            try store.recordAttempt(Fixture.attempt(2, lease: 9))
            try store.recordAttempt(Fixture.attempt(1, lease: 7))
            try store.recordAttempt(Fixture.attempt(1, trial: 2, lease: 8))
            var lost = Fixture.attempt(1, lease: 7, state: .lost)
            lost.error = "worker w-1 lost"
            lost.finishedAt = 1_700_000_900
            try store.recordAttempt(lost)
            #expect(try store.attempts(study: Fixture.study, trial: 1) == [lost, Fixture.attempt(2, lease: 9)])
            #expect(try store.attempts(study: Fixture.study, trial: 2) == [Fixture.attempt(1, trial: 2, lease: 8)])
            #expect(try store.attempts(study: Fixture.study, trial: 3).isEmpty)
        }
    }

    /// A retry's result is recorded with the trial's first start time at hand: the attempt keeps
    /// the time its own row was first written (the export's `attempt_log[n].started_at`).
    @Test(arguments: StoreKind.allCases)
    func anAttemptKeepsTheStartTimeOfItsFirstRecord(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store, trials: 1...1)
            var second = Fixture.attempt(2, lease: 9)
            second.startedAt = 1_700_000_500
            try store.recordAttempt(second)
            let (trial, attempt) = Self.completed(value: 0.25)
            var result = attempt
            result.attempt = 2
            result.lease = 9
            result.startedAt = 1_700_000_000
            #expect(try store.recordResult(trial: trial, attempt: result))
            #expect(try store.attempts(study: Fixture.study, trial: 1).first { $0.attempt == 2 }?.startedAt == 1_700_000_500)
            var failedAgain = second
            failedAgain.state = .failed
            failedAgain.startedAt = 1
            try store.recordAttempt(failedAgain)
            #expect(try store.attempts(study: Fixture.study, trial: 1).first { $0.attempt == 2 }?.startedAt == 1_700_000_500)
        }
    }

    /// A trial that ends ends its attempts: one still `running` (a backup copy that lost, one
    /// whose ENDED never arrived, one a study's end cancelled) is closed as `cancelled`.
    @Test(arguments: StoreKind.allCases)
    func recordingAResultClosesTheTrialsOtherRunningAttempts(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store, trials: 1...2)
            let (trial, attempt) = Self.completed(value: 0.25)
            var lost = Fixture.attempt(2, lease: 8, state: .lost)
            lost.finishedAt = 1_700_000_300
            try store.recordAttempt(lost)
            try store.recordAttempt(Fixture.attempt(3, lease: 9))
            try store.recordAttempt(Fixture.attempt(1, trial: 2, lease: 10))
            try store.recordAttempt(Fixture.attempt(1, lease: 7))
            #expect(try store.recordResult(trial: trial, attempt: attempt))
            var closed = Fixture.attempt(3, lease: 9, state: .cancelled)
            closed.error = "still running when the trial ended (complete); the broker cancelled it"
            closed.finishedAt = trial.finishedAt
            #expect(try store.attempts(study: Fixture.study, trial: 1) == [attempt, lost, closed])
            #expect(try store.attempts(study: Fixture.study, trial: 2) == [Fixture.attempt(1, trial: 2, lease: 10)],
                    "another trial's attempts are untouched")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func attemptOfUnknownTrialIsNotFound(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            #expect(throws: StoreError.notFound("trial \(Fixture.study)/5")) {
                try store.recordAttempt(Fixture.attempt(1, trial: 5))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func recordReportIsIdempotentByLeaseAndSeq(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let first = Fixture.report(seq: 1)
            #expect(try store.recordReport(first))
            #expect(try !store.recordReport(first))
            #expect(try !store.recordReport(Fixture.report(seq: 1, metrics: .object(["loss": .number(0.1)]))))
            #expect(try store.recordReport(Fixture.report(seq: 1, lease: 8)))
            #expect(try store.reports(study: Fixture.study, trial: 1) == [first, Fixture.report(seq: 1, lease: 8)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func reportsReadInAttemptThenSeqOrder(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store, trials: 1...2)
            let checkpoint = ReportRecord(study: Fixture.study, trial: 1, attempt: 1, lease: 7, seq: 2, kind: "checkpoint",
                                          metrics: .object(["epoch": .number(2), "checkpoint": .bool(true)]), time: 5)
            let unordered = [
                Fixture.report(seq: 2, attempt: 2, lease: 9), Fixture.report(seq: 3), Fixture.report(seq: 1, attempt: 2, lease: 9),
                checkpoint, Fixture.report(seq: 1), Fixture.report(seq: 1, trial: 2),
            ]
            for report in unordered { try store.recordReport(report) }
            #expect(try store.reports(study: Fixture.study, trial: 1) == [
                Fixture.report(seq: 1), checkpoint, Fixture.report(seq: 3),
                Fixture.report(seq: 1, attempt: 2, lease: 9), Fixture.report(seq: 2, attempt: 2, lease: 9),
            ])
            #expect(try store.reports(study: Fixture.study, trial: 2) == [Fixture.report(seq: 1, trial: 2)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func leasesAndSeqsKeepTheirFullRange(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let high = UInt64(Int64.max) + 1
            try store.recordAttempt(Fixture.attempt(1, lease: .max))
            try store.recordReport(Fixture.report(seq: high, lease: .max))
            #expect(try store.attempts(study: Fixture.study, trial: 1).map(\.lease) == [.max])
            #expect(try store.reports(study: Fixture.study, trial: 1).map(\.seq) == [high])
            #expect(try !store.recordReport(Fixture.report(seq: high, lease: .max)))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func reportOfUnknownTrialIsNotFound(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            #expect(throws: StoreError.notFound("trial \(Fixture.study)/2")) {
                try store.recordReport(Fixture.report(seq: 1, trial: 2))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func recordResultWritesTrialAndAttemptTogether(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            try store.recordAttempt(Fixture.attempt(1))
            let (trial, attempt) = Self.completed(value: 0.25)
            #expect(try store.recordResult(trial: trial, attempt: attempt))
            #expect(try store.trial(study: Fixture.study, number: 1) == trial)
            #expect(try store.attempts(study: Fixture.study, trial: 1) == [attempt])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func secondResultChangesNothingEvenWithAnotherValue(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let (trial, attempt) = Self.completed(value: 0.25)
            #expect(try store.recordResult(trial: trial, attempt: attempt))
            var late = Self.completed(value: 0.01)
            late.trial.state = .failed
            late.attempt.state = .failed
            late.attempt.error = "late duplicate"
            #expect(try !store.recordResult(trial: late.trial, attempt: late.attempt))
            var retry = Fixture.attempt(2, lease: 11, state: .complete)
            retry.finishedAt = 1
            #expect(try !store.recordResult(trial: late.trial, attempt: retry))
            #expect(try store.trial(study: Fixture.study, number: 1) == trial)
            #expect(try store.attempts(study: Fixture.study, trial: 1) == [attempt])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func resultForATrialFinishedByUpdateIsRefused(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let cancelled = Fixture.trial(1, state: .cancelled)
            try store.updateTrial(cancelled)
            #expect(try !store.recordResult(trial: Self.completed(value: 1).trial, attempt: nil))
            #expect(try store.trial(study: Fixture.study, number: 1) == cancelled)
            #expect(try store.attempts(study: Fixture.study, trial: 1).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func resultWithoutAttemptWritesOnlyTheTrial(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let pruned = Fixture.trial(1, state: .pruned)
            #expect(try store.recordResult(trial: pruned, attempt: nil))
            #expect(try store.trial(study: Fixture.study, number: 1) == pruned)
            #expect(try store.attempts(study: Fixture.study, trial: 1).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func resultForUnknownTrialIsNotFound(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            let (trial, attempt) = Self.completed(value: 0.25)
            #expect(throws: StoreError.notFound("trial \(Fixture.study)/1")) {
                try store.recordResult(trial: trial, attempt: attempt)
            }
            #expect(try store.attempts(study: Fixture.study, trial: 1).isEmpty)
        }
    }

    /// Trial 1 complete with `value`, and its finished first attempt.
    static func completed(value: Double) -> (trial: TrialRecord, attempt: AttemptRecord) {
        var trial = Fixture.trial(1, state: .complete)
        trial.attempts = 1
        trial.value = value
        trial.metrics = .object(["loss": .number(value), "epoch": .number(10)])
        trial.worker = "w-1"
        trial.startedAt = 1_700_000_201
        trial.finishedAt = 1_700_003_801
        var attempt = Fixture.attempt(1, state: .complete)
        attempt.finishedAt = 1_700_003_801
        return (trial, attempt)
    }
}
