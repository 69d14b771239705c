import GRDB
import LoomModel

/// Studies and worker events.
extension SQLiteStore {
    public func createStudy(_ study: StudyRecord) throws(StoreError) {
        let key = Storable.studyKey(study.id)
        try write(StoreOperation("createStudy(\(key))", key: key)) { db in
            try db.cachedStatement(sql: "INSERT INTO studies (\(Rows.studyColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .execute(arguments: Rows.arguments(study))
            if let owner = study.owner {
                try db.cachedStatement(sql: "UPDATE studies SET owner = ? WHERE id = ?").execute(arguments: [owner, study.id])
            }
        }
    }

    public func study(_ id: String) throws(StoreError) -> StudyRecord? {
        try read(StoreOperation("study(\(id))")) { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM studies WHERE id = ?"), arguments: [id]).map(Rows.study)
        }
    }

    public func studies() throws(StoreError) -> [StudyRecord] {
        try read(StoreOperation("studies()")) { db in
            // rowid breaks ties in created_at by insertion order, as InMemoryStore does.
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM studies ORDER BY created_at, rowid")).map(Rows.study)
        }
    }

    public func updateStudy(_ study: StudyRecord) throws(StoreError) {
        let key = Storable.studyKey(study.id)
        try write(StoreOperation("updateStudy(\(key))")) { db in
            try db.cachedStatement(sql: """
                UPDATE studies SET (\(Rows.studyColumns)) = (?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?
                """).execute(arguments: Rows.arguments(study) + [study.id])
            if db.changesCount == 0 { throw StoreError.notFound(key) }
        }
    }

    public func recordWorkerEvent(_ event: WorkerEventRecord) throws(StoreError) {
        try write(StoreOperation("recordWorkerEvent(\(event.worker) \(event.event))")) { db in
            try db.cachedStatement(sql: "INSERT INTO worker_events (time, worker, event, detail) VALUES (?, ?, ?, ?)")
                .execute(arguments: [event.time, event.worker, event.event, event.detail])
        }
    }

    public func workerEvents(limit: Int) throws(StoreError) -> [WorkerEventRecord] {
        guard limit > 0 else { return [] }
        return try read(StoreOperation("workerEvents(limit: \(limit))")) { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM (SELECT * FROM worker_events ORDER BY time DESC, id DESC LIMIT ?) ORDER BY time, id
                """, arguments: [limit]).map(Rows.workerEvent)
        }
    }
}
