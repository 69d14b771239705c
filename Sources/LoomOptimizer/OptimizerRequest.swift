import Foundation
import LoomModel
import LoomWire

/// The body of a REQUEST to the optimizer: `{"op": …, …}` (see Docs/protocol.md, section 4).
public struct OptimizerRequest: Codable, Sendable, Equatable {
    /// `submit`, `studies`, `status`, `trials`, `export`, `cancel`, `ask`, `tell`, `heartbeat`,
    /// `release`, `report`, `logs`.
    public var op: String
    public var study: String?
    /// `submit`: the spec's YAML text, the file name it came from (for errors), and the directory
    /// its relative paths are resolved against.
    public var spec: String?
    public var file: String?
    public var baseDirectory: String?
    /// `tell`: the trial, its value, or its state (`complete`, `failed`, `pruned`), and for a
    /// failed one what went wrong. `tell`, `report`: the attempt `ask` handed out (nil: any).
    public var trial: Int?
    public var value: Double?
    public var state: String?
    public var error: String?
    /// `ask`: how long the trial's lease lasts without a heartbeat, in seconds.
    public var leaseSeconds: Double?
    /// `ask`: how many trials to hand out at most (`StudyDriver.askBatchRange`); nil: one, in
    /// the single-trial answer shape.
    public var n: Int?
    /// `heartbeat`: whether the listed trials are now being evaluated (prefetched ones handed to
    /// the objective: from then on an expired lease spends a retry).
    public var started: Bool?
    /// `heartbeat`: the asked trials the client holds; `release`: those it gives back unused.
    public var trials: [HeldTrial]?
    /// `report`: the resource level (`step`) of `value`, and other metrics.
    public var step: Double?
    public var metrics: JSONValue?
    /// `logs`: one attempt, one stream (`stdout`, `stderr`), and the page (`LogQuery`).
    public var attempt: Int?
    public var stream: String?
    public var offset: Int?
    public var limit: Int?

    public init(op: String, study: String? = nil, spec: String? = nil, file: String? = nil, baseDirectory: String? = nil,
                trial: Int? = nil, value: Double? = nil, state: String? = nil, attempt: Int? = nil, stream: String? = nil,
                offset: Int? = nil, limit: Int? = nil, error: String? = nil, leaseSeconds: Double? = nil, trials: [HeldTrial]? = nil,
                step: Double? = nil, metrics: JSONValue? = nil, n: Int? = nil, started: Bool? = nil) {
        self.n = n
        self.started = started
        self.error = error
        self.leaseSeconds = leaseSeconds
        self.trials = trials
        self.step = step
        self.metrics = metrics
        self.attempt = attempt
        self.stream = stream
        self.offset = offset
        self.limit = limit
        self.op = op
        self.study = study
        self.spec = spec
        self.file = file
        self.baseDirectory = baseDirectory
        self.trial = trial
        self.value = value
        self.state = state
    }

    enum CodingKeys: String, CodingKey {
        case op, study, spec, file, trial, value, state, error, trials, step, metrics, attempt, stream, offset, limit, n, started
        case baseDirectory = "base_dir"
        case leaseSeconds = "lease_s"
    }

    /// One asked trial a `heartbeat` renews.
    public struct HeldTrial: Codable, Sendable, Equatable {
        public var trial: Int
        public var attempt: Int
    }

    /// The request as a REQUEST body.
    public var body: Frame { JSONCoding.encode(self) }
}

/// A request the optimizer refuses, with the reason to show the user and, for clients that
/// act on it, more keys of the error document (`retry_after`, `exhausted`, `finished`).
struct RequestError: Error, CustomStringConvertible {
    var description: String
    var details: [String: JSONValue] = [:]
    /// Set when the request is refused as a peer's misbehaviour, not a user's mistake: the
    /// counter it is counted under (`OptimizerCounters.refused`).
    var refusal: String? = nil
}

extension OptimizerRequest {
    /// The `LogQuery` of a `logs` request.
    public func logQuery() throws -> LogQuery {
        guard let study else { throw RequestError(description: "logs: no \"study\" given") }
        guard let trial else { throw RequestError(description: "logs: no \"trial\" given") }
        return LogQuery(study: study, trial: trial, attempt: attempt, stream: stream, offset: offset ?? 0, limit: limit ?? LogQuery.maxLimit)
    }
}
