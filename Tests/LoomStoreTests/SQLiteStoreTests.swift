import Foundation
import LoomModel
@testable import LoomStore
import Testing

/// What only a file can promise: durability settings, persistence, sharing between processes'
/// connections, read-only opening.
@Suite("SQLiteStore")
struct SQLiteStoreTests {
    @Test
    func walModeFullSyncAndForeignKeysAreOn() throws {
        try withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
            #expect(try store.pragma("journal_mode") == "wal")
            #expect(try store.pragma("synchronous") == "2")  // FULL
            #expect(try store.pragma("foreign_keys") == "1")
            #expect(try store.pragma("busy_timeout") == "5000")
            #expect(try store.pragma("fullfsync") == "1")
        }
    }

    @Test
    func dataSurvivesCloseAndReopen() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let (trial, attempt) = StoreContract.completed(value: 0.125)
            do {
                let store = try SQLiteStore(path: path)
                try Fixture.seed(store)
                try store.recordReport(Fixture.report(seq: 1))
                try store.recordResult(trial: trial, attempt: attempt)
                try store.recordWorkerEvent(WorkerEventRecord(time: 1, worker: "w-1", event: "joined"))
                try store.close()
                #expect(throws: StoreError.self) { try store.studies() }
            }
            let reopened = try SQLiteStore(path: path)
            #expect(try reopened.studies() == [Fixture.studyRecord()])
            #expect(try reopened.trials(study: Fixture.study) == [trial])
            #expect(try reopened.attempts(study: Fixture.study, trial: 1) == [attempt])
            #expect(try reopened.reports(study: Fixture.study, trial: 1) == [Fixture.report(seq: 1)])
            #expect(try reopened.workerEvents(limit: 10).map(\.event) == ["joined"])
            #expect(try !reopened.recordResult(trial: StoreContract.completed(value: 9).trial, attempt: nil))
        }
    }

    @Test
    func readerOpenedBesideAWriterSeesEachCommit() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let writer = try SQLiteStore(path: path)
            try writer.createStudy(Fixture.studyRecord())
            let reader = try SQLiteStore(path: path, readOnly: true)
            #expect(reader.isReadOnly)
            #expect(try reader.trials(study: Fixture.study).isEmpty)
            try writer.insertTrial(Fixture.trial(1))
            #expect(try reader.trials(study: Fixture.study) == [Fixture.trial(1)])
            try writer.recordResult(trial: StoreContract.completed(value: 0.5).trial, attempt: nil)
            #expect(try reader.trialCounts(study: Fixture.study) == [.complete: 1])
            let secondWriter = try SQLiteStore(path: path)
            try secondWriter.insertTrial(Fixture.trial(2))
            #expect(try reader.trials(study: Fixture.study).map(\.number) == [1, 2])
            #expect(try writer.trials(study: Fixture.study).map(\.number) == [1, 2])
        }
    }

    @Test
    func readOnlyStoreRefusesWritesNamingTheCall() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            try Fixture.seed(try SQLiteStore(path: path))
            let reader = try SQLiteStore(path: path, readOnly: true)
            let error = try #require(throws: StoreError.self) { try reader.insertTrial(Fixture.trial(2)) }
            guard case .database(let message) = error else { Issue.record("got \(error)"); return }
            #expect(message.hasPrefix("insertTrial(trial \(Fixture.study)/2): attempt to write a readonly database"))
            #expect(try reader.trials(study: Fixture.study) == [Fixture.trial(1)])
        }
    }

    @Test
    func readOnlyOnAMissingFileSaysHowToGetOne() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("nothing/here.sqlite").path
            #expect(throws: StoreError.notFound("no store at \(path): run a study first or pass --store")) {
                try SQLiteStore(path: path, readOnly: true)
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test
    func openingInAMissingDirectoryCreatesIt() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("a/b/c/store.sqlite").path
            try Fixture.seed(try SQLiteStore(path: path))
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(try SQLiteStore(path: path, readOnly: true).trials(study: Fixture.study).count == 1)
        }
    }

    @Test
    func aFileThatIsNotADatabaseIsADatabaseErrorNamingIt() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("notes.txt").path
            try Data(String(repeating: "not sqlite ", count: 100).utf8).write(to: URL(fileURLWithPath: path))
            for readOnly in [false, true] {
                let error = try #require(throws: StoreError.self) { try SQLiteStore(path: path, readOnly: readOnly) }
                guard case .database(let message) = error else { Issue.record("got \(error)"); continue }
                #expect(message.contains(path) && message.contains("not a database"))
            }
        }
    }

    @Test
    func failuresNameTheCall() throws {
        try withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
            try Fixture.seed(store)
            try store.close()
            let error = try #require(throws: StoreError.self) { try store.trial(study: Fixture.study, number: 1) }
            guard case .database(let message) = error else { Issue.record("got \(error)"); return }
            #expect(message.hasPrefix("trial(trial \(Fixture.study)/1): "))
        }
    }

    @Test
    func resultIsAtomicWhenTheAttemptWriteFails() throws {
        try withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
            try Fixture.seed(store)
            try store.execute(sql: """
                CREATE TRIGGER refuse_attempts BEFORE INSERT ON attempts BEGIN SELECT RAISE(ABORT, 'disk on fire'); END
                """)
            let (trial, attempt) = StoreContract.completed(value: 0.5)
            #expect(throws: StoreError.database("recordResult(trial \(Fixture.study)/1): disk on fire (SQLite code 1811)")) {
                try store.recordResult(trial: trial, attempt: attempt)
            }
            #expect(try store.trial(study: Fixture.study, number: 1) == Fixture.trial(1))
            try store.execute(sql: "DROP TRIGGER refuse_attempts")
            #expect(try store.recordResult(trial: trial, attempt: attempt))
        }
    }

    @Test
    func aFailingWriteInsideABatchUndoesOnlyItselfWithOrWithoutASavepoint() throws {
        try withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
            try Fixture.seed(store)
            try store.execute(sql: """
                CREATE TRIGGER refuse_attempts BEFORE INSERT ON attempts BEGIN SELECT RAISE(ABORT, 'disk on fire'); END
                """)
            let (trial, attempt) = StoreContract.completed(value: 0.5)
            try store.batch {
                // Two statements in a savepoint: the trial's row is rolled back with the attempt's.
                #expect(throws: StoreError.self) { try store.recordResult(trial: trial, attempt: attempt) }
                #expect(try store.trial(study: Fixture.study, number: 1) == Fixture.trial(1), "the batch reads its own writes")
                // One statement, no savepoint: SQLite undoes the failing statement alone.
                #expect(throws: StoreError.conflict("trial \(Fixture.study)/1")) { try store.insertTrial(Fixture.trial(1)) }
                try store.insertTrial(Fixture.trial(2))
                #expect(try store.recordResult(trial: trial, attempt: nil), "trial 1 was still unfinished")
            }
            #expect(try store.trial(study: Fixture.study, number: 1) == trial, "the batch went on and committed")
            #expect(try store.trial(study: Fixture.study, number: 2) == Fixture.trial(2))
            #expect(try store.attempts(study: Fixture.study, trial: 1).isEmpty)
        }
    }

    @Test
    func trialsByStateUseTheStateIndex() throws {
        try withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path)
            let plan = try store.queryPlan("SELECT * FROM trials WHERE study = ? AND state = ? ORDER BY number",
                                           ["s-1", "running"])
            #expect(plan.contains { $0.contains("trials_by_state") }, "\(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
            let counts = try store.queryPlan("SELECT state, COUNT(*) FROM trials WHERE study = ? GROUP BY state", ["s-1"])
            #expect(counts.contains { $0.contains("COVERING INDEX trials_by_state") }, "\(counts)")
        }
    }
}
