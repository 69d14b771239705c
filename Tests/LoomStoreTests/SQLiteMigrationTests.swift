import Foundation
import LoomModel
@testable import LoomStore
import Testing

/// The schema's versions: upgrading an old file, refusing a newer one.
@Suite("SQLiteStore migrations")
struct SQLiteMigrationTests {
    @Test
    func schemaVersionCountsTheMigrations() {
        #expect(SQLiteStore.schemaVersion == 7)
        #expect(SQLiteStore.migrations.map(\.identifier) == ["v1", "v2", "v3-sched", "v3-checkpoints", "v4-logs", "v5-study-owner",
                                                             "v6-checkpoint-writer"])
    }

    @Test
    func aVersion2FileIsUpgradedWithItsRowsIntact() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let (_, attempt) = StoreContract.completed(value: 0.5)
            do {
                // Version 2 is the oldest this build can seed (its trial rows have v2's columns
                // only through raw SQL); the v3-sched columns come back nil.
                let old = try SQLiteStore(path: path, readOnly: false, migratingThrough: "v2")
                #expect(try old.appliedMigrationIdentifiers() == ["v1", "v2"])
                try old.createStudy(Fixture.studyRecord())
                for n in 1...3 {
                    try old.execute(sql: """
                        INSERT INTO trials (study, number, config, state, source, attempts, created_at)
                        VALUES ('\(Fixture.study)', \(n), '{"lr":0.01}', 'waiting', 'searcher', 0, \(Fixture.trial(n).createdAt))
                        """)
                }
                try old.recordReport(Fixture.report(seq: 1))
                try old.recordAttempt(attempt)
                try old.recordWorkerEvent(WorkerEventRecord(time: 1, worker: "w-1", event: "joined"))
            }
            let upgraded = try SQLiteStore(path: path)
            #expect(try Set(upgraded.appliedMigrationIdentifiers()) == ["v1", "v2", "v3-sched", "v3-checkpoints", "v4-logs", "v5-study-owner",
                                                                       "v6-checkpoint-writer"])
            #expect(try upgraded.indexNames(on: "trials").contains("trials_by_state"))
            #expect(try upgraded.indexNames(on: "logs").contains("logs_by_order"))
            #expect(try upgraded.logLines(study: Fixture.study, trial: 1, attempt: nil, stream: nil, offset: 0, limit: 10).isEmpty)
            #expect(try upgraded.studies() == [Fixture.studyRecord()])
            #expect(try upgraded.trials(study: Fixture.study) == [Fixture.trial(1), Fixture.trial(2), Fixture.trial(3)])
            #expect(try upgraded.trials(study: Fixture.study, state: .waiting).map(\.number) == [1, 2, 3])
            #expect(try upgraded.attempts(study: Fixture.study, trial: 1) == [attempt])
            #expect(try upgraded.reports(study: Fixture.study, trial: 1) == [Fixture.report(seq: 1)])
            #expect(try upgraded.workerEvents(limit: 5).count == 1)
        }
    }

    @Test
    func aVersion2FileIsRefusedReadOnlyWithTheWayToUpgrade() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            try SQLiteStore(path: path, readOnly: false, migratingThrough: "v2").createStudy(Fixture.studyRecord())
            let error = try #require(throws: StoreError.self) { try SQLiteStore(path: path, readOnly: true) }
            guard case .database(let message) = error else { Issue.record("got \(error)"); return }
            #expect(message.contains("schema version 2 is older than this hyperloom reads (7)"))
            #expect(message.contains("open it read-write once"))
        }
    }

    @Test
    func aFileFromAFutureBuildIsRefusedUntouched() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            do {
                let store = try SQLiteStore(path: path)
                try Fixture.seed(store)
                try store.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v8')")
            }
            let tooNew = StoreError.schemaTooNew(found: 8, supported: SQLiteStore.schemaVersion)
            #expect(throws: tooNew) { try SQLiteStore(path: path) }
            #expect(throws: tooNew) { try SQLiteStore(path: path, readOnly: true) }
            #expect(tooNew.description.contains("upgrade hyperloom"))
        }
    }

    @Test
    func anUnknownMigrationNotNamedByVersionIsStillTooNew() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            do {
                try SQLiteStore(path: path).execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v2-experimental')")
            }
            #expect(throws: StoreError.schemaTooNew(found: 8, supported: 7)) { try SQLiteStore(path: path) }
        }
    }

    @Test
    func anEmptyDatabaseIsNotAStoreForReaders() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("empty.sqlite").path
            #expect(FileManager.default.createFile(atPath: path, contents: Data()))
            let error = try #require(throws: StoreError.self) { try SQLiteStore(path: path, readOnly: true) }
            #expect(error == .database("open \(path): not a hyperloom store (it has no schema)"))
        }
    }
}

/// A study's owner key survives the store (v5-study-owner).
@Suite struct SQLiteStudyOwner {
    @Test func theOwnerIsStoredAndReadBack() throws {
        try withTemporaryDirectory { directory in
            let store = try SQLiteStore(path: directory.appendingPathComponent("s.sqlite").path)
            var record = Fixture.studyRecord()
            record.owner = "client/alice"
            try store.createStudy(record)
            #expect(try store.study(record.id)?.owner == "client/alice")
        }
    }
}
