import LoomModel
/// Trial output in memory, with `SQLiteStore`'s semantics.
extension InMemoryStore: TrialLogStore {
    public func recordLogLines(_ lines: [LogLineRecord]) throws(StoreError) {
        for line in lines where try trial(study: line.study, number: line.trial) == nil {
            throw .notFound(Storable.trialKey(line.study, line.trial))
        }
        for line in lines {
            let key = "\(line.attempt)\u{0}\(line.stream)\u{0}\(line.line)"
            logRows["\(line.study)\u{0}\(line.trial)", default: [:]][key] = logRows["\(line.study)\u{0}\(line.trial)"]?[key] ?? line
        }
    }

    public func logLines(study: String, trial: Int, attempt: Int?, stream: String?, offset: Int, limit: Int) throws(StoreError) -> [LogLineRecord] {
        let all = (logRows["\(study)\u{0}\(trial)"] ?? [:]).values
            .filter { (attempt == nil || $0.attempt == attempt) && (stream == nil || $0.stream == stream) }
            .sorted(by: LogLineRecord.publishedOrder)
        return Array(all.dropFirst(max(offset, 0)).prefix(max(limit, 0)))
    }

    public func logFeedPosition() throws(StoreError) -> UInt64 {
        logRows.values.lazy.flatMap(\.values).map(\.feedSeq).max() ?? 0
    }
}
