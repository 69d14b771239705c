import LoomModel
import LoomStore
import LoomWire
import Testing

/// Group commit: many calls, one transaction.
extension StoreContract {
    @Test(arguments: StoreKind.allCases)
    func aBatchCommitsEveryWriteAndReadsItsOwnWrites(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            let seen = try store.batch {
                for n in 1...3 { try store.insertTrial(Fixture.trial(n)) }
                try store.recordAttempt(Fixture.attempt(1, trial: 2))
                return try store.trials(study: Fixture.study).map(\.number)
            }
            #expect(seen == [1, 2, 3])
            #expect(try store.trials(study: Fixture.study).map(\.number) == [1, 2, 3])
            #expect(try store.attempts(study: Fixture.study, trial: 2).count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aFailingCallInsideABatchUndoesOnlyItself(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            try store.batch {
                try store.insertTrial(Fixture.trial(1))
                #expect(throws: StoreError.conflict("trial \(Fixture.study)/1")) { try store.insertTrial(Fixture.trial(1)) }
                #expect(throws: StoreError.notFound("trial \(Fixture.study)/9")) {
                    try store.recordAttempt(Fixture.attempt(1, trial: 9))
                }
                try store.insertTrial(Fixture.trial(2))
            }
            #expect(try store.trials(study: Fixture.study).map(\.number) == [1, 2])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aBatchWhoseBodyThrowsLeavesNothingBehind(kind: StoreKind) throws {
        struct Abandon: Error {}
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            try store.insertTrial(Fixture.trial(1))
            #expect(throws: Abandon.self) {
                try store.batch {
                    try store.insertTrial(Fixture.trial(2))
                    var done = Fixture.trial(1)
                    done.state = .complete
                    done.value = 0.5
                    try store.recordResult(trial: done, attempt: nil)
                    throw Abandon()
                }
            }
            #expect(try store.trials(study: Fixture.study) == [Fixture.trial(1)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aRolledBackBatchPutsBackEveryKindOfRowItChanged(kind: StoreKind) throws {
        struct Abandon: Error {}
        try kind.withStore { store in
            let index = try Self.index(store)
            try store.createStudy(Fixture.studyRecord())
            try store.insertTrial(Fixture.trial(1))
            try store.recordAttempt(Fixture.attempt(1))
            try index.recordCheckpoint(Self.checkpoint(attempt: 1, seq: 1, blobs: ["a", "b"]))
            let logs = try #require(store as? any TrialLogStore)
            let line = LogLineRecord(study: Fixture.study, trial: 1, attempt: 1, stream: "stdout", line: 1, text: "x", feedSeq: 4)
            try logs.recordLogLines([line])
            #expect(throws: Abandon.self) {
                try store.batch {
                    var study = Fixture.studyRecord()
                    study.state = .complete
                    try store.updateStudy(study)
                    try store.insertTrial(Fixture.trial(2))
                    try store.recordReport(Fixture.report(seq: 1))
                    try store.recordWorkerEvent(WorkerEventRecord(time: 1, worker: "w", event: "joined"))
                    _ = try index.keepCheckpoint(Self.checkpoint(attempt: 1, seq: 2, blobs: ["c"]), report: Fixture.report(seq: 2), keep: 1)
                    try logs.recordLogLines([LogLineRecord(study: Fixture.study, trial: 1, attempt: 1, stream: "stdout", line: 2,
                                                           text: "y", feedSeq: 9)])
                    var done = Fixture.trial(1)
                    done.state = .complete
                    done.value = 0.5
                    try store.recordResult(trial: done, attempt: nil)
                    throw Abandon()
                }
            }
            #expect(try store.study(Fixture.study) == Fixture.studyRecord())
            #expect(try store.trials(study: Fixture.study) == [Fixture.trial(1)])
            #expect(try store.attempts(study: Fixture.study, trial: 1) == [Fixture.attempt(1)])
            #expect(try store.reports(study: Fixture.study, trial: 1).isEmpty)
            #expect(try store.workerEvents(limit: 10).isEmpty)
            #expect(try index.checkpoints(study: Fixture.study, trial: 1).map(\.seq) == [1])
            #expect(try index.isReferenced(blob: "a") && index.isReferenced(blob: "b"))
            #expect(try !index.isReferenced(blob: "c"))
            #expect(try logs.logLines(study: Fixture.study, trial: 1, attempt: nil, stream: nil, offset: 0, limit: 10) == [line])
            #expect(try logs.logFeedPosition() == 4)
        }
    }
}
