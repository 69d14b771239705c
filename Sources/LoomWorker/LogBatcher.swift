import LoomWire

/// The bounds on what one attempt's output may send to the broker.
///
/// Defaults: 1,000 lines/s and 10 MiB per attempt keep a runaway `print` loop from flooding the
/// broker, the feed journal and the store, while any sane training log passes untouched; a line
/// is cut at 16 KiB (a progress bar without line ends must not become one huge line); a batch is
/// sent after 100 ms (a follower sees lines about as they are printed) or at 64 KiB.
public struct LogLimits: Equatable, Sendable {
    public static let defaultLinesPerSecond = 1_000
    public static let defaultBytesPerAttempt = 10 << 20
    public static let defaultMaxLineBytes = 16 << 10
    public static let defaultFlushInterval: Duration = .milliseconds(100)
    public static let defaultFlushBytes = 64 << 10

    /// Lines per one-second window, both streams together; the rest are dropped and counted.
    public var linesPerSecond: Int
    /// Bytes of line text per attempt, both streams together; beyond it every line is dropped.
    public var bytesPerAttempt: Int
    /// A longer line keeps its first `maxLineBytes` bytes and a truncation note.
    public var maxLineBytes: Int
    /// Longest time a line waits in a batch.
    public var flushInterval: Duration
    /// A batch this large (text bytes plus one per line) is sent at once.
    public var flushBytes: Int

    public init(linesPerSecond: Int = Self.defaultLinesPerSecond, bytesPerAttempt: Int = Self.defaultBytesPerAttempt,
                maxLineBytes: Int = Self.defaultMaxLineBytes, flushInterval: Duration = Self.defaultFlushInterval,
                flushBytes: Int = Self.defaultFlushBytes) {
        self.linesPerSecond = linesPerSecond
        self.bytesPerAttempt = bytesPerAttempt
        self.maxLineBytes = maxLineBytes
        self.flushInterval = flushInterval
        self.flushBytes = flushBytes
    }
}

/// Splits one attempt's stdout and stderr into lines, applies `LogLimits` and batches the lines
/// into `LogBatch`es. Pure: no I/O, time is passed in.
///
/// **Numbering.** Each stream numbers its lines from 1 with no holes; a marker line saying how
/// many lines were dropped takes a number like any line, so a reader sees the marker where the
/// lines were lost.
/// **Order.** Batches of one stream come out in line order; every line fed is either in a batch
/// or counted in a marker once `finish(now:)` has run.
public struct LogBatcher: Sendable {
    /// Why lines were dropped, as the marker line says it.
    enum DropReason: String, Sendable {
        case rate = "rate limit"
        case size = "per-attempt size limit"
    }

    private struct StreamState: Sendable {
        var partial: [UInt8] = []
        /// Bytes of the current line beyond `maxLineBytes`, skipped.
        var cut = 0
        var nextLine: UInt64 = 1
        var pending: [String] = []
        var pendingFirst: UInt64 = 1
        var pendingBytes = 0
        var pendingSince: ContinuousClock.Instant?
        var dropped: [DropReason: Int] = [:]
    }

    public let attempt: AttemptRef
    public let limits: LogLimits
    private var streams: [LogBatch.Stream: StreamState] = [.stdout: StreamState(), .stderr: StreamState()]
    private var windowStart: ContinuousClock.Instant?
    private var linesInWindow = 0
    private var bytesKept = 0
    /// Lines dropped by the caps so far (each also told by a marker line).
    public private(set) var droppedLines = 0

    public init(attempt: AttemptRef, limits: LogLimits = LogLimits()) {
        self.attempt = attempt
        self.limits = limits
    }

    /// When the oldest waiting line is due to be sent.
    public var nextFlush: ContinuousClock.Instant? {
        streams.values.compactMap(\.pendingSince).min().map { $0 + limits.flushInterval }
    }

