import LoomWire

/// Reads a fuzzer's bytes as structured input: small integers and frame lists.
///
/// **Format.** Whatever the bytes are, reading never fails: past the end every read returns
/// zero or empty. A frame list is a count byte (at most `maxFrames`) and, per frame, a
/// big-endian u16 length and that many bytes (cut at the end of the input). Seeds are written
/// with `FuzzInputWriter`, so a mutated seed stays close to a valid message.
public struct FuzzInput {
    /// Most frames one message may have here (the protocol's messages have at most 6, except
    /// SUBMIT and CANCEL_JOBS, which the seeds keep small).
    public static let maxFrames = 32

    let bytes: [UInt8]
    var at = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { at >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard at < bytes.count else { return 0 }
        defer { at += 1 }
        return bytes[at]
    }

    public mutating func u16() -> Int { Int(byte()) << 8 | Int(byte()) }

    public mutating func frame() -> Frame {
        let length = u16()
        let end = min(bytes.count, at + length)
        defer { at = end }
        return at < end ? Array(bytes[at..<end]) : []
    }

    public mutating func frames() -> [Frame] {
        let count = Int(byte()) % (Self.maxFrames + 1)
        return (0..<count).map { _ in frame() }
    }
}

/// Writes inputs `FuzzInput` reads: the seeds of the corpus.
public struct FuzzInputWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func byte(_ value: UInt8) { bytes.append(value) }

    public mutating func frames(_ frames: [Frame]) {
        bytes.append(UInt8(min(frames.count, FuzzInput.maxFrames)))
        for frame in frames.prefix(FuzzInput.maxFrames) {
            let length = min(frame.count, 0xFFFF)
            bytes.append(UInt8(length >> 8))
            bytes.append(UInt8(length & 0xFF))
            bytes.append(contentsOf: frame.prefix(length))
        }
    }
}

/// A broken invariant: the fuzz driver reports it as a crash (with the input that caused it).
public struct FuzzFailure: Error, CustomStringConvertible {
    public var target: String
    public var invariant: String
    public var description: String { "\(target): invariant broken: \(invariant)" }

    public init(_ target: String, _ invariant: String) {
        self.target = target
        self.invariant = invariant
    }
}
