/// FETCH (0x08) and CHUNK (0x09): the two messages that move checkpoints between a worker and the
/// client that owns its job (the optimizer), through the broker, in both directions.
///
/// The *receiver* of data drives a transfer: it sends FETCH naming what it wants (a checkpoint's
/// manifest, or a range of one blob) and the holder answers each FETCH with exactly one CHUNK
/// carrying the same request id. A FETCH is therefore the flow control: the receiver keeps a
/// window of FETCHes outstanding and asks for more only as CHUNKs arrive, so no party (broker
/// included) ever holds more than a window of chunks. Lost messages are recovered by the
/// receiver asking again after a timeout; a holder answers every FETCH independently (no
/// session state), so a repeated FETCH is harmless.
///
/// Routing: the broker forwards a worker's FETCH/CHUNK about `(job, lease)` to the job's owner
/// client, and a client's FETCH/CHUNK to the worker that runs (or ran) that lease. Messages that
/// cannot be routed are dropped; the requester's timeout covers them.
public struct Transfer: Equatable, Sendable {
    /// Which of the two messages.
    public enum Kind: UInt8, Sendable {
        /// A request: `body` is a `FetchBody` (JSON); `data` is empty.
        case fetch = 0x08
        /// An answer: `body` is a `ChunkHeader` (JSON); `data` is the bytes asked for.
        case chunk = 0x09
    }

    public var kind: Kind
    /// The job the transfer is about (for routing), and the attempt's lease on the worker.
    public var job: String
    public var lease: UInt64
    /// Chosen by the requester; the answer carries it back.
    public var request: UInt64
    public var body: Frame
    public var data: Frame

    public init(kind: Kind, job: String, lease: UInt64, request: UInt64, body: Frame, data: Frame = []) {
        self.kind = kind
        self.job = job
        self.lease = lease
        self.request = request
        self.body = body
        self.data = data
    }

    /// A FETCH carrying `body`.
    public static func fetch(job: String, lease: UInt64, request: UInt64, _ body: FetchBody) -> Transfer {
        Transfer(kind: .fetch, job: job, lease: lease, request: request, body: JSONCoding.encode(body))
    }

    /// The CHUNK answering this FETCH.
    public func answer(_ header: ChunkHeader, data: Frame = []) -> Transfer {
        Transfer(kind: .chunk, job: job, lease: lease, request: request, body: JSONCoding.encode(header), data: data)
    }

    public var command: Command { Command(rawValue: kind.rawValue)! }

    /// Frames after the command frame: `job, lease (u64), request (u64), body` and, for CHUNK, `data`.
    public var frames: [Frame] {
        let head: [Frame] = [Array(job.utf8), BigEndian.frame(lease), BigEndian.frame(request), body]
        return kind == .chunk ? head + [data] : head
    }
}

/// The JSON body of a FETCH.
public struct FetchBody: Codable, Equatable, Sendable {
    /// `latest`: the manifest of the newest stored checkpoint of `job`; `blob`: `length` bytes of
    /// blob `sha256` from `offset`.
    public var op: String
    /// For `latest`: whose checkpoint (another job's for a PBT exploit; the FETCH's own job when absent).
    public var job: String?
    public var sha256: String?
    public var offset: Int64?
    public var length: Int?

    public static let latest = "latest"
    public static let blob = "blob"

    public init(op: String, job: String? = nil, sha256: String? = nil, offset: Int64? = nil, length: Int? = nil) {
        self.op = op
        self.job = job
        self.sha256 = sha256
        self.offset = offset
        self.length = length
    }
}

/// The JSON header of a CHUNK. Exactly one of `error`, `checkpoint`, `none` or the blob fields is
/// meaningful.
public struct ChunkHeader: Codable, Equatable, Sendable {
    /// The FETCH could not be answered (unknown blob, unreadable file, …).
    public var error: String?
    /// `latest` found no stored checkpoint.
    public var none: Bool?
    /// `latest`: the newest stored checkpoint.
    public var checkpoint: CheckpointManifest?
    /// `blob`: which bytes `data` holds.
    public var sha256: String?
    public var offset: Int64?

    public init(error: String? = nil, none: Bool? = nil, checkpoint: CheckpointManifest? = nil,
                sha256: String? = nil, offset: Int64? = nil) {
        self.error = error
        self.none = none
        self.checkpoint = checkpoint
        self.sha256 = sha256
        self.offset = offset
    }
}

/// One file of a checkpoint: its path below the checkpoint directory and its content's SHA-256.
public struct CheckpointFile: Codable, Hashable, Sendable {
    /// Relative path, `/`-separated, never `..` nor absolute.
    public var path: String
    /// Lower-case hex SHA-256 of the content: the blob's name.
    public var sha256: String
    public var size: Int64
    /// Whether the file was executable.
    public var executable: Bool?

    public init(path: String, sha256: String, size: Int64, executable: Bool? = nil) {
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.executable = executable
    }
}

/// What a consistent checkpoint holds, and which attempt made it.
///
/// Travels in the `checkpoint_manifest` key of a CHECKPOINT update's payload (the worker adds it
/// to the trial's metric object) and in the CHUNK answering FETCH `latest`.
public struct CheckpointManifest: Codable, Hashable, Sendable {
    /// The job (trial) whose attempt wrote it.
    public var job: String
    public var attempt: UInt32
    /// The CHECKPOINT update's seq within that attempt: with `attempt`, orders checkpoints.
    public var seq: UInt64
    public var files: [CheckpointFile]

    public init(job: String, attempt: UInt32, seq: UInt64, files: [CheckpointFile]) {
        self.job = job
        self.attempt = attempt
        self.seq = seq
        self.files = files
    }

    /// Total bytes of its files.
    public var bytes: Int64 { files.reduce(0) { $0 + $1.size } }

    /// The distinct blobs it references, by hash, with their sizes.
    public var blobs: [String: Int64] {
        var out: [String: Int64] = [:]
        for file in files { out[file.sha256] = file.size }
        return out
    }

    /// Whether this checkpoint is newer than one made at (`attempt`, `seq`).
    public func isNewer(thanAttempt otherAttempt: UInt32, seq otherSeq: UInt64) -> Bool {
        (attempt, seq) > (otherAttempt, otherSeq)
    }

    /// The key of CHECKPOINT payloads that carries the manifest.
    public static let payloadKey = "checkpoint_manifest"
}
