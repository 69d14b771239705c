import LoomModel
import LoomStore
import Testing

/// The behaviour every `StudyStore` promises, written once and run against each `StoreKind`.
/// Tests are split by feature across `StoreContract+*.swift`.
@Suite("StoreContract")
struct StoreContract {
    @Test(arguments: StoreKind.allCases)
    func createdStudyReadsBackEqual(kind: StoreKind) throws {
        try kind.withStore { store in
            var study = Fixture.studyRecord()
            study.specText = "name: résumé-β 🧪\nspace:\n  lr: {type: float, low: 1e-5, high: 1}\n"
            study.state = .failed
            study.finishedAt = 1_700_000_999.5
            study.reason = "fail_fast: trial 3 failed"
            try store.createStudy(study)
            #expect(try store.study(study.id) == study)
            #expect(try store.study("absent-1") == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func studiesListInCreationOrder(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord("c-1", createdAt: 30))
            try store.createStudy(Fixture.studyRecord("a-1", createdAt: 10))
            try store.createStudy(Fixture.studyRecord("tie-2", createdAt: 20))
            try store.createStudy(Fixture.studyRecord("tie-1", createdAt: 20))
            #expect(try store.studies().map(\.id) == ["a-1", "tie-2", "tie-1", "c-1"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func duplicateStudyIDIsConflictAndKeepsTheFirst(kind: StoreKind) throws {
        try kind.withStore { store in
            let first = Fixture.studyRecord()
            try store.createStudy(first)
            var second = first
            second.name = "other"
            #expect(throws: StoreError.conflict("study \(first.id)")) { try store.createStudy(second) }
            #expect(try store.studies() == [first])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func updateStudyReplacesItsRow(kind: StoreKind) throws {
        try kind.withStore { store in
            var study = Fixture.studyRecord()
            try store.createStudy(study)
            study.state = .complete
            study.finishedAt = 1_700_001_000
            study.reason = "max_trials reached"
            try store.updateStudy(study)
            #expect(try store.study(study.id) == study)
            #expect(try store.studies() == [study])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func updateUnknownStudyIsNotFound(kind: StoreKind) throws {
        try kind.withStore { store throws in
            #expect(throws: StoreError.notFound("study ghost-1")) {
                try store.updateStudy(Fixture.studyRecord("ghost-1"))
            }
            #expect(try store.studies().isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func workerEventsAreTheLatestOldestFirst(kind: StoreKind) throws {
        try kind.withStore { store in
            let events = [
                WorkerEventRecord(time: 10, worker: "w1", event: "joined"),
                WorkerEventRecord(time: 30, worker: "w1", event: "lost", detail: "no heartbeat for 10 s"),
                WorkerEventRecord(time: 20, worker: "w2", event: "joined"),
                WorkerEventRecord(time: 30, worker: "w2", event: "left"),
                WorkerEventRecord(time: 40, worker: "w3", event: "joined", detail: "gpu=1"),
            ]
            for event in events { try store.recordWorkerEvent(event) }
            #expect(try store.workerEvents(limit: 3) == [events[1], events[3], events[4]])
            #expect(try store.workerEvents(limit: 100) == [events[0], events[2], events[1], events[3], events[4]])
            #expect(try store.workerEvents(limit: 0).isEmpty)
        }
    }
}
