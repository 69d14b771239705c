import Foundation
import GRDB
import LoomModel

/// A `StudyStore` in one SQLite file (GRDB), shared by the optimizer, which writes, and CLI
/// commands, which read while it runs.
///
/// **Durability.** The file is in WAL mode with `synchronous = FULL`: every commit syncs the WAL
/// before the call returns, so a result is on disk before the optimizer acknowledges it to the
/// broker. (`NORMAL` syncs only at checkpoints: a power cut can roll back the last commits, which
/// would re-run a trial whose result was acknowledged.) `fullfsync` makes that sync reach the
/// platter on Darwin, where plain `fsync` stops at the drive's cache; elsewhere it is a no-op.
///
/// **Concurrency.** WAL lets readers in other processes see every committed transaction while a
/// writer works; the busy timeout covers the brief exclusive locks (recovery, checkpoints, a
/// second writer). Writes take the write lock at once (`BEGIN IMMEDIATE`), so a read-then-write
/// like `recordResult` cannot be overtaken by another process between its read and its write.
///
/// **Schema.** Versioned by GRDB's `DatabaseMigrator` (see `SQLiteStore+Schema.swift`): opening
/// read-write applies missing migrations; a file that lists a migration this build does not know
/// is refused with `.schemaTooNew` before anything is written.
///
/// **Threading.** Safe to share (GRDB serialises access), though `StudyStore` asks no more than
/// one thread at a time.
public final class SQLiteStore: StudyStore, Sendable {
    /// How long a call waits for another connection's lock before failing with `.database`:
    /// long enough to ride out a checkpoint or WAL recovery, short enough to report a stuck writer.
    static let busyTimeout: TimeInterval = 5

    /// The database file.
    public let path: String
    /// Whether this store was opened with `readOnly: true` (writes fail with `.database`).
    public let isReadOnly: Bool
    let pool: DatabasePool
    /// The transaction of the `batch` in progress, if any.
    let batchSlot = BatchSlot()

    /// Opens the store at `path`.
    ///
    /// Read-write (the default) creates the file and its parent directories when missing and
    /// brings the schema up to `schemaVersion`. Read-only (CLI readers) fails with `.notFound` when
    /// there is no file, and with `.database` when its schema is older than this build reads.
    public convenience init(path: String, readOnly: Bool = false) throws(StoreError) {
        try self.init(path: path, readOnly: readOnly, migratingThrough: Self.migrations.last!.identifier)
    }

    /// Opens the store, applying migrations only through `lastMigration` (tests build old files).
    init(path: String, readOnly: Bool, migratingThrough lastMigration: String) throws(StoreError) {
        self.path = path
        self.isReadOnly = readOnly
        if readOnly {
            guard FileManager.default.fileExists(atPath: path) else {
                throw .notFound("no store at \(path): run a study first or pass --store")
            }
        } else {
            try Self.createParentDirectory(of: path)
        }
        do {
            pool = try DatabasePool(path: path, configuration: Self.configuration(readOnly: readOnly))
            // Here, not in `prepareDatabase`: the pool switches its writer to WAL after preparing
            // it and sets `synchronous = NORMAL` as it does. The writer connection lives as long
            // as the pool, so setting it once holds for every commit.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        } catch {
            throw StoreOperation("open \(path)").storeError(error)
        }
        if readOnly {
            try checkReadableSchema()
        } else {
            try migrate(through: lastMigration)
        }
    }

    /// Closes the database (the last connection to the file also checkpoints the WAL into it);
    /// later calls fail with `.database`. Optional: releasing the store closes it too.
    public func close() throws(StoreError) {
        do {
            try pool.close()
        } catch {
            throw StoreOperation("close \(path)").storeError(error)
        }
    }

    /// Connection settings; see **Durability** and **Concurrency** above.
    static func configuration(readOnly: Bool) -> Configuration {
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "hyperloom.store"
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA fullfsync = ON") }
        return configuration
    }

    private static func createParentDirectory(of path: String) throws(StoreError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .database("open \(path): cannot create directory \(directory.path): \(error.localizedDescription)")
        }
    }
}
