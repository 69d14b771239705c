#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LoomWire

/// The feed's append-only journal: every event the broker publishes, in sequence order, so the
/// sequence continues across broker restarts and late subscribers are replayed from disk.
///
/// **Format.** A 16-byte header (`HLFJ0001`, then the journal id as u64 big-endian), then one
/// record per event: `u32 length` of the rest, `u64 seq`, and the frames `topic`, `body` and,
/// when present, `payload`, each as `u32 length` + bytes. All integers big-endian.
/// **Invariants.** Records are contiguous and their seqs are 1, 2, 3, … with no hole. A torn
/// record at the end (a crash mid-write) is cut off when the journal is opened.
/// **Durability.** `append` buffers in memory; `flush` writes the buffer with write(2) (the
/// events then survive a crash of the process) and the service calls it before publishing the
/// events, so no subscriber ever sees an event the journal could forget after a process crash.
/// `syncIfDue` fsyncs at most every `syncInterval` (a machine crash loses at most that much).
/// **Memory.** Bounded by the write buffer plus one index entry per `indexStride` events; history
/// is read back from the file, never held.
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

    static let magic: [UInt8] = Array("HLFJ0001".utf8)
    static let headerSize = 16
    /// One index entry per this many events: 1 M events cost 64 KiB of index, and a replay
    /// starts at most this many records before the one asked for.
    static let indexStride: UInt64 = 256
    /// Longest record accepted when reading back; anything longer is treated as corruption.
    static let maxRecord = 256 << 20

    /// The journal's id, random when the file was created: a new id tells subscribers that the
    /// sequence started again.
    public let id: UInt64
    /// The last sequence number appended (0: none).
    public private(set) var lastSeq: UInt64 = 0
    /// The path, or a description for an anonymous journal.
    public let path: String
    /// How often `syncIfDue` fsyncs.
    public let syncInterval: Duration
    /// Bytes the journal holds (written and buffered).
    public var bytes: Int64 { size + Int64(pending.count) }
    /// Files the journal is kept in.
    public var segmentCount: Int { 1 }
    /// Bytes cut off a torn last record when the journal was opened.
    public private(set) var repairedBytes: Int64 = 0

    private var fd: Int32
    /// Bytes written to the file (records end here).
    private var size: Int64
    private var pending: [UInt8] = []
    private var unsynced = false
    private var lastSync: ContinuousClock.Instant = .now
    /// (seq, offset) of every `indexStride`-th record.
    private var index: [(seq: UInt64, offset: Int64)] = []

    /// Opens (creating when missing) the journal at `path`; with `path` nil, an anonymous journal
    /// in the temporary directory that disappears with the process (history for replay, no
    /// continuity across restarts).
    public init(path: String?, syncInterval: Duration = .seconds(1)) throws(Failure) {
        self.syncInterval = syncInterval
        if let path {
            self.path = path
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw Failure(path: path, operation: "open", code: errno) }
            // Two brokers appending to one journal would interleave their sequences.
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let code = errno
                Self.closeDescriptor(fd)
                throw Failure(path: path, operation: "lock (another broker uses this journal)", code: code)
            }
        } else {
            var template = Array("/tmp/hyperloom-feed-XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            let name = String(cString: template.map { UInt8(bitPattern: $0) } + [0])
            self.path = "anonymous (\(name))"
            guard fd >= 0 else { throw Failure(path: name, operation: "mkstemp", code: errno) }
            unlink(name)
        }
        size = 0
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        let read = try Self.readFully(fd: fd, path: self.path, &header, at: 0)
        if read == Self.headerSize, Array(header[0..<8]) == Self.magic {
            id = BigEndian.uint64(Array(header[8..<16])) ?? 0
            size = Int64(Self.headerSize)
            try recover()
        } else if read == 0 || (read < Self.headerSize && Array(header[0..<read]) == Array(Self.magic.prefix(read))) {
            id = UInt64.random(in: 1...UInt64.max)
            try writeHeader()
        } else {
            let path = self.path
            Self.closeDescriptor(fd)
            throw Failure(path: path, operation: "open (not a feed journal: bad header)", code: EINVAL)
        }
    }

    deinit { close() }

    /// Buffers `event`, whose `seq` must be `lastSeq + 1`.
    public func append(_ event: FeedEvent) {
        precondition(event.seq == lastSeq + 1, "feed journal: seq \(event.seq) after \(lastSeq)")
        if (event.seq - 1) % Self.indexStride == 0 { index.append((event.seq, size + Int64(pending.count))) }
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

    /// Writes buffered events to the file (they then survive a crash of the process).
    public func flush() throws(Failure) {
        guard !pending.isEmpty else { return }
        try writeFully(pending, at: size)
        size += Int64(pending.count)
        pending.removeAll(keepingCapacity: true)
        unsynced = true
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
        guard fsync(fd) == 0 else { throw Failure(path: path, operation: "fsync", code: errno) }
        unsynced = false
        lastSync = now
    }

    /// The events with `seq > after` whose topic matches `prefixes` (empty: all), at most
    /// `limit` of them and scanning at most `scanLimit` records; `through` is the last seq
    /// examined (every matching event up to it is in `events`).
    public func read(after: UInt64, prefixes: [String] = [], limit: Int, scanLimit: Int = 50_000) throws(Failure)
        -> (events: [FeedEvent], through: UInt64) {
        try flush()
        guard after < lastSeq else { return ([], lastSeq) }
        var offset = startOffset(after: after)
        var events: [FeedEvent] = []
        var through = after
        var scanned = 0
        var reader = RecordReader(journal: self, offset: offset)
        while events.count < limit, scanned < scanLimit, let (event, next) = try reader.next() {
            offset = next
            guard event.seq > after else { continue }
            scanned += 1
            through = event.seq
            if FeedReplay.matches(event.topic, prefixes: prefixes) { events.append(event) }
        }
        return (events, through)
    }

    /// Flushes, fsyncs and closes the file. Idempotent.
    public func close() {
        guard fd >= 0 else { return }
        try? sync()
        Self.closeDescriptor(fd)
        fd = -1
    }

    // MARK: - File access

    private static func closeDescriptor(_ fd: Int32) {
        #if canImport(Glibc)
        _ = Glibc.close(fd)
        #else
        _ = Darwin.close(fd)
        #endif
    }

    private func startOffset(after: UInt64) -> Int64 {
        var low = 0, high = index.count
        while low < high {
            let mid = (low + high) / 2
            if index[mid].seq <= after + 1 { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? Int64(Self.headerSize) : index[low - 1].offset
    }

    /// Reads every record, rebuilding the index and `lastSeq`, and cuts a torn or corrupt tail.
    private func recover() throws(Failure) {
        let end = Int64(lseek(fd, 0, SEEK_END))
        guard end >= 0 else { throw Failure(path: path, operation: "lseek", code: errno) }
        var reader = RecordReader(journal: self, offset: Int64(Self.headerSize), end: end)
        var good = Int64(Self.headerSize)
        while let (event, next) = try reader.next(), event.seq == lastSeq + 1 {
            if (event.seq - 1) % Self.indexStride == 0 { index.append((event.seq, good)) }
            lastSeq = event.seq
            good = next
        }
        size = good
        if good < end {
            repairedBytes = end - good
            guard ftruncate(fd, off_t(good)) == 0 else { throw Failure(path: path, operation: "ftruncate", code: errno) }
            guard fsync(fd) == 0 else { throw Failure(path: path, operation: "fsync", code: errno) }
        }
    }

    private func writeHeader() throws(Failure) {
        guard ftruncate(fd, 0) == 0 else { throw Failure(path: path, operation: "ftruncate", code: errno) }
        var header: [UInt8] = Self.magic
        header.append(contentsOf: BigEndian.frame(id))
        try writeFully(header, at: 0)
        guard fsync(fd) == 0 else { throw Failure(path: path, operation: "fsync", code: errno) }
        size = Int64(Self.headerSize)
    }

    private func writeFully(_ bytes: [UInt8], at offset: Int64) throws(Failure) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, operation: "write", code: errno)
            }
            done += n
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end of the file.
    fileprivate func readFully(_ buffer: inout [UInt8], at offset: Int64) throws(Failure) -> Int {
        try Self.readFully(fd: fd, path: path, &buffer, at: offset)
    }

    private static func readFully(fd: Int32, path: String, _ buffer: inout [UInt8], at offset: Int64) throws(Failure) -> Int {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(path: path, operation: "read", code: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Sequential reader of records through a 256 KiB window.
    private struct RecordReader {
        let journal: FeedJournal
        var offset: Int64
        var end: Int64?
        private var window: [UInt8] = []
        private var windowStart: Int64 = 0

        init(journal: FeedJournal, offset: Int64, end: Int64? = nil) {
            self.journal = journal
            self.offset = offset
            self.end = end
        }

        /// The next whole record and the offset after it; nil at the end or at a torn/corrupt record.
        mutating func next() throws(Failure) -> (FeedEvent, Int64)? {
            guard let lengthBytes = try bytes(at: offset, count: 4), let length = BigEndian.uint32(lengthBytes),
                  length >= 8, Int(length) <= FeedJournal.maxRecord,
                  let record = try bytes(at: offset + 4, count: Int(length)),
                  let event = Self.decode(record) else { return nil }
            offset += 4 + Int64(length)
            return (event, offset)
        }

        private mutating func bytes(at position: Int64, count: Int) throws(Failure) -> [UInt8]? {
            let limit = end ?? (journal.size)
            guard position + Int64(count) <= limit else { return nil }
            if position < windowStart || position + Int64(count) > windowStart + Int64(window.count) {
                window = [UInt8](repeating: 0, count: max(count, 256 << 10))
                let got = try journal.readFully(&window, at: position)
                window.removeLast(window.count - got)
                windowStart = position
                guard got >= count else { return nil }
            }
            let start = Int(position - windowStart)
            return Array(window[start..<start + count])
        }

        static func decode(_ record: [UInt8]) -> FeedEvent? {
            guard let seq = BigEndian.uint64(Array(record[0..<8])) else { return nil }
            var frames: [[UInt8]] = []
            var at = 8
            while at < record.count {
                guard at + 4 <= record.count, let n = BigEndian.uint32(Array(record[at..<at + 4])),
                      at + 4 + Int(n) <= record.count else { return nil }
                frames.append(Array(record[at + 4..<at + 4 + Int(n)]))
                at += 4 + Int(n)
            }
            guard frames.count == 2 || frames.count == 3, let topic: String = String(validating: frames[0], as: UTF8.self) else { return nil }
            return FeedEvent(topic: topic, seq: seq, body: frames[1], payload: frames.count == 3 ? frames[2] : nil)
        }
    }
}