    /// Feeds a chunk of one stream; returns the batches that filled up.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, stream: LogBatch.Stream, now: ContinuousClock.Instant) -> [LogBatch] {
        var out: [LogBatch] = []
        var start = 0
        while start < chunk.count {
            let end = chunk[start...].firstIndex(of: UInt8(ascii: "\n"))
            append(UnsafeRawBufferPointer(rebasing: chunk[start..<(end ?? chunk.count)]), stream: stream)
            guard let end else { break }
            endLine(stream: stream, now: now, into: &out)
            start = end + 1
        }
        return out
    }

    /// Convenience for tests and small inputs.
    public mutating func feed(_ text: String, stream: LogBatch.Stream, now: ContinuousClock.Instant) -> [LogBatch] {
        Array(text.utf8).withUnsafeBytes { feed($0, stream: stream, now: now) }
    }

    /// The batches whose oldest line has waited `flushInterval`.
    public mutating func flushDue(now: ContinuousClock.Instant) -> [LogBatch] {
        var out: [LogBatch] = []
        for stream in LogBatch.Stream.allCases {
            if let since = streams[stream]!.pendingSince, now >= since + limits.flushInterval {
                flush(stream, into: &out)
            }
        }
        return out
    }

    /// The end of the attempt's output: the last unterminated lines, the markers of lines
    /// still uncounted, and every waiting batch.
    public mutating func finish(now: ContinuousClock.Instant) -> [LogBatch] {
        var out: [LogBatch] = []
        for stream in LogBatch.Stream.allCases {
            let state = streams[stream]!
            if !state.partial.isEmpty || state.cut > 0 { endLine(stream: stream, now: now, into: &out) }
            emitMarkers(stream, now: now, into: &out)
            flush(stream, into: &out)
        }
        return out
    }

    // MARK: - Lines

    private mutating func append(_ bytes: UnsafeRawBufferPointer, stream: LogBatch.Stream) {
        let room = max(0, limits.maxLineBytes - streams[stream]!.partial.count)
        streams[stream]!.partial.append(contentsOf: bytes.prefix(room))
        streams[stream]!.cut += max(0, bytes.count - room)
    }

    private mutating func endLine(stream: LogBatch.Stream, now: ContinuousClock.Instant, into out: inout [LogBatch]) {
        var bytes = streams[stream]!.partial
        let cut = streams[stream]!.cut
        streams[stream]!.partial.removeAll(keepingCapacity: true)
        streams[stream]!.cut = 0
        if cut == 0, bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        if windowStart.map({ now >= $0 + .seconds(1) }) ?? true {
            windowStart = now
            linesInWindow = 0
            // A new window: what the last one dropped is told before the first line it lets through.
            for s in LogBatch.Stream.allCases { emitMarkers(s, now: now, into: &out, only: .rate) }
        }
        guard bytesKept + bytes.count <= limits.bytesPerAttempt else { return drop(stream, .size) }
        guard linesInWindow < limits.linesPerSecond else { return drop(stream, .rate) }
        linesInWindow += 1
        bytesKept += bytes.count
        var text = String(decoding: bytes, as: UTF8.self)
        if cut > 0 { text += " … [\(cut) more bytes cut]" }
        add(text, stream: stream, now: now, into: &out)
    }

    private mutating func drop(_ stream: LogBatch.Stream, _ reason: DropReason) {
        streams[stream]!.dropped[reason, default: 0] += 1
        droppedLines += 1
    }

    private mutating func emitMarkers(_ stream: LogBatch.Stream, now: ContinuousClock.Instant, into out: inout [LogBatch],
                                      only: DropReason? = nil) {
        for reason in [DropReason.rate, .size] where only == nil || only == reason {
            guard let count = streams[stream]!.dropped[reason], count > 0 else { continue }
            streams[stream]!.dropped[reason] = nil
            add("… \(count) line\(count == 1 ? "" : "s") dropped (\(reason.rawValue))", stream: stream, now: now, into: &out)
        }
    }

    private mutating func add(_ line: String, stream: LogBatch.Stream, now: ContinuousClock.Instant, into out: inout [LogBatch]) {
        var state = streams[stream]!
        if state.pending.isEmpty {
            state.pendingFirst = state.nextLine
            state.pendingSince = now
        }
        state.pending.append(line)
        state.pendingBytes += line.utf8.count + 1
        state.nextLine += 1
        streams[stream] = state
        if state.pendingBytes >= limits.flushBytes { flush(stream, into: &out) }
    }

    private mutating func flush(_ stream: LogBatch.Stream, into out: inout [LogBatch]) {
        var state = streams[stream]!
        guard !state.pending.isEmpty else { return }
        out.append(LogBatch(attempt: attempt, stream: stream, firstLine: state.pendingFirst, lines: state.pending))
        state.pending.removeAll(keepingCapacity: true)
        state.pendingBytes = 0
        state.pendingSince = nil
        streams[stream] = state
    }
}
