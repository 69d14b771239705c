import LoomModel
import LoomWire

/// The checkpoint index in memory, with `SQLiteStore`'s semantics.
extension InMemoryStore: CheckpointIndex {
    @discardableResult
    public func recordCheckpoint(_ checkpoint: CheckpointRecord) throws(StoreError) -> Bool {
        guard try trial(study: checkpoint.study, number: checkpoint.trial) != nil else {
            throw .notFound(Storable.trialKey(checkpoint.study, checkpoint.trial))
        }
        let key = "\(checkpoint.study)\u{0}\(checkpoint.trial)"
        var list = checkpointRows[key] ?? []
        guard !list.contains(where: { $0.lease == checkpoint.lease && $0.seq == checkpoint.seq }) else { return false }
        list.append(checkpoint)
        list.sort(by: CheckpointRecord.newestFirst)
        checkpointRows[key] = list
        return true
    }

    public func keepCheckpoint(_ checkpoint: CheckpointRecord, report: ReportRecord, keep: Int) throws(StoreError) -> [String] {
        try recordCheckpoint(checkpoint)
        try recordReport(report)
        return try pruneCheckpoints(study: checkpoint.study, trial: checkpoint.trial, keep: keep)
    }

    public func checkpoints(study: String, trial: Int) throws(StoreError) -> [CheckpointRecord] {
        checkpointRows["\(study)\u{0}\(trial)"] ?? []
    }

    public func pruneCheckpoints(study: String, trial: Int, keep: Int) throws(StoreError) -> [String] {
        let key = "\(study)\u{0}\(trial)"
        guard let list = checkpointRows[key], list.count > max(keep, 0) else { return [] }
        checkpointRows[key] = Array(list.prefix(max(keep, 0)))
        let candidates = Set(list.dropFirst(max(keep, 0)).flatMap { $0.files.map(\.sha256) })
        let live = Set(checkpointRows.values.joined().flatMap { $0.files.map(\.sha256) })
        return candidates.subtracting(live).sorted()
    }

    public func isReferenced(blob sha256: String) throws(StoreError) -> Bool {
        checkpointRows.values.contains { list in list.contains { $0.files.contains { $0.sha256 == sha256 } } }
    }
}
