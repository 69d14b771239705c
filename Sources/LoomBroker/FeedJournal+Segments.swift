#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LoomWire

extension FeedJournal {
    /// One file of the journal: its records, from `firstSeq` to `lastSeq`.
    final class Segment {
        let firstSeq: UInt64
        /// `firstSeq - 1` while empty.
        var lastSeq: UInt64
        /// Open while the segment is written, and always for an anonymous journal's (unlinked)
        /// files; -1 for a sealed segment on disk, opened only while a replay reads it, so a long
        /// history does not hold a descriptor per segment.
        var fd: Int32
        /// The file on disk (nil: an unlinked file of an anonymous journal).
        var path: String?
        /// Bytes written (records end here).
        var size: Int64
        let headerSize: Int64
        /// (seq, offset) of every `indexStride`-th record.
        var index: [(seq: UInt64, offset: Int64)] = []
        /// When its newest event was written, in seconds since the Unix epoch (retention by age).
        var lastWrite: Double

        init(firstSeq: UInt64, fd: Int32, path: String?, headerSize: Int64, lastWrite: Double) {
            self.firstSeq = firstSeq
            lastSeq = firstSeq - 1
            self.fd = fd
            self.path = path
            size = headerSize
            self.headerSize = headerSize
            self.lastWrite = lastWrite
        }

        /// For error messages.
        var name: String { path ?? "anonymous segment from seq \(firstSeq)" }

        /// A descriptor to read from, and whether the caller must close it.
        func readable() throws(Failure) -> (fd: Int32, owned: Bool) {
            if fd >= 0 { return (fd, false) }
            guard let path else { throw Failure(path: name, operation: "read (closed)", code: EBADF) }
            let opened = open(path, O_RDONLY | O_CLOEXEC)
            guard opened >= 0 else { throw Failure(path: path, operation: "open", code: errno) }
            return (opened, true)
        }

        /// Closes the descriptor of a sealed segment on disk.
        func closeSealed() {
            guard path != nil, fd >= 0 else { return }
            FeedJournal.closeDescriptor(fd)
            fd = -1
        }

        /// Where to start reading for the records after `after`.
        func startOffset(after: UInt64) -> Int64 {
            var low = 0, high = index.count
            while low < high {
                let mid = (low + high) / 2
                if index[mid].seq <= after + 1 { low = mid + 1 } else { high = mid }
            }
            return low == 0 ? headerSize : index[low - 1].offset
        }
    }

    /// The name of the sealed segment of `path` that starts at `firstSeq`.
    static func sealedPath(_ path: String, firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return path + "." + String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// Opens the segments of the journal at `path`, oldest first, completing an interrupted
    /// rotation and cutting a torn tail; returns the journal's id.
    static func openSegments(path: String, into segments: inout [Segment], repaired: inout Int64) throws(Failure) -> UInt64 {
        var id: UInt64?
        for (firstSeq, sealedPath) in try sealedSegments(of: path) {
            let fd = open(sealedPath, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw Failure(path: sealedPath, operation: "open", code: errno) }
            guard let header = try readHeader(fd: fd, path: sealedPath), header.firstSeq == firstSeq, id == nil || header.id == id else {
                closeDescriptor(fd)
                throw Failure(path: sealedPath, operation: "open (not a segment of this feed journal: bad header)", code: EINVAL)
            }
            id = header.id
            let segment = Segment(firstSeq: firstSeq, fd: fd, path: sealedPath, headerSize: header.size, lastWrite: modificationTime(fd))
            segments.append(segment)
            repaired += try recover(segment)
            segment.closeSealed()
            if segments.count > 1, segments[segments.count - 2].lastSeq + 1 != firstSeq {
                throw Failure(path: sealedPath, operation: "open (seqs \(segments[segments.count - 2].lastSeq + 1)…\(firstSeq - 1) are missing before it)", code: EINVAL)
            }
        }
        let next = (segments.last?.lastSeq ?? 0) + 1
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(path: path, operation: "open", code: errno) }
        let header: (id: UInt64, firstSeq: UInt64, size: Int64)?
        do {
            header = try readHeader(fd: fd, path: path)
        } catch {
            closeDescriptor(fd)
            throw error
        }
        if let header {
            guard (id == nil || header.id == id) && header.firstSeq == next else {
                closeDescriptor(fd)
                throw Failure(path: path, operation: "open (its id or first seq \(header.firstSeq) does not follow its sealed segments)", code: EINVAL)
            }
            let segment = Segment(firstSeq: header.firstSeq, fd: fd, path: path, headerSize: header.size, lastWrite: modificationTime(fd))
            segments.append(segment)
            repaired += try recover(segment)
            return header.id
        }
        // New, or its header was torn while a rotation created it: start it after the sealed ones.
        let journalID = id ?? UInt64.random(in: 1...UInt64.max)
        let segment = Segment(firstSeq: next, fd: fd, path: path, headerSize: Int64(headerSize), lastWrite: wallClock())
        segments.append(segment)
        try writeHeader(segment, id: journalID)
        return journalID
    }

