import LoomModel
import LoomWire

/// The checkpoint index in memory, with `SQLiteStore`'s semantics; blob references are counted,
/// so pruning one trial costs its own checkpoints only.
extension InMemoryStore: CheckpointIndex {
    @discardableResult
    public func recordCheckpoint(_ checkpoint: CheckpointRecord) throws(StoreError) -> Bool {
        try requireTrial(checkpoint.study, checkpoint.trial)
        let key = TrialKey(study: checkpoint.study, number: checkpoint.trial)
        var list = checkpointRows[key] ?? []
        guard !list.contains(where: { $0.lease == checkpoint.lease && $0.seq == checkpoint.seq }) else { return false }
        list.append(checkpoint)
        list.sort(by: CheckpointRecord.newestFirst)
        setCheckpoints(list, of: key)
        return true
    }

    public func keepCheckpoint(_ checkpoint: CheckpointRecord, report: ReportRecord, keep: Int) throws(StoreError) -> [String] {
        try recordCheckpoint(checkpoint)
        try recordReport(report)
        return try pruneCheckpoints(study: checkpoint.study, trial: checkpoint.trial, keep: keep)
    }

    public func checkpoints(study: String, trial: Int) throws(StoreError) -> [CheckpointRecord] {
        checkpointRows[TrialKey(study: study, number: trial)] ?? []
    }

    public func pruneCheckpoints(study: String, trial: Int, keep: Int) throws(StoreError) -> [String] {
        let key = TrialKey(study: study, number: trial)
        guard let list = checkpointRows[key], list.count > max(keep, 0) else { return [] }
        setCheckpoints(Array(list.prefix(max(keep, 0))), of: key)
        let candidates = Set(list.dropFirst(max(keep, 0)).flatMap { $0.files.map(\.sha256) })
        return candidates.filter { blobReferences[$0] == nil }.sorted()
    }

    public func isReferenced(blob sha256: String) throws(StoreError) -> Bool {
        blobReferences[sha256] != nil
    }

    /// Replaces a trial's checkpoints (undoably) and moves the blob reference counts with them.
    private func setCheckpoints(_ list: [CheckpointRecord], of key: TrialKey) {
        let old = checkpointRows[key] ?? []
        count(old, by: -1)
        count(list, by: 1)
        checkpointRows[key] = list.isEmpty ? nil : list
        remember { [unowned self] in
            count(list, by: -1)
            count(old, by: 1)
            checkpointRows[key] = old.isEmpty ? nil : old
        }
    }

    private func count(_ list: [CheckpointRecord], by delta: Int) {
        for checkpoint in list {
            for file in checkpoint.files {
                let n = (blobReferences[file.sha256] ?? 0) + delta
                blobReferences[file.sha256] = n > 0 ? n : nil
            }
        }
    }
}
