import Foundation
import LoomModel
import LoomWire

/// REQUESTs to the optimizer. Those that change state (`submit`, `cancel`, `ask`, `tell`, `release`) are
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
        var op = "request"
        do {
            let r: OptimizerRequest
            do {
                r = try JSONDecoder().decode(OptimizerRequest.self, from: Data(body))
            } catch {
                throw RequestError(description: "the request is not {\"op\": …}: \(JSONCoding.describe(error))", refusal: "malformed")
            }
            op = r.op
            guard let document = try perform(r, requester: requester, now: now) else {
                out.queries.append(ReadQuery(request: request, from: client, body: r, requester: requester))
                return
            }
            reply = StudyDocuments.encode(document)
        } catch let error as RequestError {
            if let reason = error.refusal {
                refuse(reason, peer: Self.requesterName(requester, client: client), message: op, detail: error.description, now: now)
            }
            reply = StudyDocuments.encode(.object(error.details.merging(["error": .string(error.description)]) { $1 }))
        } catch {
            if error is SpecError {
                refuse("spec", peer: Self.requesterName(requester, client: client), message: op, detail: "\(error)", now: now)
            }
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
            return try ask(r, requester: requester, now: now)
        case "tell":
            return try tell(r, requester: requester, now: now)
        case "heartbeat":
            return try heartbeat(r, requester: requester, now: now)
        case "release":
            return try release(r, requester: requester, now: now)
        case "report":
            return try reportAsked(r, requester: requester, now: now)
        default:
            throw RequestError(description: "unknown op \"\(r.op)\"; expected submit, studies, status, trials, export, cancel, ask, tell, heartbeat, release, report or logs")
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

    /// The driver of running study `s`, or why there is none (`finished` names its state).
    func runningDriver(_ s: StudyRecord) throws -> StudyDriver {
        guard let driver = drivers[s.id] else {
            throw RequestError(description: "study \(s.id) is \(s.state.rawValue)\(s.reason.map { ": \($0)" } ?? "")",
                               details: ["finished": .string(s.state.rawValue)])
        }
        return driver
    }

    /// Throws `runningDriver`'s refusal when study `s` is not driven, without copying its driver.
    func checkRunning(_ s: StudyRecord) throws {
        if drivers[s.id] == nil { _ = try runningDriver(s) }
    }

    /// `ask`: trials to evaluate outside the fabric, each under its own lease
    /// (`StudyDriver+Asks.swift`). Without `n`, one trial in the single-trial shape; with `n`,
    /// up to `n` trials (`"trials": […]`, at least one), each created with the ones before it
    /// pending for the searcher, all in this turn's one commit.
    mutating func ask(_ r: OptimizerRequest, requester: String?, now: Now) throws -> JSONValue {
        let s = try study(r, requester: requester)
        try checkRunning(s)
        if let n = r.n, !StudyDriver.askBatchRange.contains(n) {
            throw RequestError(description: "ask: \"n\" must be between \(StudyDriver.askBatchRange.lowerBound) and \(StudyDriver.askBatchRange.upperBound), not \(n)")
        }
        var handed: [JSONValue] = []
        var refusal: AskOutcome?
        while handed.count < (r.n ?? 1) {
            guard let (outcome, expired) = drivers[s.id]?.ask(now: now.wall, leaseSeconds: r.leaseSeconds ?? StudyDriver.defaultLeaseSeconds,
                                                              started: r.n == nil)
            else { throw RequestError(description: "study \(s.id) is not running") }
            recordExpired(expired, now: now)
            guard case .trial(let trial) = outcome else {
                refusal = outcome
                break
            }
            let key = TrialKey(study: s.id, number: trial.number)
            if attempts[key] == nil {
                out.writes.append(.insertTrial(trial))
                attempts[key] = [:]
            } else {
                out.writes.append(.updateTrial(trial))  // handed out again: its lease expired or it was released
            }
            let lease = drivers[s.id]?.leases[trial.number]
            handed.append(.object(["trial": .number(Double(trial.number)), "config": .object(trial.config),
                                   "attempt": .number(Double(trial.attempts)), "lease_s": .number(lease?.seconds ?? 0)]))
        }
        if !handed.isEmpty {
            guard r.n != nil else {
                guard case .object(var single) = handed[0] else { return handed[0] }
                single["study"] = .string(s.id)
                return .object(single)
            }
            return .object(["study": .string(s.id), "trials": .array(handed)])
        }
        switch refusal {
        case .wait(let retryAfter, let held):
            throw RequestError(description: "study \(s.id) has no trial to hand out now: trials \(held.map(String.init).joined(separator: ", ")) are held by other clients; ask again in \(Int(retryAfter.rounded(.up))) s",
                               details: ["retry_after": .number(retryAfter)])
        default:
            throw RequestError(description: "study \(s.id) has no trial budget left", details: ["exhausted": .bool(true)])
        }
    }

    /// `release`: asked trials the client holds but never evaluated (prefetched, left over when
    /// it closes the study) wait for the next `ask` at once, without spending a retry; those it
    /// no longer holds are answered as `refused` with the reason.
    mutating func release(_ r: OptimizerRequest, requester: String?, now: Now) throws -> JSONValue {
        let s = try study(r, requester: requester)
        try checkRunning(s)
        var released: [JSONValue] = []
        var refused: [JSONValue] = []
        for held in r.trials ?? [] {
            do {
                guard let trial = try drivers[s.id]?.release(trial: held.trial, attempt: held.attempt) else { continue }
                out.writes.append(.updateTrial(trial))
                released.append(.number(Double(held.trial)))
            } catch {
                refused.append(.object(["trial": .number(Double(held.trial)), "reason": .string("\(error)")]))
            }
        }
        return .object(["released": .array(released), "refused": .array(refused)])
    }

    /// Writes asked trials whose leases expired: waiting again, or failed (their result).
    mutating func recordExpired(_ expired: [TrialRecord], now: Now) {
        for trial in expired {
            if trial.state.isFinished { recordResult(trial, attempt: nil, now: now) } else { out.writes.append(.updateTrial(trial)) }
        }
    }

    /// `heartbeat`: renews the leases of the asked trials a client holds (and with `started`,
    /// marks them as being evaluated); answers those it lost.
    mutating func heartbeat(_ r: OptimizerRequest, requester: String?, now: Now) throws -> JSONValue {
        let s = try study(r, requester: requester)
        try checkRunning(s)
        var renewed: [JSONValue] = []
        var lost: [JSONValue] = []
        for held in r.trials ?? [] {
            do {
                try drivers[s.id]?.renewLease(trial: held.trial, attempt: held.attempt, now: now.wall, started: r.started == true)
                renewed.append(.number(Double(held.trial)))
            } catch {
                lost.append(.object(["trial": .number(Double(held.trial)), "reason": .string("\(error)")]))
            }
        }
        return .object(["renewed": .array(renewed), "lost": .array(lost)])
    }

    /// `report`: an intermediate result of an asked trial, recorded and judged by the scheduler.
    mutating func reportAsked(_ r: OptimizerRequest, requester: String?, now: Now) throws -> JSONValue {
        let s = try study(r, requester: requester)
        let spec = try runningDriver(s).spec
        guard let number = r.trial else { throw RequestError(description: "report: no \"trial\" given") }
        guard let value = r.value, value.isFinite else { throw RequestError(description: "report: \"value\" must be a finite number") }
        let trial: TrialRecord
        do { trial = try heldTrial(s.id, number, attempt: r.attempt) } catch { throw RequestError(description: "report: \(error)") }
        var metrics = r.metrics?.object ?? [:]
        metrics[spec.metric] = .number(value)
        if let step = r.step { metrics[spec.scheduler.resource ?? "step"] = .number(step) }
        let key = TrialKey(study: s.id, number: number)
        // Asked reports have no lease of the broker's: lease 0, numbered per trial from 1.
        let seq = UInt64((reportKeys[key]?.count ?? 0) + 1)
        recordReport(ReportRecord(study: s.id, trial: number, attempt: trial.attempts, lease: 0, seq: seq,
                                  metrics: .object(metrics), time: now.wall), spec: spec)
        let verdict = try drivers[s.id]?.reportAsked(trial: number, attempt: trial.attempts, metrics: .object(metrics), now: now.wall)
        var answer: [String: JSONValue] = ["should_prune": .bool(verdict != nil)]
        answer["reason"] = verdict?.trial.note.map(JSONValue.string)
        return .object(answer)
    }

    /// `tell`: the result of a trial handed out by `ask`. Idempotent: a resend of the tell that
    /// finished the trial (`isResend`) is answered with the stored trial and `"duplicate": true`;
    /// once the study ended, from the store (nil: a `ReadQuery`).
    mutating func tell(_ r: OptimizerRequest, requester: String?, now: Now) throws -> JSONValue? {
        let s = try study(r, requester: requester)
        guard let number = r.trial else { throw RequestError(description: "tell: no \"trial\" given") }
        guard let metric = drivers[s.id]?.spec.metric else {
            guard s.state != .running else { throw RequestError(description: "tell: study \(s.id) has no running trial \(number)") }
            return nil
        }
        let state = r.state.map { TrialState(rawValue: $0) } ?? .complete
        guard let state, [.complete, .failed, .pruned].contains(state) else {
            throw RequestError(description: "tell: state must be complete, failed or pruned, not \"\(r.state ?? "")\"")
        }
        var trial: TrialRecord
        do {
            trial = try heldTrial(s.id, number, attempt: r.attempt)
        } catch AskRefusal.finished(_, _) {
            guard let told = drivers[s.id]?.trial(number), Self.isResend(r, state: state, of: told) else {
                throw RequestError(description: "tell: \(AskRefusal.finished(number, drivers[s.id]?.trial(number)?.state ?? state))")
            }
            // A resent tell (its acknowledgement was lost): answered as the first was, recorded once.
            return .object(["study": .string(s.id), "trial": StudyDocuments.trial(told), "duplicate": .bool(true)])
        } catch {
            throw RequestError(description: "tell: \(error)")
        }
        if state == .complete {
            guard let value = r.value, value.isFinite else { throw RequestError(description: "tell: a complete trial needs a finite --value") }
            trial.value = value
            trial.metrics = .object([metric: .number(value)])
        } else if let value = r.value, value.isFinite {
            trial.value = value  // a pruned trial's last value
        }
        if state == .failed { trial.error = r.error ?? "told failed by its client" }
        trial.state = state
        trial.finishedAt = now.wall
        recordResult(trial, attempt: nil, now: now)
        advance(s.id, now: now)
        // Wrapped: a failed trial's document has an `error` key, which at the top level would
        // read as the request's failure.
        return .object(["study": .string(s.id), "trial": StudyDocuments.trial(trial)])
    }

    /// `drivers[study].heldTrial(…)`, read in place. Request handlers never keep a copy of a
    /// driver: one alive while the driver is updated (`recordResult`) would make that update copy
    /// every trial of the study, O(trials) per request.
    func heldTrial(_ study: String, _ number: Int, attempt: Int?) throws(AskRefusal) -> TrialRecord {
        guard drivers[study] != nil else { throw .unknownTrial(number) }
        return try drivers[study]!.heldTrial(number, attempt: attempt)
    }

    /// Whether tell `r` repeats the one that finished `trial`: the same attempt (it must be
    /// named), state and value. A different result for a finished trial is refused instead.
    static func isResend(_ r: OptimizerRequest, state: TrialState, of trial: TrialRecord) -> Bool {
        guard let attempt = r.attempt, attempt == trial.attempts, trial.state == state, trial.source == "ask" else { return false }
        return state != .complete || r.value == trial.value
    }
}
