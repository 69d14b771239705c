import Foundation
import LoomWire

/// Formats of `hyperloom logger` files.
public enum FeedLogFormat: String, Sendable, CaseIterable {
    /// One JSON object per line: `seq`, `topic`, the body's fields (`event`, `time`, …) and
    /// `payload` (parsed JSON) when the event has one.
    case jsonl
    /// `seq,time,topic,event,job,attempt,worker,body,payload` with a header line; `body` and
    /// `payload` hold JSON text.
    case csv

    /// The CSV header line.
    public static let csvHeader = "seq,time,topic,event,job,attempt,worker,body,payload"
}

/// A logger's output file: append-only, one feed event per line, durable at a bounded interval.
///
/// **Recovery.** Opening repairs a torn last line (a crash mid-write) by cutting it, and reads
/// the sequence number of the last whole line, so the logger resumes after it: every event is
/// written exactly once across restarts.
/// **Journal.** The id of the broker journal the lines come from is kept beside the file
/// (`<path>.journal`, 16 hex digits), so a logger restarted against a replaced journal notices it.
/// **Notices.** History the broker dropped before it was written is recorded as one line with
/// topic `feed/gap` (its `seq` is the last seq dropped; `from`, `through`); a replaced journal as
/// one line with topic `feed/journal` and seq 0 (the new journal's seqs start again from 1).
/// **Durability.** `append` buffers; `flush` writes whole lines with write(2) (they survive a
/// crash of the process); `syncIfDue` fsyncs at most every `syncInterval` (a machine crash loses
/// at most that much, and the logger writes it again after its restart).
/// **Threading.** One thread.
public final class FeedLogFile {
    /// Why the file could not be opened or written.
    public struct Failure: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public let path: String
    public let format: FeedLogFormat
    public let syncInterval: Duration
    /// The last sequence number in the file (nil: no event yet).
    public private(set) var lastSeq: UInt64?
    /// Bytes of a torn last line cut when the file was opened.
    public private(set) var repairedBytes = 0
    /// Lines written since the file was opened.
    public private(set) var written = 0
    /// The id of the broker journal the file's last lines come from (nil: not known yet).
    public private(set) var journal: UInt64?

    /// Where the journal id is kept.
    public var journalPath: String { path + ".journal" }

    private let handle: FileHandle
    private var pending: [UInt8] = []
    private var unsynced = false
    private var lastSync = ContinuousClock.now

