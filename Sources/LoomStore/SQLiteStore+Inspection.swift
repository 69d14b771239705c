import GRDB

/// Looking inside the file, for tests and diagnostics; internal, so not part of the store's API.
extension SQLiteStore {
    /// A pragma's value as the writer connection sees it (`journal_mode`, `synchronous`, …).
    func pragma(_ name: String) throws(StoreError) -> String? {
        do {
            return try pool.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA \(name)") }
        } catch {
            throw StoreOperation("pragma \(name)").storeError(error)
        }
    }

    /// The identifiers in GRDB's migration table, sorted.
    func appliedMigrationIdentifiers() throws(StoreError) -> [String] {
        try read(StoreOperation("appliedMigrationIdentifiers()")) { db in
            try DatabaseMigrator().appliedIdentifiers(db).sorted()
        }
    }

    /// The names of a table's indexes, sorted.
    func indexNames(on table: String) throws(StoreError) -> [String] {
        try read(StoreOperation("indexNames(on: \(table))")) { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name",
                                arguments: [table])
        }
    }

    /// SQLite's plan for a query with text arguments, one line per step.
    func queryPlan(_ sql: String, _ arguments: [String] = []) throws(StoreError) -> [String] {
        try read(StoreOperation("queryPlan")) { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(sql)", arguments: StatementArguments(arguments)).map { try $0.decode(forColumn: "detail") }
        }
    }

    /// Runs raw SQL in a write transaction (tests plant rows, triggers or migration identifiers).
    func execute(sql: String) throws(StoreError) {
        try write(StoreOperation("execute")) { db in try db.execute(sql: sql) }
    }
}
