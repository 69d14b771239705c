import LoomModel

/// Trial output in memory, with `SQLiteStore`'s semantics.
extension InMemoryStore: TrialLogStore {
    public func recordLogLines(_ lines: [LogLineRecord]) throws(StoreError) {
        for line in lines { try requireTrial(line.study, line.trial) }
        let position = logPosition
        for line in lines {
            let trial = TrialKey(study: line.study, number: line.trial)
            let key = "\(line.attempt)\u{0}\(line.stream)\u{0}\(line.line)"
            guard logRows[trial]?[key] == nil else { continue }
            logRows[trial, default: [:]][key] = line
            logPosition = max(logPosition, line.feedSeq)
            remember { [unowned self] in logRows[trial]?[key] = nil }
        }
        remember { [unowned self] in logPosition = position }
    }

    public func logLines(study: String, trial: Int, attempt: Int?, stream: String?, offset: Int, limit: Int) throws(StoreError) -> [LogLineRecord] {
        let all = (logRows[TrialKey(study: study, number: trial)] ?? [:]).values
            .filter { (attempt == nil || $0.attempt == attempt) && (stream == nil || $0.stream == stream) }
            .sorted(by: LogLineRecord.publishedOrder)
        return Array(all.dropFirst(max(offset, 0)).prefix(max(limit, 0)))
    }

    public func logFeedPosition() throws(StoreError) -> UInt64 { logPosition }
}