    public init(path: String, format: FeedLogFormat, syncInterval: Duration = .seconds(1)) throws(Failure) {
        self.path = path
        self.format = format
        self.syncInterval = syncInterval
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw Failure(path: path, reason: "cannot create the file")
            }
        }
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw Failure(path: path, reason: "cannot open for writing") }
        self.handle = handle
        do {
            let (keep, last) = try Self.lastWholeLine(handle)
            let end = try handle.seekToEnd()
            if keep < end {
                repairedBytes = Int(end - keep)
                try handle.truncate(atOffset: keep)
                try handle.synchronize()
            }
            try handle.seek(toOffset: keep)
            if let last {
                lastSeq = Self.seq(ofLine: last, format: format)
                if lastSeq == nil && !(format == .csv && String(decoding: last, as: UTF8.self) == FeedLogFormat.csvHeader) {
                    throw Failure(path: path, reason: "the last line is not a \(format.rawValue) feed event; not appending to it")
                }
            }
            if format == .csv && keep == 0 { pending += Array((FeedLogFormat.csvHeader + "\n").utf8) }
            if let text = try? String(contentsOfFile: journalPath, encoding: .utf8) {
                let digits = text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard let id = UInt64(digits, radix: 16) else {
                    throw Failure(path: journalPath, reason: "expected the journal id (16 hex digits), found \"\(digits.prefix(40))\"")
                }
                journal = id
            }
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(path: path, reason: "\(error)")
        }
    }

    deinit { close() }

    /// Buffers one event as a line.
    public func append(_ event: FeedEvent) {
        pending += format == .jsonl ? Self.jsonLine(event) : Self.csvLine(event)
        pending.append(UInt8(ascii: "\n"))
        lastSeq = event.seq
        written += 1
    }

    /// Records, as one line, that seqs `after + 1 … through` of journal `journal` were dropped by
    /// the broker before they could be written.
    public func appendGap(after: UInt64, through: UInt64, journal: UInt64?, time: Double) {
        var body = JSONObjectWriter()
        body.add("event", "gap")
        body.add("time", time)
        body.add("from", after + 1)
        body.add("through", through)
        if let journal { body.add("journal", String(journal, radix: 16)) }
        append(FeedEvent(topic: "feed/gap", seq: through, body: body.finish()))
    }

    /// Records, as one line with seq 0, that the broker's journal `previous` was replaced by
    /// `current` (whose seqs start again from 1).
    public func appendJournalReplaced(previous: UInt64, current: UInt64, time: Double) {
        var body = JSONObjectWriter()
        body.add("event", "journal_replaced")
        body.add("time", time)
        body.add("previous", String(previous, radix: 16))
        body.add("journal", String(current, radix: 16))
        append(FeedEvent(topic: "feed/journal", seq: 0, body: body.finish()))
    }

    /// Syncs the lines written so far, then keeps `id` as the journal they come from.
    public func recordJournal(_ id: UInt64) throws(Failure) {
        guard id != journal else { return }
        try sync()
        let text = String(id, radix: 16) + "\n"
        do {
            try text.write(toFile: journalPath, atomically: true, encoding: .utf8)
        } catch {
            throw Failure(path: journalPath, reason: "cannot write the journal id: \(error)")
        }
        journal = id
    }

    /// Writes the buffered lines (they then survive a crash of the process).
    public func flush() throws(Failure) {
        guard !pending.isEmpty else { return }
        do {
            try handle.write(contentsOf: pending)
        } catch {
            throw Failure(path: path, reason: "write failed: \(error)")
        }
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
        do {
            try handle.synchronize()
        } catch {
            throw Failure(path: path, reason: "fsync failed: \(error)")
        }
        unsynced = false
        lastSync = now
    }

    /// Flushes, fsyncs and closes. Idempotent.
    public func close() {
        try? sync()
        try? handle.close()
    }

    // MARK: - Lines

    /// `{"seq":…,"topic":…,<the body's fields>,"payload":…}`; a payload that is not JSON is
    /// written as `payload_base64`.
    public static func jsonLine(_ event: FeedEvent) -> [UInt8] {
        var writer = JSONObjectWriter()
        writer.add("seq", event.seq)
        writer.add("topic", event.topic)
        var line = writer.finish()
        line.removeLast()
        let body = event.body
        if body.count > 2, body.first == UInt8(ascii: "{"), body.last == UInt8(ascii: "}") {
            line.append(UInt8(ascii: ","))
            line += body[1..<(body.count - 1)]
        }
        if let payload = event.payload {
            line += isJSON(payload) ? Array(",\"payload\":".utf8) + payload
                : Array(",\"payload_base64\":\"\(Data(payload).base64EncodedString())\"".utf8)
        }
        line.append(UInt8(ascii: "}"))
        return line
    }

    /// `seq,time,topic,event,job,attempt,worker,body,payload` (RFC 4180 quoting).
    public static func csvLine(_ event: FeedEvent) -> [UInt8] {
        let body = (try? JSONValue(parsing: event.body))?.object ?? [:]
        let payload = event.payload.map { isJSON($0) ? String(decoding: $0, as: UTF8.self) : Data($0).base64EncodedString() } ?? ""
        let cells = ["\(event.seq)", body["time"]?.argument ?? "", event.topic, body["event"]?.argument ?? "",
                     body["job"]?.argument ?? "", body["attempt"]?.argument ?? "", body["worker"]?.argument ?? "",
                     String(decoding: event.body, as: UTF8.self), payload]
        return Array(cells.map(csvCell).joined(separator: ",").utf8)
    }

    static func csvCell(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func isJSON(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
    }

    /// The sequence number a line starts with: `{"seq":N,` or `N,`.
    static func seq(ofLine line: [UInt8], format: FeedLogFormat) -> UInt64? {
        let prefix = format == .jsonl ? Array("{\"seq\":".utf8) : []
        guard line.starts(with: prefix) else { return nil }
        let digits = line.dropFirst(prefix.count).prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !digits.isEmpty, line.count > prefix.count + digits.count,
              line[prefix.count + digits.count] == UInt8(ascii: ",") else { return nil }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }

    /// The offset just after the last newline (what to keep) and the last whole line, reading
    /// backwards in 64 KiB steps.
    static func lastWholeLine(_ handle: FileHandle) throws -> (keep: UInt64, line: [UInt8]?) {
        let end = try handle.seekToEnd()
        var position = end
        var tail: [UInt8] = []
        var newlines: [Int] = []
        while position > 0 && newlines.count < 2 {
            let step = min(UInt64(64 << 10), position)
            position -= step
            try handle.seek(toOffset: position)
            let chunk = Array(try handle.read(upToCount: Int(step)) ?? Data())
            tail = chunk + tail
            newlines = tail.indices.filter { tail[$0] == UInt8(ascii: "\n") }.suffix(2)
        }
        guard let lastNewline = newlines.last else { return (0, nil) }
        let keep = position + UInt64(lastNewline) + 1
        let start = newlines.count == 2 ? newlines[0] + 1 : 0
        return (keep, Array(tail[start..<lastNewline]))
    }
}
