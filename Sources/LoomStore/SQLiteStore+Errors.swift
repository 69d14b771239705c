import Foundation
import GRDB

/// One store call, named for error messages, with what its constraint failures mean.
///
/// SQLite reports `UNIQUE constraint failed: trials.study, trials.number`; the store's callers
/// need `.conflict("trial s/3")`. Each call says which row a uniqueness failure means is taken
/// (`key`) and which row a foreign-key failure means is missing (`parent`); every other failure
/// becomes `.database` with the call and SQLite's message and code.
struct StoreOperation {
    /// The call and its arguments: `insertTrial(trial s/3)`.
    var name: String
    /// The row a UNIQUE / PRIMARY KEY failure means is taken.
    var key: String?
    /// The row a FOREIGN KEY failure means is missing.
    var parent: String?

    init(_ name: String, key: String? = nil, parent: String? = nil) {
        self.name = name
        self.key = key
        self.parent = parent
    }

    /// The `StoreError` for `error` thrown during this call. Store errors thrown on purpose
    /// (`.notFound` for an update that changed no row) pass through unchanged.
    func storeError(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? RowError { return .database("\(name): \(error.message)") }
        guard let error = error as? DatabaseError else { return .database("\(name): \(error)") }
        switch error.extendedResultCode {
        case .SQLITE_CONSTRAINT_PRIMARYKEY, .SQLITE_CONSTRAINT_UNIQUE:
            if let key { return .conflict(key) }
        case .SQLITE_CONSTRAINT_FOREIGNKEY:
            if let parent { return .notFound(parent) }
        default:
            break
        }
        let message = error.message ?? "SQLite error"
        return .database("\(name): \(message) (SQLite code \(error.extendedResultCode.rawValue))")
    }
}

extension SQLiteStore {
    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`), committed and synced on return;
    /// inside a `batch`, in a savepoint of the batch's transaction instead, so that a failing call
    /// undoes only itself and the sync waits for the batch. `singleStatement`: the body runs one
    /// statement that changes anything (then it needs no savepoint).
    func write<T>(_ operation: StoreOperation, singleStatement: Bool = false,
                  _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            if let db = batchSlot.databaseForCurrentThread() {
                // A single statement is atomic on its own (a failing one leaves the transaction
                // as it was): a savepoint would only add two statements to every call.
                if singleStatement { return try body(db) }
                var result: T?
                try db.inSavepoint {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
            return try pool.write(body)
        } catch {
            throw operation.storeError(error)
        }
    }

    /// Runs `body` on a snapshot of the last committed state (inside a `batch`, on the batch's
    /// connection, so it sees the batch's writes).
    func read<T>(_ operation: StoreOperation, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            if let db = batchSlot.databaseForCurrentThread() { return try body(db) }
            return try pool.read(body)
        } catch {
            throw operation.storeError(error)
        }
    }

    public func batch<T>(_ body: () throws -> T) throws -> T {
        precondition(batchSlot.databaseForCurrentThread() == nil, "SQLiteStore.batch is not reentrant")
        var result: T?
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    batchSlot.open(db)
                    defer { batchSlot.close() }
                    result = try body()
                    return .commit
                }
            }
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw StoreOperation("batch").storeError(error)
        }
        return result!
    }
}

/// The connection of the batch in progress and the thread that runs it: store calls made by
/// that thread inside `batch` use the batch's transaction; calls from other threads do not.
final class BatchSlot: @unchecked Sendable {
    // @unchecked: `current` is guarded by `lock`; the `Database` it holds is used only by the
    // thread that opened the batch, inside GRDB's write block that owns it.
    private let lock = NSLock()
    private var current: (thread: pthread_t, db: Database)?

    func open(_ db: Database) { lock.withLock { current = (pthread_self(), db) } }

    func close() { lock.withLock { current = nil } }

    func databaseForCurrentThread() -> Database? {
        lock.withLock {
            guard let current, pthread_equal(current.thread, pthread_self()) != 0 else { return nil }
            return current.db
        }
    }
}
