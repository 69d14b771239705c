import Foundation
import LoomModel
import LoomStore
import LoomWire
import LoomClient
import Logging

/// The body of a REQUEST to the optimizer: `{"op": …, …}` (see Docs/protocol.md, section 4).
public struct OptimizerRequest: Codable, Sendable {
    /// `submit`, `studies`, `status`, `trials`, `export`, `cancel`, `ask`, `tell`, `heartbeat`,
    /// `report`, `logs`.
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
    /// `heartbeat`: the asked trials the client holds.
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
        case op, study, spec, file, trial, value, state, error, trials, step, metrics, attempt, stream, offset, limit
        case baseDirectory = "base_dir"
        case leaseSeconds = "lease_s"
    }

    /// One asked trial a `heartbeat` renews.
    public struct HeldTrial: Codable, Sendable {
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
}

extension OptimizerService {
    func answer(_ request: UInt64, from client: String, body: Frame) {
        let reply: Frame
        do {
            let r: OptimizerRequest
            do {
                r = try JSONDecoder().decode(OptimizerRequest.self, from: Data(body))
            } catch {
                throw RequestError(description: "the request is not {\"op\": …}: \(JSONCoding.describe(error))")
            }
            reply = StudyDocuments.encode(try perform(r))
        } catch let error as RequestError {
            reply = StudyDocuments.encode(.object(error.details.merging(["error": .string(error.description)]) { $1 }))
        } catch {
            reply = StudyDocuments.error("\(error)")
        }
        post(.respond(request: request, to: client, body: reply))
    }

