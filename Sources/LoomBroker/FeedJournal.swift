#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LoomWire

/// How much of the feed's history the journal keeps (`--feed-retain-bytes`, `--feed-retain-age`).
public struct FeedRetention: Sendable, Equatable {
    /// The journal is rotated into a new segment once the current one holds this many bytes;
    /// history is dropped a whole segment at a time.
    public var segmentBytes: Int64
    /// Segments are dropped, oldest first, while the journal holds more than this; nil: no bound.
    /// The segment being written is never dropped, so the journal may exceed it by one segment.
    public var maxBytes: Int64?
    /// A segment whose newest event is older than this is dropped; nil: no bound.
    public var maxAge: Duration?

    /// 64 MiB segments: a replay seeks within one through the sparse index, and dropping one
    /// frees a useful amount at once.
    public static let defaultSegmentBytes: Int64 = 64 << 20

    public init(segmentBytes: Int64 = defaultSegmentBytes, maxBytes: Int64? = nil, maxAge: Duration? = nil) {
        self.segmentBytes = max(segmentBytes, 4_096)
        self.maxBytes = maxBytes
        self.maxAge = maxAge
    }

    /// Everything is kept (one segment after another).
    public static let keepEverything = FeedRetention()
}

/// The feed's append-only journal: every event the broker publishes, in sequence order, so the
/// sequence continues across broker restarts and late subscribers are replayed from disk.
///
/// **Segments.** The journal is the file `path` (the segment being written) and the sealed
/// segments `path.<first seq, 20 digits>` beside it, each a whole number of records. When the
/// written segment reaches `retention.segmentBytes` it is fsynced and renamed to its sealed name,
/// and a new `path` starts. Retention drops sealed segments, oldest first (`firstSeq` rises).
/// **Format.** A header — `HLFJ0002`, the journal id (u64), the segment's first seq (u64); or the
/// legacy 16-byte `HLFJ0001` + id of a single-file journal, whose first seq is 1 — then one
/// record per event: `u32 length` of the rest, `u64 seq`, and the frames `topic`, `body` and,
/// when present, `payload`, each as `u32 length` + bytes. All integers big-endian.
/// **Invariants.** Across the segments, records are contiguous and their seqs are `firstSeq`,
/// `firstSeq + 1`, … `lastSeq` with no hole; every segment carries the journal's id. A torn
/// record at the end (a crash mid-write) is cut when the journal is opened; a crash mid-rotation
/// leaves either the old `path` or a sealed segment without `path`, and opening completes it.
/// **Durability.** `append` buffers in memory; `flush` writes the buffer with write(2) (the
/// events then survive a crash of the process) and the service calls it before publishing the
/// events, so no subscriber ever sees an event the journal could forget after a process crash.
/// `syncIfDue` fsyncs at most every `syncInterval` (a machine crash loses at most that much).
/// **Memory.** Bounded by the write buffer and one index entry per `indexStride` events; history is
/// read back from the files, never held. Sealed segments on disk hold no descriptor (a replay opens
/// the ones it reads); an anonymous journal keeps one per segment (its files are unlinked).
/// **Threading.** One thread (the broker's loop).
public final class FeedJournal {
    /// Why the journal could not be opened, read or written.
    public struct Failure: Error, CustomStringConvertible {
        public var path: String
        public var operation: String
        public var code: Int32
        public var description: String {
            "feed journal \(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }

    static let legacyMagic: [UInt8] = Array("HLFJ0001".utf8)
    static let magic: [UInt8] = Array("HLFJ0002".utf8)
    static let legacyHeaderSize = 16
    static let headerSize = 24
    /// One index entry per this many events: 1 M events cost 64 KiB of index, and a replay
    /// starts at most this many records before the one asked for.
    static let indexStride: UInt64 = 256
    /// Longest record accepted when reading back; anything longer is treated as corruption.
    static let maxRecord = 256 << 20

    /// The journal's id, random when the journal was created: a new id tells subscribers that the
    /// sequence started again.
    public let id: UInt64
    /// The last sequence number appended (0: none).
    public private(set) var lastSeq: UInt64 = 0
    /// The path of the segment being written, or a description for an anonymous journal.
    public let path: String
    /// How often `syncIfDue` fsyncs.
    public let syncInterval: Duration
    /// What history is kept.
    public let retention: FeedRetention
    /// Bytes cut off a torn last record when the journal was opened.
    public private(set) var repairedBytes: Int64 = 0
    /// Sealed segments dropped by retention since the journal was opened.
    public private(set) var droppedSegments = 0

    /// Oldest first; the last one is being written.
    var segments: [Segment] = []
    var pending: [UInt8] = []
    /// A write that failed inside `append`, thrown by the next `flush`.
    private var deferredFailure: Failure?
    private var unsynced = false
    private var lastSync: ContinuousClock.Instant = .now
    /// Where the segments live: `path` (nil: anonymous, every segment an unlinked file).
    let basePath: String?
    /// The descriptor holding the journal's lock (named journals).
    private var lockFD: Int32 = -1

    /// Opens (creating when missing) the journal at `path`; with `path` nil, an anonymous journal
    /// in the temporary directory that disappears with the process (history for replay, no
    /// continuity across restarts).
    public init(path: String?, syncInterval: Duration = .seconds(1), retention: FeedRetention = .keepEverything) throws(Failure) {
        self.syncInterval = syncInterval
        self.retention = retention
        basePath = path
        self.path = path ?? "anonymous"
        var opened: [Segment] = []
        var repaired: Int64 = 0
        if let path {
            let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard lock >= 0 else { throw Failure(path: path + ".lock", operation: "open", code: errno) }
            // Two brokers appending to one journal would interleave their sequences.
            guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
                let code = errno
                Self.closeDescriptor(lock)
                throw Failure(path: path, operation: "lock (another broker uses this journal)", code: code)
            }
            do {
                id = try Self.openSegments(path: path, into: &opened, repaired: &repaired)
            } catch {
                for segment in opened where segment.fd >= 0 { Self.closeDescriptor(segment.fd) }
                Self.closeDescriptor(lock)
                throw error
            }
            lockFD = lock
        } else {
            id = UInt64.random(in: 1...UInt64.max)
            opened = [try Self.createSegment(basePath: nil, id: id, firstSeq: 1)]
        }
        segments = opened
        repairedBytes = repaired
        lastSeq = opened.last.map { $0.lastSeq } ?? 0
    }

