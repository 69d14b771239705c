import Foundation
import LoomModel
import LoomWire

/// The body of a REQUEST to the optimizer: `{"op": …, …}` (see Docs/protocol.md, section 4).
public struct OptimizerRequest: Codable, Sendable, Equatable {
    /// `submit`, `studies`, `status`, `trials`, `export`, `cancel`, `ask`, `tell`, `logs`.
    public var op: String
    public var study: String?
    /// `submit`: the spec's YAML text, the file name it came from (for errors), and the directory
    /// its relative paths are resolved against.
    public var spec: String?
    public var file: String?
    public var baseDirectory: String?
    /// `tell`: the trial, its value, or its state (`complete`, `failed`, `pruned`).
    public var trial: Int?
    public var value: Double?
    public var state: String?
    /// `logs`: one attempt, one stream (`stdout`, `stderr`), and the page (`LogQuery`).
    public var attempt: Int?
    public var stream: String?
    public var offset: Int?
    public var limit: Int?

    public init(op: String, study: String? = nil, spec: String? = nil, file: String? = nil, baseDirectory: String? = nil,
                trial: Int? = nil, value: Double? = nil, state: String? = nil, attempt: Int? = nil, stream: String? = nil,
                offset: Int? = nil, limit: Int? = nil) {
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
        case op, study, spec, file, trial, value, state, attempt, stream, offset, limit
        case baseDirectory = "base_dir"
    }

    /// The request as a REQUEST body.
    public var body: Frame { JSONCoding.encode(self) }
}

/// A request the optimizer refuses, with the reason to show the user.
struct RequestError: Error, CustomStringConvertible {
    var description: String
}

extension OptimizerRequest {
    /// The `LogQuery` of a `logs` request.
    public func logQuery() throws -> LogQuery {
        guard let study else { throw RequestError(description: "logs: no \"study\" given") }
        guard let trial else { throw RequestError(description: "logs: no \"trial\" given") }
        return LogQuery(study: study, trial: trial, attempt: attempt, stream: stream, offset: offset ?? 0, limit: limit ?? LogQuery.maxLimit)
    }
}
