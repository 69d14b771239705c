import Foundation
import LoomModel
import LoomStore
import LoomWire
import LoomClient
import Logging

/// The body of a REQUEST to the optimizer: `{"op": …, …}` (see Docs/protocol.md, section 4).
public struct OptimizerRequest: Codable, Sendable {
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

extension OptimizerService {
    func answer(_ request: UInt64, from client: String, body: Frame, key: String? = nil) {
        let reply: Frame
        do {
            let r: OptimizerRequest
            do {
                r = try JSONDecoder().decode(OptimizerRequest.self, from: Data(body))
            } catch {
                throw RequestError(description: "the request is not {\"op\": …}: \(JSONCoding.describe(error))")
            }
            reply = StudyDocuments.encode(try perform(r, requester: key))
        } catch {
            reply = StudyDocuments.error("\(error)")
        }
        post(.respond(request: request, to: client, body: reply))
    }

    func perform(_ r: OptimizerRequest, requester: String? = nil) throws -> JSONValue {
        try StudyAccess.check(r.op, study: r.study, requester: requester) { id in try store.study(id)?.owner }
        switch r.op {
        case "submit":
            guard let text = r.spec else { throw RequestError(description: "submit: no \"spec\" text") }
            let id = try createStudy(specText: text, file: r.file ?? "spec.yaml",
                                     baseDirectory: r.baseDirectory ?? FileManager.default.currentDirectoryPath, owner: requester)
            return .object(["study": .string(id)])
        case "studies":
            return StudyAccess.visible(try StudyDocuments.studies(store), requester: requester) { id in try? store.study(id)?.owner }
        case "status":
            let record = try study(r)
            // A running study is answered from the driver's mirror of its trials: clients poll
            // this, and reading and decoding every trial each time costs the study its speed.
            if let driver = drivers[record.id] {
                return StudyDocuments.summary(record, spec: driver.spec, counts: driver.stateCounts, best: driver.best,
                                              rungs: StudyDocuments.rungs(driver.trials))
            }
            return try StudyDocuments.summary(record, store: store)
        case "trials":
            return try StudyDocuments.trials(try study(r).id, store: store)
        case "export":
            return try StudyDocuments.trials(try study(r).id, store: store, reports: true)
        case "cancel":
            let s = try study(r)
            guard s.state == .running else { throw RequestError(description: "study \(s.id) is already \(s.state.rawValue)") }
            finish(s.id, state: .cancelled, reason: "cancelled by a user")
            return try StudyDocuments.summary(try study(r), store: store)
        case "ask":
            let s = try study(r)
            guard var driver = drivers[s.id] else { throw RequestError(description: "study \(s.id) is \(s.state.rawValue)") }
            guard let trial = driver.ask(now: wallClock()) else {
                throw RequestError(description: "study \(s.id) has no trial budget left")
            }
            try store.insertTrial(trial)
            drivers[s.id] = driver
            return .object(["study": .string(s.id), "trial": .number(Double(trial.number)), "config": .object(trial.config)])
        case "tell":
            return try tell(r)
        case "logs":
            guard case .object(var doc) = try StudyDocuments.logs(try r.logQuery(), store: store) else { return .null }
            // Everything the log subscription delivered up to here is stored: a follower
            // resumes the feed after it and misses nothing.
            doc["feed_position"] = .number(Double(logFeed?.position ?? 0))
            return .object(doc)
        default:
            throw RequestError(description: "unknown op \"\(r.op)\"; expected submit, studies, status, trials, export, cancel, ask, tell or logs")
        }
    }

    func study(_ r: OptimizerRequest) throws -> StudyRecord {
        guard let id = r.study else { throw RequestError(description: "\(r.op): no \"study\" given") }
        guard let study = try store.study(id) else {
            let known = (try? store.studies().map(\.id)) ?? []
            throw RequestError(description: "no study \"\(id)\"; known: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        return study
    }

    /// `tell`: the result of a trial handed out by `ask`.
    func tell(_ r: OptimizerRequest) throws -> JSONValue {
        let s = try study(r)
        guard let number = r.trial else { throw RequestError(description: "tell: no \"trial\" given") }
        guard let spec = drivers[s.id]?.spec, var trial = drivers[s.id]?.trial(number) else {
            throw RequestError(description: "tell: study \(s.id) has no running trial \(number)")
        }
        guard trial.source == "ask" else {
            throw RequestError(description: "tell: trial \(number) is run by the fabric; only trials from ask can be told")
        }
        guard !trial.state.isFinished else { throw RequestError(description: "tell: trial \(number) is already \(trial.state.rawValue)") }
        let state = r.state.map { TrialState(rawValue: $0) } ?? .complete
        guard let state, [.complete, .failed, .pruned].contains(state) else {
            throw RequestError(description: "tell: state must be complete, failed or pruned, not \"\(r.state ?? "")\"")
        }
        if state == .complete {
            guard let value = r.value, value.isFinite else { throw RequestError(description: "tell: a complete trial needs a finite --value") }
            trial.value = value
            trial.metrics = .object([spec.metric: .number(value)])
        }
        trial.state = state
        trial.finishedAt = wallClock()
        try store.recordResult(trial: trial, attempt: nil)
        drivers[s.id]?.update(trial)
        advance(s.id)
        return StudyDocuments.trial(trial)
    }
}

extension OptimizerRequest {
    /// The `LogQuery` of a `logs` request.
    public func logQuery() throws -> LogQuery {
        guard let study else { throw RequestError(description: "logs: no \"study\" given") }
        guard let trial else { throw RequestError(description: "logs: no \"trial\" given") }
        return LogQuery(study: study, trial: trial, attempt: attempt, stream: stream, offset: offset ?? 0, limit: limit ?? LogQuery.maxLimit)
    }
}
