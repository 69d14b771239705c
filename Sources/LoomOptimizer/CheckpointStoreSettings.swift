import LoomCheckpoint
import LoomWire

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
    /// A checkpoint of more files is refused too (`checkpoint_max_files`; at most
    /// `CheckpointManifest.maxFiles`, which the codec enforces).
    public var maxFiles: Int
    /// Chunk size, window and retries of uploads.
    public var transfer: ChunkTransfer.Config

    public init(directory: String? = nil, keep: Int = 2, maxBytes: Int64 = 1 << 30, maxFiles: Int = CheckpointManifest.maxFiles,
                transfer: ChunkTransfer.Config = ChunkTransfer.Config()) {
        self.directory = directory
        self.maxFiles = maxFiles
        self.keep = max(1, keep)
        self.maxBytes = maxBytes
        self.transfer = transfer
    }
}

/// The optimizer's checkpoint store: blobs in a `BlobDirectory`, indexed by a `CheckpointIndex`,
