import LoomCheckpoint

/// Where the optimizer keeps checkpoints, and how many.
public struct CheckpointStoreSettings: Sendable {
    /// The blob directory (`<data dir>/checkpoints`); nil: checkpoints are not kept (their
    /// updates are recorded as reports, and restores find nothing).
    public var directory: String?
    /// Checkpoints kept per trial, newest first; older ones are deleted with the blobs only they
    /// referenced (`checkpoint_keep`).
    public var keep: Int
    /// A checkpoint whose files add up to more is refused (recorded with `checkpoint_error`).
    public var maxBytes: Int64
    /// Chunk size, window and retries of uploads.
    public var transfer: ChunkTransfer.Config

    public init(directory: String? = nil, keep: Int = 2, maxBytes: Int64 = 1 << 30, transfer: ChunkTransfer.Config = ChunkTransfer.Config()) {
        self.directory = directory
        self.keep = max(1, keep)
        self.maxBytes = maxBytes
        self.transfer = transfer
    }
}

/// The optimizer's checkpoint store: blobs in a `BlobDirectory`, indexed by a `CheckpointIndex`,
