import GRDB
import LoomModel

/// Trials, attempts, reports and results.
extension SQLiteStore {
    public func insertTrial(_ trial: TrialRecord) throws(StoreError) {
        let key = Storable.trialKey(trial.study, trial.number)
        let name = "insertTrial(\(key))"
        let json = try Storable.trialJSON(trial, operation: name)
        try write(StoreOperation(name, key: key, parent: Storable.studyKey(trial.study)), singleStatement: true) { db in
            try db.cachedStatement(sql: "INSERT INTO trials (\(Rows.trialColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .execute(arguments: Rows.arguments(trial, config: json.config, metrics: json.metrics))
        }
    }

    public func updateTrial(_ trial: TrialRecord) throws(StoreError) {
        let key = Storable.trialKey(trial.study, trial.number)
        let name = "updateTrial(\(key))"
        let json = try Storable.trialJSON(trial, operation: name)
        try write(StoreOperation(name), singleStatement: true) { db in
            try Self.replaceTrial(db, trial, json: json)
            if db.changesCount == 0 { throw StoreError.notFound(key) }
        }
    }

    public func trial(study: String, number: Int) throws(StoreError) -> TrialRecord? {
        try read(StoreOperation("trial(\(Storable.trialKey(study, number)))")) { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM trials WHERE study = ? AND number = ?"),
                             arguments: [study, number]).map(Rows.trial)
        }
    }

    public func trials(study: String) throws(StoreError) -> [TrialRecord] {
        try read(StoreOperation("trials(study \(study))")) { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM trials WHERE study = ? ORDER BY number"),
                             arguments: [study]).map(Rows.trial)
        }
    }

    public func trials(study: String, state: TrialState) throws(StoreError) -> [TrialRecord] {
        try read(StoreOperation("trials(study \(study), state \(state))")) { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM trials WHERE study = ? AND state = ? ORDER BY number"),
                             arguments: [study, state.rawValue]).map(Rows.trial)
        }
    }

    public func trialCounts(study: String) throws(StoreError) -> [TrialState: Int] {
        try read(StoreOperation("trialCounts(study \(study))")) { db in
            var counts: [TrialState: Int] = [:]
            for row in try Row.fetchAll(try db.cachedStatement(sql: "SELECT state, COUNT(*) AS n FROM trials WHERE study = ? GROUP BY state"),
                                        arguments: [study]) {
                counts[try Rows.state(TrialState.self, row, of: "a trial of study \(study)")] = try row.decode(forColumn: "n")
            }
            return counts
        }
    }

    public func recordAttempt(_ attempt: AttemptRecord) throws(StoreError) {
        let trial = Storable.trialKey(attempt.study, attempt.trial)
        try write(StoreOperation("recordAttempt(\(trial), attempt \(attempt.attempt))", parent: trial), singleStatement: true) { db in
            try Self.upsertAttempt(db, attempt)
        }
    }

    public func attempts(study: String, trial: Int) throws(StoreError) -> [AttemptRecord] {
        try read(StoreOperation("attempts(\(Storable.trialKey(study, trial)))")) { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM attempts WHERE study = ? AND trial = ? ORDER BY attempt"),
                             arguments: [study, trial]).map(Rows.attempt)
        }
    }

    @discardableResult
    public func recordReport(_ report: ReportRecord) throws(StoreError) -> Bool {
        let trial = Storable.trialKey(report.study, report.trial)
        let name = "recordReport(\(trial), lease \(report.lease), seq \(report.seq))"
        let metrics = try Storable.json(report.metrics, operation: name, field: "metrics")
        return try write(StoreOperation(name, parent: trial), singleStatement: true) { db in
            // DO NOTHING on this key only (unlike INSERT OR IGNORE, which would also swallow a
            // NOT NULL failure): a repeat is a no-op, every other failure still throws.
            try db.cachedStatement(sql: """
                INSERT INTO reports (\(Rows.reportColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (study, trial, lease, seq) DO NOTHING
                """).execute(arguments: Rows.arguments(report, metrics: metrics))
            return db.changesCount > 0
        }
    }

    public func reports(study: String, trial: Int) throws(StoreError) -> [ReportRecord] {
        try read(StoreOperation("reports(\(Storable.trialKey(study, trial)))")) { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM reports WHERE study = ? AND trial = ? ORDER BY attempt, seq, lease"),
                             arguments: [study, trial]).map(Rows.report)
        }
    }

    @discardableResult
    public func recordResult(trial: TrialRecord, attempt: AttemptRecord?) throws(StoreError) -> Bool {
        Storable.checkResult(trial: trial, attempt: attempt)
        let key = Storable.trialKey(trial.study, trial.number)
        let name = "recordResult(\(key))"
        let json = try Storable.trialJSON(trial, operation: name)
        // One IMMEDIATE transaction: no other writer can finish the trial between the read and
        // the writes, and the trial and attempt rows commit (and sync) together or not at all.
        return try write(StoreOperation(name, parent: key)) { db in
            guard let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT state FROM trials WHERE study = ? AND number = ?"),
                                             arguments: [trial.study, trial.number]) else {
                throw StoreError.notFound(key)
            }
            guard !(try Rows.state(TrialState.self, row, of: key)).isFinished else { return false }
            try Self.replaceTrial(db, trial, json: json)
            if let attempt { try Self.upsertAttempt(db, attempt) }
            // Attempts still running end with the trial (the broker cancels them).
            let open = try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM attempts WHERE study = ? AND trial = ? AND state = ?"),
                                        arguments: [trial.study, trial.number, AttemptState.running.rawValue]).map(Rows.attempt)
            for running in open where running.attempt != attempt?.attempt { try Self.upsertAttempt(db, running.closed(by: trial)) }
            return true
        }
    }

    /// Replaces every column of a trial's row; `db.changesCount` tells whether it existed.
    private static func replaceTrial(_ db: Database, _ trial: TrialRecord, json: (config: String, metrics: String?)) throws {
        try db.cachedStatement(sql: """
            UPDATE trials SET (\(Rows.trialColumns)) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            WHERE study = ? AND number = ?
            """)
                .execute(arguments: Rows.arguments(trial, config: json.config, metrics: json.metrics) + [trial.study, trial.number])
    }

    /// Inserts an attempt or replaces the row with its key. An upsert, not `INSERT OR REPLACE`,
    /// which deletes the old row first.
    private static func upsertAttempt(_ db: Database, _ attempt: AttemptRecord) throws {
        try db.cachedStatement(sql: """
            INSERT INTO attempts (\(Rows.attemptColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (study, trial, attempt) DO UPDATE SET
                lease = excluded.lease, worker = excluded.worker, state = excluded.state,
                error = excluded.error, finished_at = excluded.finished_at
            """).execute(arguments: Rows.arguments(attempt))
    }
}
