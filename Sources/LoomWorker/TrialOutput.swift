import Foundation
import LoomWire

/// Finds metric lines in a trial's stdout as it arrives in chunks of any size.
///
/// Only lines that start with `@hyperloom ` are collected; every other line is skipped as soon as
/// its first bytes rule it out, so ordinary output costs no copying. A metric line longer than
/// `maxLine` bytes is cut there and returned as truncated (its JSON cannot be whole).
struct MetricLineScanner: Sendable {
    /// `"@hyperloom "`: the prefix of a metric line.
    static let prefix: [UInt8] = Array("@hyperloom ".utf8)
    /// Longest metric line kept, in bytes: metric objects are small; a runaway line must not
    /// grow the worker's memory without bound.
    static let defaultMaxLine = 1 << 20

    /// A metric line, prefix included, without its line end.
    struct Line: Equatable, Sendable {
        var bytes: [UInt8]
        /// The line was longer than the cap and was cut.
        var truncated: Bool
    }

    /// Where the scanner is within the current line.
    private enum State: Equatable {
        /// At the start of a line, or still matching the prefix / collecting a metric line.
        case collecting
        /// The line cannot be a metric line, or it overflowed and is already cut: skip to `\n`.
        case skipping
    }

    let maxLine: Int
    private var state = State.collecting
    private var buffer: [UInt8] = []
    private var overflowed = false

    init(maxLine: Int = Self.defaultMaxLine) {
        self.maxLine = max(maxLine, Self.prefix.count)
    }

    /// Feeds a chunk of stdout; returns the metric lines it completed.
    mutating func feed(_ chunk: UnsafeRawBufferPointer) -> [Line] {
        var lines: [Line] = []
        var start = 0
        let newline = UInt8(ascii: "\n")
        while start < chunk.count {
            let end = chunk[start...].firstIndex(of: newline)
            let segment = UnsafeRawBufferPointer(rebasing: chunk[start..<(end ?? chunk.count)])
            consume(segment)
            if end != nil, let line = endLine() { lines.append(line) }
            start = (end ?? chunk.count) + 1
        }
        return lines
    }

    /// Convenience for tests and small inputs.
    mutating func feed(_ bytes: [UInt8]) -> [Line] {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The end of the stream: a last metric line without a line end still counts.
    mutating func finish() -> Line? { endLine() }

    private mutating func consume(_ segment: UnsafeRawBufferPointer) {
        guard state == .collecting, !segment.isEmpty else { return }
        // Still matching the prefix: compare only the bytes that fall inside it.
        if buffer.count < Self.prefix.count {
            let need = min(Self.prefix.count - buffer.count, segment.count)
            for i in 0..<need where segment[i] != Self.prefix[buffer.count + i] {
                state = .skipping
                buffer.removeAll(keepingCapacity: true)
                return
            }
        }
        let room = maxLine - buffer.count
        if segment.count > room {
            buffer.append(contentsOf: segment.prefix(room))
            overflowed = true
            state = .skipping
        } else {
            buffer.append(contentsOf: segment)
        }
    }

    private mutating func endLine() -> Line? {
        defer {
            state = .collecting
            overflowed = false
            buffer.removeAll(keepingCapacity: buffer.count <= 4096)
        }
        guard buffer.count >= Self.prefix.count else { return nil }
        var bytes = buffer
        if !overflowed, bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return Line(bytes: bytes, truncated: overflowed)
    }
}

/// What a metric line says.
enum MetricLine: Equatable {
    /// A JSON object: its compact bytes, whether it announces a checkpoint, and the object.
    case metrics(Frame, checkpoint: Bool, object: [String: JSONValue])
    /// Not a JSON object; the reason, for the warning in the attempt's stderr.log.
    case malformed(String)

    /// Parses a line found by `MetricLineScanner` (prefix included).
    static func parse(_ line: MetricLineScanner.Line) -> MetricLine {
        if line.truncated {
            return .malformed("line longer than \(MetricLineScanner.defaultMaxLine) bytes")
        }
        let body = line.bytes.dropFirst(MetricLineScanner.prefix.count)
        let value: JSONValue
        do {
            value = try JSONValue(parsing: Array(body))
        } catch {
            return .malformed("not JSON (\(error))")
        }
        guard case .object(let object) = value else {
            return .malformed("not a JSON object")
        }
        return .metrics(JSONCoding.encode(value), checkpoint: object["checkpoint"] == .bool(true), object: object)
    }

    /// The warning written into the attempt's stderr.log for a malformed line.
    static func warning(_ reason: String, line: MetricLineScanner.Line) -> String {
        let shown = String(decoding: line.bytes.prefix(200), as: UTF8.self)
        let more = line.bytes.count > 200 ? "…" : ""
        return "hyperloom: ignored malformed metric line: \(shown)\(more) (\(reason))\n"
    }
}

/// The last bytes a trial wrote to stderr, for the FAILED payload.
struct OutputTail: Sendable {
    let capacity: Int
    private var bytes: [UInt8] = []

    init(capacity: Int = 4096) { self.capacity = capacity }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: chunk.suffix(capacity))
        // Trimmed in batches so appending stays amortised constant time.
        if bytes.count > 2 * capacity { bytes.removeFirst(bytes.count - capacity) }
    }

    /// The tail as text, starting at a character boundary.
    var text: String {
        var tail = bytes.suffix(capacity)
        // Skip UTF-8 continuation bytes left over from a character cut at the start.
        while let first = tail.first, first & 0xC0 == 0x80 { tail = tail.dropFirst() }
        return String(decoding: tail, as: UTF8.self)
    }
}
