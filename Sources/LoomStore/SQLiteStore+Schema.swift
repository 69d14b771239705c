import GRDB

/// One step of the schema; identifier `vN` makes the schema version N.
struct SchemaMigration: Sendable {
    var identifier: String
    var sql: String
}

extension SQLiteStore {
    /// The migrations this build knows, oldest first. Never edit one that has shipped: add the
    /// next. GRDB records applied identifiers in its `grdb_migrations` table.
    ///
    /// - `v1`: the tables. Primary keys are the `StudyStore` invariants: `trials (study, number)`,
    ///   `attempts (study, trial, attempt)`, `reports (study, trial, lease, seq)`; they also serve
    ///   every read by study or trial. Foreign keys tie trials to studies and attempts and reports
    ///   to trials. JSON is text with sorted keys; times are seconds since the epoch (REAL); leases
    ///   and seqs are UInt64 kept as INTEGER by bit pattern.
    /// - `v3-checkpoints`: the checkpoint index (`CheckpointIndex`): `checkpoints` (files as JSON)
    ///   and `checkpoint_blobs`, one row per (checkpoint, blob), indexed by hash for garbage
    ///   collection. Named after its branch so that migrations added in parallel do not collide.
    /// - `v2`: `trials (study, state, number)`, for "the running trials of a study" after a
    ///   restart and per-state counts for status, without scanning the study's trials. `number`
    ///   is in it so the rows come out in order: without it SQLite prefers the primary key, which
    ///   needs no sort, and filters by state row by row.
    /// - `v3-sched`: the multi-fidelity columns of `trials`: `budget` (the resource level its
    ///   current attempt runs to), `note` (the scheduler's last word on it: a rung, a promotion,
    ///   a stop) and `restore_from` (PBT: the trial whose checkpoint its next attempt restores).
    /// - `v4-logs`: trial output (`TrialLogStore`): `logs`, one row per line keyed by
    ///   `(study, trial, attempt, stream, line)`, indexed in read order and by feed sequence
    ///   (the optimizer resumes its `log/` subscription after the highest one stored).
    /// - `v6-checkpoint-writer`: `checkpoints.writer`, the key of the worker that wrote each
    ///   checkpoint (`CheckpointRecord.writer`); NULL in older rows.
    static let migrations: [SchemaMigration] = [
        SchemaMigration(identifier: "v1", sql: """
            CREATE TABLE studies (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                spec_text TEXT NOT NULL,
                base_directory TEXT NOT NULL,
                state TEXT NOT NULL,
                created_at REAL NOT NULL,
                finished_at REAL,
                reason TEXT
            );
            CREATE INDEX studies_by_creation ON studies (created_at);

            CREATE TABLE trials (
                study TEXT NOT NULL REFERENCES studies (id),
                number INTEGER NOT NULL,
                config TEXT NOT NULL,
                state TEXT NOT NULL,
                source TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                value REAL,
                metrics TEXT,
                worker TEXT,
                error TEXT,
                created_at REAL NOT NULL,
                started_at REAL,
                finished_at REAL,
                PRIMARY KEY (study, number)
            );

            CREATE TABLE attempts (
                study TEXT NOT NULL,
                trial INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                lease INTEGER NOT NULL,
                worker TEXT,
                state TEXT NOT NULL,
                error TEXT,
                started_at REAL NOT NULL,
                finished_at REAL,
                PRIMARY KEY (study, trial, attempt),
                FOREIGN KEY (study, trial) REFERENCES trials (study, number)
            );

            CREATE TABLE reports (
                study TEXT NOT NULL,
                trial INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                lease INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                kind TEXT NOT NULL,
                metrics TEXT NOT NULL,
                time REAL NOT NULL,
                PRIMARY KEY (study, trial, lease, seq),
                FOREIGN KEY (study, trial) REFERENCES trials (study, number)
            );

            CREATE TABLE worker_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time REAL NOT NULL,
                worker TEXT NOT NULL,
                event TEXT NOT NULL,
                detail TEXT
            );
            CREATE INDEX worker_events_by_time ON worker_events (time, id);
            """),
        SchemaMigration(identifier: "v2", sql: """
            CREATE INDEX trials_by_state ON trials (study, state, number);
            """),
        SchemaMigration(identifier: "v3-sched", sql: """
            ALTER TABLE trials ADD COLUMN budget REAL;
            ALTER TABLE trials ADD COLUMN note TEXT;
            ALTER TABLE trials ADD COLUMN restore_from INTEGER;
            """),
        SchemaMigration(identifier: "v3-checkpoints", sql: """
            CREATE TABLE checkpoints (
                study TEXT NOT NULL,
                trial INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                lease INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                bytes INTEGER NOT NULL,
                files TEXT NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (study, trial, lease, seq),
                FOREIGN KEY (study, trial) REFERENCES trials (study, number)
            );
            CREATE TABLE checkpoint_blobs (
                study TEXT NOT NULL,
                trial INTEGER NOT NULL,
                lease INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                sha256 TEXT NOT NULL,
                PRIMARY KEY (study, trial, lease, seq, sha256)
            );
            CREATE INDEX checkpoint_blobs_by_hash ON checkpoint_blobs (sha256);
            """),
        SchemaMigration(identifier: "v4-logs", sql: """
            CREATE TABLE logs (
                study TEXT NOT NULL,
                trial INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                stream TEXT NOT NULL,
                line INTEGER NOT NULL,
                text TEXT NOT NULL,
                feed_seq INTEGER NOT NULL,
                PRIMARY KEY (study, trial, attempt, stream, line),
                FOREIGN KEY (study, trial) REFERENCES trials (study, number)
            );
            CREATE INDEX logs_by_order ON logs (study, trial, attempt, feed_seq, stream, line);
            CREATE INDEX logs_by_feed_seq ON logs (feed_seq);
            """),
        SchemaMigration(identifier: "v5-study-owner", sql: """
            ALTER TABLE studies ADD COLUMN owner TEXT;
            """),
        SchemaMigration(identifier: "v6-checkpoint-writer", sql: """
            ALTER TABLE checkpoints ADD COLUMN writer TEXT;
            """),
    ]

