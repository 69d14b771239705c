import Foundation
import GRDB
import LoomModel
import LoomWire

/// The checkpoint index in SQLite (migration `v3-checkpoints`): one row per checkpoint with its
/// files as JSON, and one row per (checkpoint, blob) so "is this blob still referenced" is an
/// index lookup.
extension SQLiteStore: CheckpointIndex {
    @discardableResult
    public func recordCheckpoint(_ checkpoint: CheckpointRecord) throws(StoreError) -> Bool {
        let trial = Storable.trialKey(checkpoint.study, checkpoint.trial)
        let name = "recordCheckpoint(\(trial), lease \(checkpoint.lease), seq \(checkpoint.seq))"
        return try write(StoreOperation(name, parent: trial)) { db in try Self.insert(checkpoint, db) }
    }

    public func keepCheckpoint(_ checkpoint: CheckpointRecord, report: ReportRecord, keep: Int) throws(StoreError) -> [String] {
        let trial = Storable.trialKey(checkpoint.study, checkpoint.trial)
        let name = "keepCheckpoint(\(trial), lease \(checkpoint.lease), seq \(checkpoint.seq))"
        let metrics = try Storable.json(report.metrics, operation: name, field: "metrics")
        return try write(StoreOperation(name, parent: trial)) { db in
            try Self.insert(checkpoint, db)
            try db.execute(sql: """
                INSERT INTO reports (\(Rows.reportColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (study, trial, lease, seq) DO NOTHING
                """, arguments: Rows.arguments(report, metrics: metrics))
            return try Self.prune(study: checkpoint.study, trial: checkpoint.trial, keep: keep, db)
        }
    }

    /// Inserts a checkpoint and its blob rows; false when it was there already.
    static func insert(_ checkpoint: CheckpointRecord, _ db: Database) throws -> Bool {
        let files = String(decoding: JSONCoding.encode(checkpoint.files), as: UTF8.self)
        try db.execute(sql: """
            INSERT INTO checkpoints (study, trial, attempt, lease, seq, bytes, files, created_at, writer)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (study, trial, lease, seq) DO NOTHING
            """, arguments: [checkpoint.study, checkpoint.trial, checkpoint.attempt, Int64(bitPattern: checkpoint.lease),
                             Int64(bitPattern: checkpoint.seq), checkpoint.bytes, files, checkpoint.createdAt, checkpoint.writer])
        guard db.changesCount > 0 else { return false }
        for sha in Set(checkpoint.files.map(\.sha256)) {
            try db.execute(sql: "INSERT INTO checkpoint_blobs (study, trial, lease, seq, sha256) VALUES (?, ?, ?, ?, ?)",
                           arguments: [checkpoint.study, checkpoint.trial, Int64(bitPattern: checkpoint.lease),
                                       Int64(bitPattern: checkpoint.seq), sha])
        }
        return true
    }

    public func checkpoints(study: String, trial: Int) throws(StoreError) -> [CheckpointRecord] {
        try read(StoreOperation("checkpoints(\(Storable.trialKey(study, trial)))")) { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM checkpoints WHERE study = ? AND trial = ? ORDER BY attempt DESC, seq DESC, lease DESC
                """, arguments: [study, trial]).map(Self.checkpoint)
        }
    }

    public func pruneCheckpoints(study: String, trial: Int, keep: Int) throws(StoreError) -> [String] {
        try write(StoreOperation("pruneCheckpoints(\(Storable.trialKey(study, trial)))")) { db in
            try Self.prune(study: study, trial: trial, keep: keep, db)
        }
    }

    /// Deletes all but the newest `keep` checkpoints of a trial; returns the unreferenced blobs.
    static func prune(study: String, trial: Int, keep: Int, _ db: Database) throws -> [String] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT * FROM checkpoints WHERE study = ? AND trial = ? ORDER BY attempt DESC, seq DESC, lease DESC
            """, arguments: [study, trial]).map(Self.checkpoint)
        var candidates: Set<String> = []
        for old in rows.dropFirst(max(keep, 0)) {
            let key: StatementArguments = [study, trial, Int64(bitPattern: old.lease), Int64(bitPattern: old.seq)]
            try db.execute(sql: "DELETE FROM checkpoint_blobs WHERE study = ? AND trial = ? AND lease = ? AND seq = ?", arguments: key)
            try db.execute(sql: "DELETE FROM checkpoints WHERE study = ? AND trial = ? AND lease = ? AND seq = ?", arguments: key)
            candidates.formUnion(old.files.map(\.sha256))
        }
        return try candidates.sorted().filter { sha in
            try Int.fetchOne(db, sql: "SELECT 1 FROM checkpoint_blobs WHERE sha256 = ? LIMIT 1", arguments: [sha]) == nil
        }
    }

    public func isReferenced(blob sha256: String) throws(StoreError) -> Bool {
        try read(StoreOperation("isReferenced(\(sha256))")) { db in
            try Int.fetchOne(db, sql: "SELECT 1 FROM checkpoint_blobs WHERE sha256 = ? LIMIT 1", arguments: [sha256]) != nil
        }
    }

    static func checkpoint(_ row: Row) throws -> CheckpointRecord {
        let text: String = row["files"]
        let files = try JSONDecoder().decode([CheckpointFile].self, from: Data(text.utf8))
        return CheckpointRecord(study: row["study"], trial: row["trial"], attempt: row["attempt"],
                                lease: UInt64(bitPattern: row["lease"]), seq: UInt64(bitPattern: row["seq"]),
                                files: files, createdAt: row["created_at"], writer: row["writer"])
    }
}
