import LoomModel

/// Where the optimizer keeps trial output.
///
/// **Invariants** (the contract suite checks both implementations):
/// - `recordLogLines` is idempotent by `(study, trial, attempt, stream, line)` (a replayed feed
///   event stores nothing twice) and needs each line's trial (`.notFound("trial s/3")`);
/// - `logLines` returns a trial's lines in the order they were published: by attempt, then feed
///   sequence, then stream (stdout first), then line; `offset`/`limit` page through that order;
/// - `logFeedPosition` is the highest feed sequence number stored (0 when none).
public protocol TrialLogStore: AnyObject {
    func recordLogLines(_ lines: [LogLineRecord]) throws(StoreError)
    /// A trial's lines, optionally of one attempt and one stream, `limit` from `offset`.
    func logLines(study: String, trial: Int, attempt: Int?, stream: String?, offset: Int, limit: Int) throws(StoreError) -> [LogLineRecord]
    func logFeedPosition() throws(StoreError) -> UInt64
}

extension LogLineRecord {
    /// The order `TrialLogStore.logLines` returns.
    static func publishedOrder(_ a: LogLineRecord, _ b: LogLineRecord) -> Bool {
        (a.attempt, a.feedSeq, a.stream, a.line) < (b.attempt, b.feedSeq, b.stream, b.line)
    }
}