    func perform(_ r: OptimizerRequest) throws -> JSONValue {
        switch r.op {
        case "submit":
            guard let text = r.spec else { throw RequestError(description: "submit: no \"spec\" text") }
            let id = try createStudy(specText: text, file: r.file ?? "spec.yaml",
                                     baseDirectory: r.baseDirectory ?? FileManager.default.currentDirectoryPath)
            return .object(["study": .string(id)])
        case "studies":
            return try StudyDocuments.studies(store)
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
            return try ask(r)
        case "tell":
            return try tell(r)
        case "heartbeat":
            return try heartbeat(r)
        case "report":
            return try reportAsked(r)
        case "logs":
            guard case .object(var doc) = try StudyDocuments.logs(try r.logQuery(), store: store) else { return .null }
            // Everything the log subscription delivered up to here is stored: a follower
            // resumes the feed after it and misses nothing.
            doc["feed_position"] = .number(Double(logFeed?.position ?? 0))
            return .object(doc)
        default:
            throw RequestError(description: "unknown op \"\(r.op)\"; expected submit, studies, status, trials, export, cancel, ask, tell, heartbeat, report or logs")
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

    /// The driver of running study `s`, or why there is none (`finished` names its state).
    func runningDriver(_ s: StudyRecord) throws -> StudyDriver {
        guard let driver = drivers[s.id] else {
            throw RequestError(description: "study \(s.id) is \(s.state.rawValue)\(s.reason.map { ": \($0)" } ?? "")",
                               details: ["finished": .string(s.state.rawValue)])
        }
        return driver
    }

    /// `ask`: a trial to evaluate outside the fabric, under a lease (`StudyDriver+Asks.swift`).
    func ask(_ r: OptimizerRequest) throws -> JSONValue {
        let s = try study(r)
        _ = try runningDriver(s)
        let now = wallClock()
        guard let (outcome, expired) = drivers[s.id]?.ask(now: now, leaseSeconds: r.leaseSeconds ?? StudyDriver.defaultLeaseSeconds)
        else { throw RequestError(description: "study \(s.id) is not running") }
        try storeExpired(expired)
        switch outcome {
        case .trial(let trial):
            if trial.attempts == 1 { try store.insertTrial(trial) } else { try store.updateTrial(trial) }
            let lease = drivers[s.id]?.leases[trial.number]
            return .object(["study": .string(s.id), "trial": .number(Double(trial.number)), "config": .object(trial.config),
                            "attempt": .number(Double(trial.attempts)), "lease_s": .number(lease?.seconds ?? 0)])
        case .wait(let retryAfter, let held):
            throw RequestError(description: "study \(s.id) has no trial to hand out now: trials \(held.map(String.init).joined(separator: ", ")) are held by other clients; ask again in \(Int(retryAfter.rounded(.up))) s",
                               details: ["retry_after": .number(retryAfter)])
        case .exhausted:
            throw RequestError(description: "study \(s.id) has no trial budget left", details: ["exhausted": .bool(true)])
        }
    }

    /// Stores trials whose leases expired (waiting again, or failed).
    func storeExpired(_ expired: [TrialRecord]) throws {
        for trial in expired {
            if trial.state.isFinished { try store.recordResult(trial: trial, attempt: nil) } else { try store.updateTrial(trial) }
        }
    }

    /// `heartbeat`: renews the leases of the asked trials a client holds; answers those it lost.
    func heartbeat(_ r: OptimizerRequest) throws -> JSONValue {
        let s = try study(r)
        _ = try runningDriver(s)
        let now = wallClock()
        var renewed: [JSONValue] = []
        var lost: [JSONValue] = []
        for held in r.trials ?? [] {
            do {
                try drivers[s.id]?.renewLease(trial: held.trial, attempt: held.attempt, now: now)
                renewed.append(.number(Double(held.trial)))
            } catch {
                lost.append(.object(["trial": .number(Double(held.trial)), "reason": .string("\(error)")]))
            }
        }
        return .object(["renewed": .array(renewed), "lost": .array(lost)])
    }

    /// `report`: an intermediate result of an asked trial, stored and judged by the scheduler.
    func reportAsked(_ r: OptimizerRequest) throws -> JSONValue {
        let s = try study(r)
        let driver = try runningDriver(s)
        guard let number = r.trial else { throw RequestError(description: "report: no \"trial\" given") }
        guard let value = r.value, value.isFinite else { throw RequestError(description: "report: \"value\" must be a finite number") }
        let trial: TrialRecord
        do { trial = try driver.heldTrial(number, attempt: r.attempt) } catch { throw RequestError(description: "report: \(error)") }
        var metrics = r.metrics?.object ?? [:]
        metrics[driver.spec.metric] = .number(value)
        if let step = r.step { metrics[driver.spec.scheduler.resource ?? "step"] = .number(step) }
        let now = wallClock()
        let seq = UInt64(try store.reports(study: s.id, trial: number).count + 1)
        _ = try store.recordReport(ReportRecord(study: s.id, trial: number, attempt: trial.attempts, lease: 0, seq: seq,
                                                metrics: .object(metrics), time: now))
        let verdict = try drivers[s.id]?.reportAsked(trial: number, attempt: trial.attempts, metrics: .object(metrics), now: now)
        var answer: [String: JSONValue] = ["should_prune": .bool(verdict != nil)]
        answer["reason"] = verdict?.trial.note.map(JSONValue.string)
        return .object(answer)
    }

    /// `tell`: the result of a trial handed out by `ask`.
    func tell(_ r: OptimizerRequest) throws -> JSONValue {
        let s = try study(r)
        guard let number = r.trial else { throw RequestError(description: "tell: no \"trial\" given") }
        guard let driver = drivers[s.id] else { throw RequestError(description: "tell: study \(s.id) has no running trial \(number)") }
        var trial: TrialRecord
        do { trial = try driver.heldTrial(number, attempt: r.attempt) } catch { throw RequestError(description: "tell: \(error)") }
        let state = r.state.map { TrialState(rawValue: $0) } ?? .complete
        guard let state, [.complete, .failed, .pruned].contains(state) else {
            throw RequestError(description: "tell: state must be complete, failed or pruned, not \"\(r.state ?? "")\"")
        }
        if state == .complete {
            guard let value = r.value, value.isFinite else { throw RequestError(description: "tell: a complete trial needs a finite --value") }
            trial.value = value
            trial.metrics = .object([driver.spec.metric: .number(value)])
        } else if let value = r.value, value.isFinite {
            trial.value = value  // a pruned trial's last value
        }
        if state == .failed { trial.error = r.error ?? "told failed by its client" }
        trial.state = state
        trial.finishedAt = wallClock()
        try store.recordResult(trial: trial, attempt: nil)
        drivers[s.id]?.update(trial)
        advance(s.id)
        // Wrapped: a failed trial's document has an `error` key, which at the top level would
        // read as the request's failure.
        return .object(["study": .string(s.id), "trial": StudyDocuments.trial(trial)])
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