    /// A new, empty segment starting at `firstSeq`: the file `basePath`, or an unlinked
    /// temporary file when `basePath` is nil.
    static func createSegment(basePath: String?, id: UInt64, firstSeq: UInt64) throws(Failure) -> Segment {
        let fd: Int32
        if let basePath {
            fd = open(basePath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw Failure(path: basePath, operation: "open", code: errno) }
        } else {
            var template = Array("/tmp/hyperloom-feed-XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            let name = String(cString: template.map { UInt8(bitPattern: $0) } + [0])
            guard fd >= 0 else { throw Failure(path: name, operation: "mkstemp", code: errno) }
            unlink(name)
        }
        let segment = Segment(firstSeq: firstSeq, fd: fd, path: basePath, headerSize: Int64(headerSize), lastWrite: wallClock())
        try writeHeader(segment, id: id)
        return segment
    }

    /// Seals the segment being written and starts the next one.
    ///
    /// Crash safety: the full segment is fsynced, renamed to its sealed name (the directory
    /// fsynced), then the new `path` is created with its header and fsynced. Opening after a crash
    /// between the two finds no `path`, or one with a torn header, and starts it afresh.
    func rotate() throws(Failure) {
        let full = segments[segments.count - 1]
        guard fsync(full.fd) == 0 else { throw Failure(path: full.name, operation: "fsync", code: errno) }
        full.lastWrite = Self.wallClock()
        if let basePath {
            let sealed = Self.sealedPath(basePath, firstSeq: full.firstSeq)
            guard rename(basePath, sealed) == 0 else { throw Failure(path: basePath, operation: "rename to \(sealed)", code: errno) }
            full.path = sealed
            full.closeSealed()
            try Self.syncDirectory(of: basePath)
        }
        segments.append(try Self.createSegment(basePath: basePath, id: id, firstSeq: lastSeq + 1))
    }

    /// Deletes a sealed segment (retention).
    func drop(_ segment: Segment) throws(Failure) {
        if segment.fd >= 0 { Self.closeDescriptor(segment.fd) }
        if let path = segment.path {
            guard unlink(path) == 0 || errno == ENOENT else { throw Failure(path: path, operation: "unlink", code: errno) }
        }
    }

    // MARK: - Files

    /// `path.<20 digits>` beside `path`, by first seq.
    private static func sealedSegments(of path: String) throws(Failure) -> [(UInt64, String)] {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let dir = opendir(directory.isEmpty ? "/" : directory) else {
            throw Failure(path: directory, operation: "opendir", code: errno)
        }
        defer { closedir(dir) }
        var found: [(UInt64, String)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix(base + "."), name.count == base.count + 21 else { continue }
            let digits = name.suffix(20)
            guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let first = UInt64(digits), first > 0 else { continue }
            found.append((first, (directory.isEmpty ? "" : directory + "/") + name))
        }
        return found.sorted { $0.0 < $1.0 }
    }

    /// The header's id, first seq and size; nil for an empty file or a torn header (a prefix of
    /// either format's magic); a failure for anything else.
    private static func readHeader(fd: Int32, path: String) throws(Failure) -> (id: UInt64, firstSeq: UInt64, size: Int64)? {
        var header = [UInt8](repeating: 0, count: headerSize)
        let read = try readFully(fd: fd, path: path, &header, at: 0)
        let magic = Array(header[0..<min(8, read)])
        if read >= legacyHeaderSize, magic == legacyMagic {
            return (BigEndian.uint64(Array(header[8..<16])) ?? 0, 1, Int64(legacyHeaderSize))
        }
        if read == headerSize, magic == Self.magic, let firstSeq = BigEndian.uint64(Array(header[16..<24])), firstSeq > 0 {
            return (BigEndian.uint64(Array(header[8..<16])) ?? 0, firstSeq, Int64(headerSize))
        }
        if read < headerSize, magic == Array(Self.magic.prefix(magic.count)) || magic == Array(legacyMagic.prefix(magic.count)) {
            return nil
        }
        throw Failure(path: path, operation: "open (not a feed journal: bad header)", code: EINVAL)
    }

    private static func writeHeader(_ segment: Segment, id: UInt64) throws(Failure) {
        guard ftruncate(segment.fd, 0) == 0 else { throw Failure(path: segment.name, operation: "ftruncate", code: errno) }
        let header: [UInt8] = magic + BigEndian.frame(id) + BigEndian.frame(segment.firstSeq)
        try writeFully(fd: segment.fd, path: segment.name, header, at: 0)
        guard fsync(segment.fd) == 0 else { throw Failure(path: segment.name, operation: "fsync", code: errno) }
        segment.size = Int64(headerSize)
        if let path = segment.path { try syncDirectory(of: path) }
    }

    /// Reads every record of `segment`, rebuilding its index and `lastSeq`, and cuts a torn or
    /// corrupt tail; returns the bytes cut.
    private static func recover(_ segment: Segment) throws(Failure) -> Int64 {
        let end = Int64(lseek(segment.fd, 0, SEEK_END))
        guard end >= 0 else { throw Failure(path: segment.name, operation: "lseek", code: errno) }
        segment.size = end
        var reader = RecordReader(segment: segment, fd: segment.fd, offset: segment.headerSize)
        var good = segment.headerSize
        while let (event, next) = try reader.next(), event.seq == segment.lastSeq + 1 {
            if (event.seq - 1) % indexStride == 0 { segment.index.append((event.seq, good)) }
            segment.lastSeq = event.seq
            good = next
        }
        segment.size = good
        guard good < end else { return 0 }
        guard ftruncate(segment.fd, off_t(good)) == 0 else { throw Failure(path: segment.name, operation: "ftruncate", code: errno) }
        guard fsync(segment.fd) == 0 else { throw Failure(path: segment.name, operation: "fsync", code: errno) }
        return end - good
    }

    private static func syncDirectory(of path: String) throws(Failure) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(path: directory, operation: "open directory", code: errno) }
        defer { closeDescriptor(fd) }
        // Some file systems refuse fsync on a directory (EINVAL): the rename is then as durable as they make it.
        guard fsync(fd) == 0 || errno == EINVAL else { throw Failure(path: directory, operation: "fsync directory", code: errno) }
    }

    private static func modificationTime(_ fd: Int32) -> Double {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return wallClock() }
        return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }

    static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func closeDescriptor(_ fd: Int32) {
        #if canImport(Glibc)
        _ = Glibc.close(fd)
        #else
        _ = Darwin.close(fd)
        #endif
    }

    static func writeFully(fd: Int32, path: String, _ bytes: [UInt8], at offset: Int64) throws(Failure) {
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
    static func readFully(fd: Int32, path: String, _ buffer: inout [UInt8], at offset: Int64) throws(Failure) -> Int {
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

    /// Sequential reader of one segment's records through a 256 KiB window.
    struct RecordReader {
        let segment: Segment
        let fd: Int32
        var offset: Int64
        private var window: [UInt8] = []
        private var windowStart: Int64 = 0

        init(segment: Segment, fd: Int32, offset: Int64) {
            self.segment = segment
            self.fd = fd
            self.offset = offset
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
            guard position + Int64(count) <= segment.size else { return nil }
            if position < windowStart || position + Int64(count) > windowStart + Int64(window.count) {
                window = [UInt8](repeating: 0, count: max(count, 256 << 10))
                let got = try FeedJournal.readFully(fd: fd, path: segment.name, &window, at: position)
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
