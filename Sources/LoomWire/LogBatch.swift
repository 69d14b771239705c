/// LOG (0x0A): lines a trial wrote to its stdout or stderr, worker → broker, fire-and-forget.
///
/// Frames after the command frame: `job, attempt (u32), lease (u64), stream ("stdout" or
/// "stderr"), first line number (u64), lines (UTF-8, lines joined by "\n", no final "\n")`.
/// Line numbers count the lines of one stream of one attempt from 1 with no holes, so a
/// receiver stores `(job, attempt, stream, line)` idempotently. LOG is never acknowledged: the
/// broker publishes it on the feed topic `log/<job>/<attempt>`, and the feed's journal is the
/// durable path from there on.
public struct LogBatch: Equatable, Sendable {
    /// Which output of the trial the lines came from.
    public enum Stream: String, Sendable, CaseIterable, Codable {
        case stdout
        case stderr
    }

    /// Most lines in one LOG: a bound for the decoder, far above what a worker batches.
    public static let maxLines = 65_536
    /// Most bytes of the lines frame: the worker flushes at 64 KiB, plus one truncated line.
    public static let maxBytes = 1 << 20

    public var attempt: AttemptRef
    public var stream: Stream
    /// The number of `lines[0]`; at least 1.
    public var firstLine: UInt64
    /// The lines, without line ends; none contains "\n".
    public var lines: [String]

    public init(attempt: AttemptRef, stream: Stream, firstLine: UInt64, lines: [String]) {
        self.attempt = attempt
        self.stream = stream
        self.firstLine = firstLine
        self.lines = lines
    }

    /// Frames after the command frame.
    public var frames: [Frame] {
        attempt.frames + [Array(stream.rawValue.utf8), BigEndian.frame(firstLine), Array(lines.joined(separator: "\n").utf8)]
    }
}

extension WireDecoder {
    /// LOG: `job, attempt, lease, stream, first line, lines`.
    static func log(_ f: [Frame]) throws(WireError) -> LogBatch {
        let name = Command.log.name
        try count(f, 6, name)
        let ref = try attemptRef(f, name)
        guard let stream = LogBatch.Stream(rawValue: String(decoding: f[3], as: UTF8.self)) else {
            throw .badValue(command: name, field: "stream", reason: "must be \"stdout\" or \"stderr\"")
        }
        let first = try u64(f[4], name, "first_line")
        guard first >= 1 else { throw .badValue(command: name, field: "first_line", reason: "must be at least 1") }
        let text = try self.text(f[5], name, "lines", max: LogBatch.maxBytes, allowEmpty: true)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count <= LogBatch.maxLines else {
            throw .badValue(command: name, field: "lines", reason: "holds \(lines.count) lines; at most \(LogBatch.maxLines)")
        }
        guard first <= UInt64.max - UInt64(lines.count) else {
            throw .badValue(command: name, field: "first_line", reason: "the line numbers overflow")
        }
        return LogBatch(attempt: ref, stream: stream, firstLine: first, lines: lines)
    }
}
