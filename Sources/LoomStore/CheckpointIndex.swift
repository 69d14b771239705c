import LoomModel
import LoomWire

extension CheckpointRecord {
    /// Newest first: higher attempt, then higher seq.
    static func newestFirst(_ a: CheckpointRecord, _ b: CheckpointRecord) -> Bool {
        (a.attempt, a.seq, a.lease) > (b.attempt, b.seq, b.lease)
    }
}

/// Where the optimizer indexes the checkpoints it keeps.
///
/// **Invariants** (the contract suite checks both implementations):
/// - `recordCheckpoint` is idempotent by `(study, trial, lease, seq)` and needs its trial
///   (`.notFound("trial s/3")` otherwise);
/// - `checkpoints` lists a trial's checkpoints newest first (attempt, then seq);
/// - `pruneCheckpoints` keeps the newest `keep` and returns the blob hashes that no remaining
///   checkpoint of *any* trial references: exactly the blobs that may be deleted;
/// - `isReferenced` says whether any checkpoint references a blob;
/// - `keepCheckpoint` is `recordCheckpoint`, `recordReport` and `pruneCheckpoints` in one
///   transaction (one sync instead of three, on the optimizer's hot path).
public protocol CheckpointIndex: AnyObject {
    /// Records a checkpoint and its CHECKPOINT report, then prunes the trial to the newest
    /// `keep`; returns the blobs that became unreferenced.
    func keepCheckpoint(_ checkpoint: CheckpointRecord, report: ReportRecord, keep: Int) throws(StoreError) -> [String]
    /// Records a checkpoint; false when it was already recorded.
    @discardableResult
    func recordCheckpoint(_ checkpoint: CheckpointRecord) throws(StoreError) -> Bool
    /// A trial's checkpoints, newest first.
    func checkpoints(study: String, trial: Int) throws(StoreError) -> [CheckpointRecord]
    /// Deletes all but the newest `keep` checkpoints of the trial; returns the unreferenced blobs.
    func pruneCheckpoints(study: String, trial: Int, keep: Int) throws(StoreError) -> [String]
    /// Whether any stored checkpoint references the blob.
    func isReferenced(blob sha256: String) throws(StoreError) -> Bool
}
