/// The event feed published on the broker's PUB socket.
///
/// Every event is one multipart message: `topic, seq (u64), body (JSON object)` and, for events
/// that carry a worker's update, a fourth frame with the update's payload as the worker sent it.
/// Topics are `job/<job id>/<event>`, `log/<job id>/<attempt>` (trial output, see `LogBatch`),
/// `worker/<worker id>/<event>` and `broker/<event>`, so a subscriber filters by prefix (job ids
/// of a study share the prefix `<study>/`).
public struct FeedEvent: Equatable, Sendable {
    public var topic: String
    /// Monotonically increasing per publisher, from 1.
    public var seq: UInt64
    /// A JSON object with at least `event` and `time` (seconds since the Unix epoch).
    public var body: Frame
    public var payload: Frame?

    public init(topic: String, seq: UInt64, body: Frame, payload: Frame? = nil) {
        self.topic = topic
        self.seq = seq
        self.body = body
        self.payload = payload
    }

    public var frames: [Frame] {
        var out = [Array(topic.utf8), BigEndian.frame(seq), body]
        if let payload { out.append(payload) }
        return out
    }

    /// Decodes a feed message; `nil` when it does not have the feed's shape.
    public init?(frames: [Frame]) {
        guard frames.count == 3 || frames.count == 4,
              let topic = String(validating: frames[0], as: UTF8.self),
              let seq = BigEndian.uint64(frames[1]) else { return nil }
        self.init(topic: topic, seq: seq, body: frames[2], payload: frames.count == 4 ? frames[3] : nil)
    }
}

/// Builds a compact JSON object without a JSONEncoder: feed bodies are built on the broker's hot
/// path, where a reflection-based encoder would cost more than the rest of the event.
public struct JSONObjectWriter {
    private var bytes: Frame = [UInt8(ascii: "{")]
    private var first = true

    public init() {}

    public mutating func add(_ key: String, _ value: String) {
        self.key(key)
        Self.appendString(value, to: &bytes)
    }

    public mutating func add(_ key: String, _ value: some BinaryInteger) {
        self.key(key)
        bytes += Array(String(value).utf8)
    }

    public mutating func add(_ key: String, _ value: Double) {
        self.key(key)
        bytes += Array((value.isFinite ? "\(value)" : "null").utf8)
    }

    public mutating func add(_ key: String, _ value: Bool) {
        self.key(key)
        bytes += Array((value ? "true" : "false").utf8)
    }

    /// Adds an array of strings.
    public mutating func addStrings(_ key: String, _ values: [String]) {
        self.key(key)
        bytes.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.appendString(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Adds a value that is already JSON text.
    public mutating func addRaw(_ key: String, json: Frame) {
        self.key(key)
        bytes += json
    }

    public consuming func finish() -> Frame {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private mutating func key(_ key: String) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        Self.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    static func appendString(_ s: String, to out: inout Frame) {
        out.append(UInt8(ascii: "\""))
        for u in s.utf8 {
            switch u {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                out += Array("\\u00".utf8) + Array(String(format2: u).utf8)
            default: out.append(u)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
