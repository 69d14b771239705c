import GRDB
import LoomModel

/// Trial output in SQLite (migration `v4-logs`): one row per line, keyed by
/// `(study, trial, attempt, stream, line)`; `logs_by_order` serves the paged reads.
extension SQLiteStore: TrialLogStore {
    public func recordLogLines(_ lines: [LogLineRecord]) throws(StoreError) {
        guard let first = lines.first else { return }
        let trial = Storable.trialKey(first.study, first.trial)
        try write(StoreOperation("recordLogLines(\(trial), \(lines.count) lines)", parent: trial)) { db in
            // Checked up front so the error names the missing trial, whichever line it is.
            for (study, number) in Set(lines.map { "\($0.study)\u{0}\($0.trial)" }).sorted().map(Self.splitTrialKey)
            where try Bool.fetchOne(db, sql: "SELECT 1 FROM trials WHERE study = ? AND number = ?", arguments: [study, number]) == nil {
                throw StoreError.notFound(Storable.trialKey(study, number))
            }
            let statement = try db.cachedStatement(sql: """
                INSERT INTO logs (study, trial, attempt, stream, line, text, feed_seq) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (study, trial, attempt, stream, line) DO NOTHING
                """)
            for line in lines {
                try statement.execute(arguments: [line.study, line.trial, line.attempt, line.stream, line.line, line.text,
                                                  Int64(bitPattern: line.feedSeq)])
            }
        }
    }

    public func logLines(study: String, trial: Int, attempt: Int?, stream: String?, offset: Int, limit: Int) throws(StoreError) -> [LogLineRecord] {
        try read(StoreOperation("logLines(\(Storable.trialKey(study, trial)))")) { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM logs WHERE study = ? AND trial = ? AND (?3 IS NULL OR attempt = ?3) AND (?4 IS NULL OR stream = ?4)
                ORDER BY attempt, feed_seq, stream, line LIMIT ? OFFSET ?
                """, arguments: [study, trial, attempt, stream, max(limit, 0), max(offset, 0)]).map { row in
                LogLineRecord(study: row["study"], trial: row["trial"], attempt: row["attempt"], stream: row["stream"],
                              line: row["line"], text: row["text"], feedSeq: UInt64(bitPattern: row["feed_seq"]))
            }
        }
    }

    public func logFeedPosition() throws(StoreError) -> UInt64 {
        try read(StoreOperation("logFeedPosition")) { db in
            UInt64(bitPattern: try Int64.fetchOne(db, sql: "SELECT MAX(feed_seq) FROM logs") ?? 0)
        }
    }

    private static func splitTrialKey(_ key: String) -> (String, Int) {
        let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false)
        return (String(parts[0]), Int(parts[1]) ?? 0)
    }
}
