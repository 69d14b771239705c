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

/// What a worker runs for one job: the ASSIGN payload (JSON). The broker reads only
/// `stall_timeout_s` and `budget` from it, once, at SUBMIT (Docs/stragglers.md).
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
    /// Silence (no metric line) after which the broker cancels the attempt as stalled and starts
    /// the next one; absent: derived from the attempt's own report interval (Docs/stragglers.md).
    public var stallTimeoutS: Double?
    /// The GPU share the job was submitted with (also in its SUBMIT requirements): the worker
    /// picks the devices and sets `CUDA_VISIBLE_DEVICES`. Absent or 0: no GPU.
    public var gpu: Double?
    /// The resource level (e.g. epoch) this attempt runs to: multi-fidelity schedulers give a
    /// trial's attempts growing budgets (a promotion is the same job submitted again with the
    /// next one). The worker exports it as `HYPERLOOM_BUDGET` and fills `{budget}`.
    public var budget: Double?
    /// Restore the latest checkpoint of this other job instead of the job's own (PBT exploit).
    public var restoreFrom: String?
    /// The job runs only on workers carrying every one of these pool labels (read by the broker).
    public var workerLabels: [String]?

    public init(command: [String], config: [String: JSONValue] = [:], env: [String: String] = [:],
                cwd: String? = nil, timeoutS: Double? = nil, stallTimeoutS: Double? = nil, gpu: Double? = nil, budget: Double? = nil,
                restoreFrom: String? = nil, workerLabels: [String]? = nil) {
        self.command = command
        self.config = config
        self.env = env
        self.cwd = cwd
        self.timeoutS = timeoutS
        self.stallTimeoutS = stallTimeoutS
        self.gpu = gpu
        self.budget = budget
        self.restoreFrom = restoreFrom
        self.workerLabels = workerLabels
    }

    enum CodingKeys: String, CodingKey {
        case command, config, env, cwd, gpu, budget
        case timeoutS = "timeout_s"
        case restoreFrom = "restore_from"
        case workerLabels = "worker_labels"
        case stallTimeoutS = "stall_timeout_s"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decode([String].self, forKey: .command)
        config = try c.decodeIfPresent([String: JSONValue].self, forKey: .config) ?? [:]
        env = try c.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        cwd = try c.decodeIfPresent(String.self, forKey: .cwd)
        timeoutS = try c.decodeIfPresent(Double.self, forKey: .timeoutS)
        stallTimeoutS = try c.decodeIfPresent(Double.self, forKey: .stallTimeoutS)
        gpu = try c.decodeIfPresent(Double.self, forKey: .gpu)
        budget = try c.decodeIfPresent(Double.self, forKey: .budget)
        restoreFrom = try c.decodeIfPresent(String.self, forKey: .restoreFrom)
        workerLabels = try c.decodeIfPresent([String].self, forKey: .workerLabels)
    }

    /// The spec as an ASSIGN payload: the same text as `JSONCoding.encode(self)` (absent
    /// optionals left out), written without Foundation's encoder (see `JSONValue+Writing.swift`).
    public var payload: Frame {
        var members: [String: JSONValue] = [
            "command": .array(command.map(JSONValue.string)), "config": .object(config), "env": .object(env.mapValues(JSONValue.string)),
        ]
        if let cwd { members["cwd"] = .string(cwd) }
        if let timeoutS { members["timeout_s"] = .number(timeoutS) }
        if let stallTimeoutS { members["stall_timeout_s"] = .number(stallTimeoutS) }
        if let gpu { members["gpu"] = .number(gpu) }
        if let budget { members["budget"] = .number(budget) }
        if let restoreFrom { members["restore_from"] = .string(restoreFrom) }
        if let workerLabels { members["worker_labels"] = .array(workerLabels.map(JSONValue.string)) }
        // A non-finite number (which no caller gives) takes Foundation's way: `{}`.
        return JSONValue.object(members).jsonBytes ?? JSONCoding.encode(self)
    }

    /// Decodes an ASSIGN payload, naming the field that is wrong. `config` and `env` may be
    /// absent (empty), the other optional fields absent or null.
    public static func decode(_ payload: Frame) throws(WireError) -> JobSpec {
        func bad(_ reason: String) -> WireError { .badJSON(command: "ASSIGN", field: "payload", reason: reason) }
        let parsed: JSONValue
        do {
            parsed = try JSONValue(parsing: payload)
        } catch {
            throw bad(error.description)
        }
        guard let members = parsed.object else { throw bad("expected an object at top level") }
        func present(_ key: String) -> JSONValue? {
            if case .null = members[key] { return nil }
            return members[key]
        }
        func number(_ key: String) throws(WireError) -> Double? {
            guard let value = present(key) else { return nil }
            guard let n = value.double else { throw bad("expected a number at \(key)") }
            return n
        }
        func string(_ key: String) throws(WireError) -> String? {
            guard let value = present(key) else { return nil }
            guard case .string(let s) = value else { throw bad("expected a string at \(key)") }
            return s
        }
        guard let commandValue = present("command") else { throw bad("missing key \"command\" at top level") }
        guard case .array(let items) = commandValue else { throw bad("expected an array of strings at command") }
        var command: [String] = []
        for item in items {
            guard case .string(let word) = item else { throw bad("expected an array of strings at command") }
            command.append(word)
        }
        guard !command.isEmpty else {
            throw .badValue(command: "ASSIGN", field: "payload.command", reason: "must name a program")
        }
        var config: [String: JSONValue] = [:]
        if let value = present("config") {
            guard let object = value.object else { throw bad("expected an object at config") }
            config = object
        }
        var env: [String: String] = [:]
        if let value = present("env") {
            guard let object = value.object else { throw bad("expected an object of strings at env") }
            for (name, value) in object {
                guard case .string(let text) = value else { throw bad("expected a string at env.\(name)") }
                env[name] = text
            }
        }
        var labels: [String]?
        if let value = present("worker_labels") {
            guard case .array(let items) = value else { throw bad("expected an array of strings at worker_labels") }
            var list: [String] = []
            for item in items {
                guard case .string(let label) = item else { throw bad("expected an array of strings at worker_labels") }
                list.append(label)
            }
            labels = list
        }
        return JobSpec(command: command, config: config, env: env, cwd: try string("cwd"), timeoutS: try number("timeout_s"),
                       stallTimeoutS: try number("stall_timeout_s"), gpu: try number("gpu"), budget: try number("budget"), restoreFrom: try string("restore_from"),
                       workerLabels: labels)
    }
}