    deinit { close() }

    /// The first sequence number still in the journal (`lastSeq + 1` when retention dropped
    /// everything or nothing was appended yet).
    public var firstSeq: UInt64 { segments.first?.firstSeq ?? lastSeq + 1 }

    /// Bytes the journal holds on disk (every segment, plus what is buffered).
    public var bytes: Int64 { segments.reduce(Int64(pending.count)) { $0 + $1.size } }

    /// Files the journal is kept in.
    public var segmentCount: Int { segments.count }

    /// Buffers `event`, whose `seq` must be `lastSeq + 1`. When the segment being written is full
    /// (with what is buffered), the buffer is written and the next segment started first, so a
    /// burst in one loop turn still fills segments of about `segmentBytes`; a failure of that
    /// write is thrown by the next `flush`.
    public func append(_ event: FeedEvent) {
        precondition(event.seq == lastSeq + 1, "feed journal: seq \(event.seq) after \(lastSeq)")
        if deferredFailure == nil, segments[segments.count - 1].size + Int64(pending.count) >= retention.segmentBytes {
            do { try flush() } catch { deferredFailure = error }
        }
        let active = segments[segments.count - 1]
        if (event.seq - 1) % Self.indexStride == 0 { active.index.append((event.seq, active.size + Int64(pending.count))) }
        var frames: [Frame] = [Array(event.topic.utf8), event.body]
        if let payload = event.payload { frames.append(payload) }
        var record: [UInt8] = BigEndian.frame(event.seq)
        for frame in frames {
            record.append(contentsOf: BigEndian.frame(UInt32(frame.count)))
            record.append(contentsOf: frame)
        }
        pending.append(contentsOf: BigEndian.frame(UInt32(record.count)))
        pending.append(contentsOf: record)
        lastSeq = event.seq
    }

