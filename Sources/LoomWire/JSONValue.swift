import Foundation

/// Any JSON value: trial configs and metric objects are open-ended.
public enum JSONValue: Codable, Hashable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The value as a command-line argument: strings bare, integral numbers without a decimal
    /// point, everything else as compact JSON.
    public var argument: String {
        switch self {
        case .string(let s): return s
        case .number(let n):
            if n.rounded() == n, abs(n) < 1e15 { return String(Int64(n)) }
            return "\(n)"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array, .object: return String(decoding: JSONCoding.encode(self), as: UTF8.self)
        }
    }

    public var description: String { String(decoding: JSONCoding.encode(self), as: UTF8.self) }

    /// The number, when this is one.
    public var double: Double? { if case .number(let n) = self { n } else { nil } }
    /// The object's members, when this is an object.
    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
}

/// What a worker runs for one job: the ASSIGN payload (JSON). The broker never decodes it.
public struct JobSpec: Codable, Equatable, Sendable {
    /// Program and arguments; `{name}` placeholders are replaced from `config` and the built-ins
    /// `{trial_id}`, `{attempt}`, `{checkpoint_dir}` (see Docs/trial-protocol.md).
    public var command: [String]
    /// The trial's hyperparameters, passed as `HYPERLOOM_CONFIG`.
    public var config: [String: JSONValue]
    /// Extra environment variables for the trial process.
    public var env: [String: String]
    /// Working directory of the trial process; the worker's own when absent.
    public var cwd: String?
    /// Wall-clock limit of one attempt in seconds; none when absent.
    public var timeoutS: Double?
    /// The GPU share the job was submitted with (also in its SUBMIT requirements): the worker
    /// picks the devices and sets `CUDA_VISIBLE_DEVICES`. Absent or 0: no GPU.
    public var gpu: Double?
    /// Restore the newest stored checkpoint of this other job (a PBT exploit) instead of this
    /// job's own before the attempt starts.
    public var restoreFrom: String?

    public init(command: [String], config: [String: JSONValue] = [:], env: [String: String] = [:],
                cwd: String? = nil, timeoutS: Double? = nil, gpu: Double? = nil, restoreFrom: String? = nil) {
        self.command = command
        self.config = config
        self.env = env
        self.cwd = cwd
        self.timeoutS = timeoutS
        self.gpu = gpu
        self.restoreFrom = restoreFrom
    }

    enum CodingKeys: String, CodingKey {
        case command, config, env, cwd, gpu
        case timeoutS = "timeout_s"
        case restoreFrom = "restore_from"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decode([String].self, forKey: .command)
        config = try c.decodeIfPresent([String: JSONValue].self, forKey: .config) ?? [:]
        env = try c.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        cwd = try c.decodeIfPresent(String.self, forKey: .cwd)
        timeoutS = try c.decodeIfPresent(Double.self, forKey: .timeoutS)
        gpu = try c.decodeIfPresent(Double.self, forKey: .gpu)
        restoreFrom = try c.decodeIfPresent(String.self, forKey: .restoreFrom)
    }

    /// The spec as an ASSIGN payload.
    public var payload: Frame { JSONCoding.encode(self) }

    /// Decodes an ASSIGN payload, naming the field that is wrong.
    public static func decode(_ payload: Frame) throws(WireError) -> JobSpec {
        let spec = try JSONCoding.decode(JobSpec.self, payload, "ASSIGN", "payload")
        guard !spec.command.isEmpty else {
            throw .badValue(command: "ASSIGN", field: "payload.command", reason: "must name a program")
        }
        return spec
    }
}
