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

    /// Total bytes of its files; `Int64.max` when they overflow (only an unvalidated manifest's
    /// can: `validate()` bounds every size).
    public var bytes: Int64 {
        var total: Int64 = 0
        for file in files {
            let (sum, overflow) = total.addingReportingOverflow(max(0, file.size))
            if overflow { return .max }
            total = sum
        }
        return total
    }

    /// Most files one checkpoint may hold: a manifest is one JSON object in one message, and
    /// every file costs a row in the index and a file operation on restore.
    public static let maxFiles = 100_000
    /// Largest single file of a checkpoint (1 TiB): with `maxFiles`, totals stay far from
    /// overflowing 64 bits.
    public static let maxFileBytes: Int64 = 1 << 40
    /// Longest path of a file, in bytes of UTF-8 (PATH_MAX).
    public static let maxPathBytes = 4096

    /// Throws unless every field a peer supplied is in range: at most `maxFiles` files, each
    /// with a safe relative path (`isSafePath`), a lower-case hex SHA-256 and a size from 0 to
    /// `maxFileBytes`, and one size per blob. Called wherever a manifest arrives from a peer,
    /// before its sizes are added up or ranges are made of them.
    public func validate() throws(WireError) {
        let name = "CHECKPOINT"
        guard files.count <= Self.maxFiles else {
            throw .badValue(command: name, field: "checkpoint_manifest.files", reason: "holds \(files.count) files; at most \(Self.maxFiles)")
        }
        var sizes: [String: Int64] = [:]
        for (i, file) in files.enumerated() {
            let field = "checkpoint_manifest.files[\(i)]"
            guard Self.isSafePath(file.path) else {
                throw .badValue(command: name, field: field + ".path", reason: "must be a relative path of 1 to \(Self.maxPathBytes) bytes without NUL, \"..\", \".\" or empty components")
            }
            guard Self.isHash(file.sha256) else {
                throw .badValue(command: name, field: field + ".sha256", reason: "must be 64 lower-case hex digits")
            }
            guard (0...Self.maxFileBytes).contains(file.size) else {
                throw .badValue(command: name, field: field + ".size", reason: "is \(file.size); must be from 0 to \(Self.maxFileBytes)")
            }
            if let other = sizes.updateValue(file.size, forKey: file.sha256), other != file.size {
                throw .badValue(command: name, field: field + ".size", reason: "is \(file.size), but another file with the same sha256 has \(other)")
            }
        }
    }

    /// A relative path without `..`, `.` or empty components, without NUL (which the file system
    /// would cut the path at), at most `maxPathBytes` bytes.
    public static func isSafePath(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= maxPathBytes, !path.hasPrefix("/"), !path.utf8.contains(0) else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// Whether `text` is 64 lower-case hex digits (a SHA-256 as blobs are named).
    public static func isHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

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

    /// Whether a directory whose last checkpoint was made at (`attempt`, `seq`) holds this one
    /// or a later one of the same attempt. A checkpoint of another attempt says nothing about
    /// progress: a backup copy runs beside the attempt it copies, from an older checkpoint, so a
    /// higher attempt number is not more work done (simulation seed 13297).
    public func isHeld(byAttempt otherAttempt: UInt32, seq otherSeq: UInt64) -> Bool {
        attempt == otherAttempt && seq <= otherSeq
    }

    /// The key of CHECKPOINT payloads that carries the manifest.
    public static let payloadKey = "checkpoint_manifest"
}
