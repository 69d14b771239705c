/// A fast JSON writer for `JSONValue`: job payloads, configs and metrics are encoded on every
/// hot path (each SUBMIT, each stored trial), where Foundation's `JSONEncoder` costs more than
/// the rest of the work.
///
/// **Same text.** The output is byte for byte what `JSONCoding.encode` (Foundation's encoder with
/// sorted keys and unescaped slashes) gives: keys sorted by their UTF-8 bytes, numbers as
/// `Double.description` without a trailing `.0`, `"`, `\` and control characters escaped as
/// Foundation does. Stored text and frames therefore do not change with the writer
/// (`JSONWritingTests` compares the two).
extension JSONValue {
    /// Compact JSON text; nil when a number is NaN or infinite, which JSON cannot hold.
    public var jsonBytes: [UInt8]? {
        var writer = JSONWriter()
        return writer.write(self) ? writer.bytes : nil
    }
}

/// The buffer of `JSONValue.jsonBytes`.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(256) }

    /// Appends `value`; false when it holds a non-finite number.
    mutating func write(_ value: JSONValue) -> Bool {
        switch value {
        case .null: bytes += "null".utf8
        case .bool(let b): bytes += (b ? "true" : "false").utf8
        case .number(let n): return write(number: n)
        case .string(let s): write(string: s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                guard write(item) else { return false }
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                write(string: key)
                bytes.append(UInt8(ascii: ":"))
                guard write(members[key]!) else { return false }
            }
            bytes.append(UInt8(ascii: "}"))
        }
        return true
    }

    mutating func write(number n: Double) -> Bool {
        guard n.isFinite else { return false }
        let text = n.description
        bytes += text.hasSuffix(".0") ? text.utf8.dropLast(2) : text.utf8[...]
        return true
    }

    mutating func write(string s: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += #"\""#.utf8
            case UInt8(ascii: "\\"): bytes += #"\\"#.utf8
            case 0x0A: bytes += #"\n"#.utf8
            case 0x0D: bytes += #"\r"#.utf8
            case 0x09: bytes += #"\t"#.utf8
            case 0x08: bytes += #"\b"#.utf8
            case 0x0C: bytes += #"\f"#.utf8
            case ..<0x20:
                bytes += #"\u00"#.utf8
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    static let hexDigits = Array("0123456789abcdef".utf8)
}