    /// Writes buffered events to the file (they then survive a crash of the process); rotates to
    /// a new segment when the current one is full.
    public func flush() throws(Failure) {
        if let deferredFailure { throw deferredFailure }
        guard !pending.isEmpty else { return }
        let active = segments[segments.count - 1]
        try Self.writeFully(fd: active.fd, path: active.name, pending, at: active.size)
        active.size += Int64(pending.count)
        active.lastSeq = lastSeq
        pending.removeAll(keepingCapacity: true)
        unsynced = true
        if active.size >= retention.segmentBytes { try rotate() }
    }

    /// Flushes, and fsyncs when `syncInterval` has passed since the last fsync.
    public func syncIfDue(now: ContinuousClock.Instant) throws(Failure) {
        try flush()
        guard unsynced, now - lastSync >= syncInterval else { return }
        try sync(now: now)
    }

    /// Flushes and fsyncs now.
    public func sync(now: ContinuousClock.Instant = .now) throws(Failure) {
        try flush()
        guard unsynced else { return }
        let active = segments[segments.count - 1]
        guard fsync(active.fd) == 0 else { throw Failure(path: active.name, operation: "fsync", code: errno) }
        unsynced = false
        lastSync = now
    }

    /// Drops sealed segments that retention no longer keeps: oldest first while the journal
    /// holds more than `maxBytes`, and those whose newest event was written before `wallNow -
    /// maxAge` (seconds since the Unix epoch). Returns how many were dropped.
    @discardableResult
    public func enforceRetention(wallNow: Double) throws(Failure) -> Int {
        var dropped = 0
        while segments.count > 1 {
            let oldest = segments[0]
            let tooBig = retention.maxBytes.map { bytes > $0 } ?? false
            let tooOld = retention.maxAge.map { oldest.lastWrite < wallNow - Double($0.components.seconds) } ?? false
            guard tooBig || tooOld else { break }
            try drop(oldest)
            segments.removeFirst()
            dropped += 1
        }
        droppedSegments += dropped
        return dropped
    }

    /// The events with `seq > after` whose topic matches `prefixes` (empty: all), at most
    /// `limit` of them and scanning at most `scanLimit` records; `through` is the last seq
    /// examined (every matching event up to it is in `events`). History before `firstSeq` was
    /// dropped: a read after an earlier seq starts at `firstSeq`.
    public func read(after: UInt64, prefixes: [String] = [], limit: Int, scanLimit: Int = 50_000) throws(Failure)
        -> (events: [FeedEvent], through: UInt64) {
        try flush()
        guard after < lastSeq else { return ([], lastSeq) }
        let start = max(after, firstSeq - 1)
        var events: [FeedEvent] = []
        var through = start
        var scanned = 0
        var position = segmentIndex(containing: start + 1)
        var file = try segments[position].readable()
        defer { if file.owned { Self.closeDescriptor(file.fd) } }
        var reader = RecordReader(segment: segments[position], fd: file.fd, offset: segments[position].startOffset(after: start))
        reading: while events.count < limit, scanned < scanLimit {
            guard let (event, _) = try reader.next() else {
                position += 1
                guard position < segments.count else { break reading }
                if file.owned { Self.closeDescriptor(file.fd) }
                file = (-1, false)
                file = try segments[position].readable()
                reader = RecordReader(segment: segments[position], fd: file.fd, offset: segments[position].headerSize)
                continue
            }
            guard event.seq > start else { continue }
            scanned += 1
            through = event.seq
            if FeedReplay.matches(event.topic, prefixes: prefixes) { events.append(event) }
        }
        return (events, through)
    }

    /// Flushes, fsyncs and closes every file. Idempotent.
    public func close() {
        guard !segments.isEmpty else { return }
        try? sync()
        for segment in segments where segment.fd >= 0 { Self.closeDescriptor(segment.fd) }
        segments.removeAll()
        if lockFD >= 0 { Self.closeDescriptor(lockFD) }
        lockFD = -1
    }

    /// The segment holding `seq` (the last one when `seq` is past the end).
    private func segmentIndex(containing seq: UInt64) -> Int {
        var low = 0, high = segments.count
        while low < high {
            let mid = (low + high) / 2
            if segments[mid].firstSeq <= seq { low = mid + 1 } else { high = mid }
        }
        return max(0, low - 1)
    }
}