    /// The schema version this build writes and reads: its number of migrations.
    public static let schemaVersion = migrations.count

    /// A migrator with the migrations through `last` (tests build files of older versions).
    static func migrator(through last: String) -> DatabaseMigrator {
        guard let end = migrations.firstIndex(where: { $0.identifier == last }) else {
            preconditionFailure("unknown migration \(last)")
        }
        var migrator = DatabaseMigrator()
        for migration in migrations[...end] {
            migrator.registerMigration(migration.identifier) { db in try db.execute(sql: migration.sql) }
        }
        return migrator
    }

    /// The schema version a set of applied migration identifiers means: the position of the
    /// last known one applied (identifiers like `v3-checkpoints` carry a branch name, so the
    /// number alone does not tell), and past this build's when an identifier is unknown.
    static func version(of applied: Set<String>) -> Int {
        let known = Set(migrations.map(\.identifier))
        guard applied.isSubset(of: known) else {
            let numbered = applied.compactMap { $0.first == "v" ? Int($0.dropFirst().prefix(while: \.isNumber)) : nil }.max() ?? 0
            return max(numbered, schemaVersion + 1)
        }
        return (migrations.lastIndex { applied.contains($0.identifier) } ?? -1) + 1
    }

    /// The N of an identifier `vN` or `vN-name` (branches name their migrations, e.g. `v3-sched`).
    static func versionNumber(_ identifier: String) -> Int? {
        guard identifier.first == "v" else { return nil }
        return Int(identifier.dropFirst().prefix { $0.isNumber })
    }

    /// The identifiers in the file's migration table; `.schemaTooNew` when one is unknown here.
    static func appliedMigrations(_ db: Database) throws -> Set<String> {
        let applied = try DatabaseMigrator().appliedIdentifiers(db)
        guard applied.isSubset(of: Set(migrations.map(\.identifier))) else {
            throw StoreError.schemaTooNew(found: version(of: applied), supported: schemaVersion)
        }
        return applied
    }

    /// Refuses a newer file, then applies the missing migrations through `last`.
    func migrate(through last: String) throws(StoreError) {
        _ = try read(StoreOperation("open \(path)")) { db in try Self.appliedMigrations(db) }
        do {
            try Self.migrator(through: last).migrate(pool)
        } catch {
            throw StoreOperation("migrate \(path) to schema \(last)").storeError(error)
        }
    }

    /// For read-only opens, which cannot migrate: the file must be a store at exactly this
    /// build's version.
    func checkReadableSchema() throws(StoreError) {
        try read(StoreOperation("open \(path)")) { db in
            let applied = try Self.appliedMigrations(db)
            if applied.isEmpty {
                throw StoreError.database("open \(path): not a hyperloom store (it has no schema)")
            }
            let found = Self.version(of: applied)
            if found < Self.schemaVersion {
                throw StoreError.database("""
                    open \(path): the store's schema version \(found) is older than this hyperloom reads \
                    (\(Self.schemaVersion)); open it read-write once (start a study on it) to upgrade it
                    """)
            }
        }
    }
}
