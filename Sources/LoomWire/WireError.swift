/// Why a message was rejected by a decoder. Every case names what was wrong so the broker can
/// count rejects by reason and answer the peer with an `ERROR` it can act on.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message had no frames, or too few to hold the protocol and command frames.
    case empty
    /// The first frame is not a Hyperloom protocol frame.
    case unknownProtocol(Frame)
    /// The first frame is a Hyperloom protocol frame of a version this build does not speak.
    case unsupportedVersion(found: String, supported: String)
    /// The command byte is not defined for this peer role.
    case unknownCommand(role: String, code: UInt8)
    /// The frame count does not match the command's layout.
    case frameCount(command: String, expected: String, found: Int)
    /// A fixed-size field has the wrong size.
    case fieldSize(command: String, field: String, expected: Int, found: Int)
    /// A text field is not valid UTF-8, is empty, or is too long.
    case badText(command: String, field: String, reason: String)
    /// A JSON body did not decode.
    case badJSON(command: String, field: String, reason: String)
    /// A field's value is outside its range.
    case badValue(command: String, field: String, reason: String)

    /// A short stable name for counting rejects (`"version"`, `"frames"`, ...).
    public var category: String {
        switch self {
        case .empty: "empty"
        case .unknownProtocol: "protocol"
        case .unsupportedVersion: "version"
        case .unknownCommand: "command"
        case .frameCount: "frames"
        case .fieldSize: "field-size"
        case .badText: "text"
        case .badJSON: "json"
        case .badValue: "value"
        }
    }

    public var description: String {
        switch self {
        case .empty:
            return "empty message: expected a protocol frame and a command frame"
        case .unknownProtocol(let frame):
            let shown = frame.prefix(8).map { String(format2: $0) }.joined(separator: " ")
            return "unknown protocol frame (\(frame.count) bytes: \(shown)): expected \"HLW1\" or \"HLC1\""
        case .unsupportedVersion(let found, let supported):
            return "unsupported protocol version \"\(found)\": this broker speaks \"\(supported)\""
        case .unknownCommand(let role, let code):
            return "unknown \(role) command 0x\(String(format2: code))"
        case .frameCount(let command, let expected, let found):
            return "\(command): expected \(expected) frames after the command frame, found \(found)"
        case .fieldSize(let command, let field, let expected, let found):
            return "\(command): field \(field) must be \(expected) bytes, found \(found)"
        case .badText(let command, let field, let reason):
            return "\(command): field \(field) \(reason)"
        case .badJSON(let command, let field, let reason):
            return "\(command): field \(field) is not valid JSON for its schema: \(reason)"
        case .badValue(let command, let field, let reason):
            return "\(command): field \(field) \(reason)"
        }
    }
}

extension String {
    /// Two lowercase hex digits.
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
