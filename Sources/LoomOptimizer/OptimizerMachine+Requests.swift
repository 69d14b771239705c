import Foundation
import LoomModel
import LoomWire

/// REQUESTs to the optimizer. Those that change state (`submit`, `cancel`, `ask`, `tell`) are
/// answered by the machine, their RESPOND sent after the turn's commit; `status` of a running
/// study too, from the driver's mirror (clients poll it). The read-only rest (`studies`,
/// `trials`, `export`, `logs`, `status` of a finished study, and the summary a `cancel` answers
/// with once the study's end is committed) becomes a `ReadQuery` the service
/// answers from the committed store.
///
/// **Authorisation.** Every request passes `StudyAccess.check` first, with the requester's key
/// the broker forwarded and the study's owner from the machine's own `studies` (every study, as
/// stored): a key acts only on its own studies, with no store read. A `studies` listing carries
/// the key in its `ReadQuery`, and the service lists only what that key may see.
extension OptimizerMachine {
    /// `requester`: the key (`ROLE/NAME`) the broker authenticated the requester with; nil when
    /// the broker does not authenticate.
    mutating func answer(_ request: UInt64, from client: String, body: Frame, requester: String? = nil, now: Now) {
        let reply: Frame
        do {
            let r: OptimizerRequest
            do {
                r = try JSONDecoder().decode(OptimizerRequest.self, from: Data(body))
            } catch {
                throw RequestError(description: "the request is not {\"op\": …}: \(JSONCoding.describe(error))")
            }
            guard let document = try perform(r, requester: requester, now: now) else {
                out.queries.append(ReadQuery(request: request, from: client, body: r, requester: requester))
                return
            }
            reply = StudyDocuments.encode(document)
        } catch {
            reply = StudyDocuments.error("\(error)")
        }
        out.messages.append(.respond(request: request, to: client, body: reply))
    }

    /// The answer to a request the machine answers itself; nil for a read-only one. Refused
    /// when `requester` may not act on the study it names (`StudyAccess`).
    mutating func perform(_ r: OptimizerRequest, requester: String? = nil, now: Now) throws -> JSONValue? {
        try StudyAccess.check(r.op, study: r.study, requester: requester) { id in studies[id].map(\.owner) }
        switch r.op {
        case "submit":
            guard let text = r.spec else { throw RequestError(description: "submit: no \"spec\" text") }
            let id = try createStudy(specText: text, file: r.file ?? "spec.yaml",
                                     baseDirectory: r.baseDirectory ?? settings.workingDirectory, owner: requester, now: now)
            return .object(["study": .string(id)])
        case "status":
            let record = try study(r, requester: requester)
            // A running study is answered from the driver's mirror of its trials: clients poll
            // this, and reading and decoding every trial each time costs the study its speed.
            guard let driver = drivers[record.id] else { return nil }
            return StudyDocuments.summary(record, spec: driver.spec, counts: driver.stateCounts, best: driver.best,
                                          rungs: StudyDocuments.rungs(driver.trials))
        case "studies", "trials", "export", "logs":
            if r.op != "studies" { _ = try study(r, requester: requester) }
            return nil
        case "cancel":
            let s = try study(r, requester: requester)
            guard s.state == .running else { throw RequestError(description: "study \(s.id) is already \(s.state.rawValue)") }
            guard drivers[s.id] != nil else { throw RequestError(description: "study \(s.id) cannot be resumed (its spec does not parse)") }
            finish(s.id, state: .cancelled, reason: "cancelled by a user", now: now)
            // Answered like `status`, from the store once the study's end is committed.
            return nil
        case "ask":
            let s = try study(r, requester: requester)
            guard drivers[s.id] != nil else { throw RequestError(description: "study \(s.id) is \(s.state.rawValue)") }
            guard let trial = drivers[s.id]?.ask(now: now.wall) else {
                throw RequestError(description: "study \(s.id) has no trial budget left")
            }
            out.writes.append(.insertTrial(trial))
            attempts[TrialKey(study: s.id, number: trial.number)] = [:]
            return .object(["study": .string(s.id), "trial": .number(Double(trial.number)), "config": .object(trial.config)])
        case "tell":
            return try tell(r, requester: requester, now: now)
        default:
            throw RequestError(description: "unknown op \"\(r.op)\"; expected submit, studies, status, trials, export, cancel, ask, tell or logs")
        }
    }

    /// The study `r` names. When there is none, the error lists the studies `requester` may see
    /// (not every key's: the listing is narrowed the same way).
    func study(_ r: OptimizerRequest, requester: String?) throws -> StudyRecord {
        guard let id = r.study else { throw RequestError(description: "\(r.op): no \"study\" given") }
        guard let study = studies[id] else {
            let known = StudyAccess.visible(studyRecords, requester: requester).map(\.id)
            throw RequestError(description: "no study \"\(id)\"; known: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        return study
    }

    /// `tell`: the result of a trial handed out by `ask`.
    mutating func tell(_ r: OptimizerRequest, requester: String?, now: Now) throws -> JSONValue {
        let s = try study(r, requester: requester)
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
        trial.finishedAt = now.wall
        recordResult(trial, attempt: nil, now: now)
        advance(s.id, now: now)
        return StudyDocuments.trial(trial)
    }
}
