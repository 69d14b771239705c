import LoomModel
import LoomSearch
import LoomWire

/// UPDATE: reports, checkpoints and results of the attempts. Every update is written before it
/// is acknowledged (the ACK is a message of the same turn, sent after the commit).
extension OptimizerMachine {
    mutating func updated(_ update: Update, now: Now) {
        let ref = update.attempt
        guard let (studyID, number) = Self.parseJobID(ref.job), let spec = drivers[studyID]?.spec,
              var trial = drivers[studyID]?.trial(number) else {
            // A study that ended (or a job that is not ours): nothing to drive. A report of a
            // study that ended (a resend crossing its last result) is still stored, as one after
            // its trial's result is: acknowledged means stored (simulation seed 3118). The job is
            // one this optimizer submitted (the broker relays only its own jobs' updates), so its
            // trial is in the store.
            if update.kind == .report, let (studyID, number) = Self.parseJobID(ref.job), studies[studyID] != nil, number >= 1,
               number <= endedTrialNumbers[studyID] ?? 0 {
                out.writes.append(.recordReport(ReportRecord(
                    study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease, seq: update.seq, kind: "report",
                    metrics: (try? JSONValue(parsing: update.payload)) ?? .null, time: now.wall)))
            }
            return acknowledge(update)
        }
        let key = TrialKey(study: studyID, number: number)
        let payload = try? JSONValue(parsing: update.payload)
        if trial.state.isFinished {
            // A report that arrives after its trial's result (a resend crossing a redelivered
            // FINAL) is still stored: the store ignores it if it already holds it.
            if update.kind == .report {
                out.writes.append(.recordReport(ReportRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                                             seq: update.seq, kind: "report", metrics: payload ?? .null, time: now.wall)))
            }
            return acknowledge(update)
        }
        if Int(ref.attempt) > trial.attempts, trial.state != .paused {
            // An update is proof its attempt started: this optimizer missed the STARTED (it was
            // down, or restarting, when the broker forwarded it). Record the start first, so the
            // attempt is counted and the next submission numbers its attempt after it.
            started(ref, worker: trial.worker ?? "?", now: now)
            guard let current = drivers[studyID]?.trial(number) else { return }
            trial = current
        }
        // The result of a paused attempt that still owes its announced checkpoint waits for it.
        if update.kind.isTerminal, holdsResult(update, of: key, now: now) { return }
        if update.kind.isTerminal && (Self.isSuperseded(trial, attempt: Int(ref.attempt))
            || attempts[key]?[Int(ref.attempt)]?.state == .complete) {
            // The end of an attempt the scheduler stopped (paused, or restarted from another
            // trial's checkpoint) that crossed our CANCEL_JOBS: what it reported is stored. Its
            // row, closed `complete` by that decision, says so even once the next attempt runs (an
            // unfinished trial has no other complete attempt): taken as the trial's result, it
            // ended the promoted attempt's trial with the paused attempt's value.
            return acknowledge(update)
        }
        if update.kind == .checkpoint {
            checkpointed(key, attempt: Int(ref.attempt))
            return checkpointProgress(uploads.arrived(update, payload: payload, now: now.instant), now: now)
        }
        // A result waits for the upload of its attempt's last checkpoint (`CheckpointUploads`).
        if update.kind.isTerminal, uploads.holdBack(update, now: now.instant) { return }
        // A FINAL that overtook its last line's CHECKPOINT waits for it (`OptimizerMachine+HeldResults`).
        if holdsOvertakingResult(update, payload: payload, of: key, now: now) { return }
        switch update.kind {
        case .report, .checkpoint:
            let id = ReportKey(lease: ref.lease, seq: update.seq)
            // A resend of a report already stored (its ACK was lost, or this optimizer restarted
            // before sending it) is not told to the scheduler twice.
            guard reportKeys[key]?.contains(id) != true else { return acknowledge(update) }
            recordReport(ReportRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease, seq: update.seq,
                                      kind: "report", metrics: payload ?? .null, time: now.wall), spec: spec)
            acknowledge(update)
            predecessorStored(ref, seq: update.seq, now: now)
            if let verdict = drivers[studyID]?.report(trial: number, attempt: Int(ref.attempt), metrics: payload, now: now.wall) {
                let announced = payload?.object?["checkpoint"] == .bool(true)
                carry(out: verdict, attempt: ref, now: now, announcedCheckpoint: announced ? update.seq : nil)
            }
        case .final:
            finalArrived(update, trial: trial, spec: spec, payload: payload, now: now)
        case .failed:
            failedArrived(update, trial: trial, spec: spec, payload: payload, now: now)
        }
    }

    private mutating func finalArrived(_ update: Update, trial current: TrialRecord, spec: StudySpec, payload: JSONValue?, now: Now) {
        let ref = update.attempt
        let key = TrialKey(study: current.study, number: current.number)
        var trial = current
        var attempt = closing(ref, of: trial, state: .complete, now: now)
        trial.attempts = max(trial.attempts, Int(ref.attempt))
        trial.finishedAt = now.wall
        let payload = Self.resumedFinal(payload, attempt: Int(ref.attempt), reported: lastMetric[key] ?? [:])
        switch StudyDriver.result(fromFinal: payload, spec: spec) {
        case .success(let result):
            let (value, metrics) = (result.value, result.metrics)
            if spec.scheduler.pausesTrials {
                // Kept so a restart replays the result a budget-style job ended with.
                recordReport(ReportRecord(study: trial.study, trial: trial.number, attempt: Int(ref.attempt), lease: ref.lease,
                                          seq: update.seq, kind: "final", metrics: metrics, time: now.wall), spec: spec)
            }
            if let verdict = drivers[trial.study]?.attemptEnded(trial: trial.number, value: value, metrics: metrics, now: now.wall) {
                acknowledge(update)
                return carry(out: verdict, attempt: ref, now: now, cancel: false)
            }
            trial.state = .complete
            result.apply(to: &trial)
        case .failure where Self.hadNothingLeft(attempt: Int(ref.attempt), payload: payload) && (newestMetric(key) != nil || trial.value != nil):
            // A resumed attempt whose checkpoint was already at its end reported nothing: the
            // trial completes with the last value it reported (study-spec.md promises it).
            trial.state = .complete
            if let last = newestMetric(key) {
                trial.value = last.value
                trial.metrics = last.metrics
                if case .success(let result) = StudyDriver.result(ofMetrics: last.metrics, spec: spec) { result.apply(to: &trial) }
            }
        case .failure(let error):
            trial.state = .failed
            trial.error = error.message
            trial.metrics = payload?.object?["metrics"]
            attempt.state = .failed
            attempt.error = error.message
        }
        recordResult(trial, attempt: attempt, now: now)
        acknowledge(update)
        advance(trial.study, now: now)
    }

    private mutating func failedArrived(_ update: Update, trial current: TrialRecord, spec: StudySpec, payload: JSONValue?, now: Now) {
        let ref = update.attempt
        var trial = current
        let message = StudyDriver.failureMessage(payload)
        let attempt = closing(ref, of: trial, state: .failed, error: message, now: now)
        trial.attempts = max(trial.attempts, Int(ref.attempt))
        trial.error = message
        let quarantined = payload?.object?["quarantined"] == .bool(true)
        if !quarantined && trial.attempts < 1 + spec.trial.maxRetries {
            // Retried: the same job id is submitted again as the next attempt.
            record(attempt)
            out.writes.append(.updateTrial(trial))
            drivers[trial.study]?.update(trial)
            acknowledge(update)
            if let study = studies[trial.study] { submit([trial], of: study, resync: false) }
            return
        }
        trial.state = .failed
        trial.finishedAt = now.wall
        trial.metrics = payload?.object?["metrics"]
        trial.error = everyAttemptsError(TrialKey(study: trial.study, number: trial.number), last: attempt)
        recordResult(trial, attempt: attempt, now: now)
        acknowledge(update)
        advance(trial.study, now: now)
    }

    /// Writes a report of an unfinished trial and remembers its key and metric.
    mutating func recordReport(_ report: ReportRecord, spec: StudySpec) {
        let key = TrialKey(study: report.study, number: report.trial)
        out.writes.append(.recordReport(report))
        guard attempts[key] != nil else { return }
        reportKeys[key, default: []].insert(ReportKey(lease: report.lease, seq: report.seq))
        noteMetric(report.metrics, kind: report.kind, of: key, attempt: report.attempt, seq: report.seq, spec: spec)
    }

    /// "attempt 1: exit code 3; attempt 2: lost: …; attempt 3: …": a failed trial's whole story.
    func everyAttemptsError(_ key: TrialKey, last: AttemptRecord) -> String {
        var errors: [Int: String] = [:]
        for attempt in (attempts[key] ?? [:]).values where attempt.state != .complete {
            errors[attempt.attempt] = attempt.error ?? attempt.state.rawValue
        }
        errors[last.attempt] = last.error ?? "failed"
        guard errors.count > 1 else { return errors[last.attempt]! }
        return errors.keys.sorted().map { "attempt \($0): \(errors[$0]!)" }.joined(separator: "; ")
    }

    /// The FINAL of a resumed attempt that printed nothing: the trial completes with the value of
    /// the state it resumed from (issue 15, failure 2). The FINAL names that checkpoint
    /// (`resumed_checkpoint`: the attempt that wrote it and its seq) and carries its metrics when
    /// the worker snapshotted it itself. A stored update of that same attempt at or after that seq
    /// is newer (the trial wrote its last step after that snapshot, and the directory resumed in
    /// place holds it); else the checkpoint's own metrics; else that attempt's newest update.
    /// Another attempt (a retry from an older checkpoint, a backup) is another line of the trial:
    /// its updates count only when nothing of that line is known, or the FINAL names no checkpoint.
    static func resumedFinal(_ payload: JSONValue?, attempt: Int, reported: [Int: LastMetric]) -> JSONValue? {
        guard hadNothingLeft(attempt: attempt, payload: payload), var object = payload?.object else { return payload }
        var line: LastMetric?
        if let from = object["resumed_checkpoint"]?.object, let a = from["attempt"]?.double, let s = from["seq"]?.double,
           a >= 1, s >= 0, a < 1e9, s < 1e18 {
            line = reported[Int(a)]
            let carried = object["metrics"]?.object?.isEmpty == false
            let lineIsOlder = line.map { $0.seq < UInt64(s) } ?? true
            if carried && lineIsOlder { return payload }
        }
        guard let chosen = line ?? newest(reported) else { return payload }
        object["metrics"] = chosen.metrics
        return .object(object)
    }

    /// Whether a FINAL without the metric ends a resumed attempt that reported nothing (it found
    /// its checkpoint at its budget or its last epoch).
    static func hadNothingLeft(attempt: Int, payload: JSONValue?) -> Bool {
        attempt > 1 && payload?.object?["reports"]?.double == 0
    }

    /// Whether an update of `attempt` ends an attempt the scheduler already stopped: the trial
    /// is paused, or waits for the next attempt the scheduler asked for.
    static func isSuperseded(_ trial: TrialRecord, attempt: Int) -> Bool {
        trial.state == .paused || (trial.state == .waiting && trial.attempts > 0 && attempt <= trial.attempts)
    }

    /// A CHECKPOINT of the running attempt: once the trial has a checkpoint of its own, a later
    /// attempt restores that one, not the PBT donor's.
    mutating func checkpointed(_ key: TrialKey, attempt: Int) {
        guard var trial = drivers[key.study]?.trial(key.number), trial.restoreFrom != nil,
              trial.state == .running, attempt == trial.attempts else { return }
        trial.restoreFrom = nil
        out.writes.append(.updateTrial(trial))
        drivers[key.study]?.update(trial)
    }

    /// Carries out a scheduler's verdict on a running attempt: the attempt is cancelled at the
    /// broker (a CANCEL_JOBS message, unless it already ended), the trial stored as the verdict
    /// says (pruned, paused, or waiting to restart from a donor's checkpoint, then submitted
    /// again). A pause on a REPORT that announced a checkpoint (`announcedCheckpoint`: its seq)
    /// defers the cancel until that checkpoint is stored (`OptimizerMachine+Pauses`).
    mutating func carry(out verdict: SchedulerVerdict, attempt ref: AttemptRef, now: Now, cancel: Bool = true,
                        announcedCheckpoint: UInt64? = nil) {
        let trial = verdict.trial
        guard let study = studies[trial.study], drivers[trial.study] != nil else { return }
        if cancel, verdict.action == .pause, let seq = announcedCheckpoint, settings.keepsCheckpoints,
           awaitCheckpoint(of: TrialKey(study: trial.study, number: trial.number), attempt: ref, announcedSeq: seq, now: now) {
            // The CANCEL_JOBS waits for the checkpoint (`OptimizerMachine+Pauses`).
        } else if cancel {
            out.messages.append(.cancel(jobs: [trial.jobID], reason: trial.note))
        }
        // The attempt ran as far as the scheduler let it: complete, whatever became of the trial.
        let attempt = closing(ref, of: trial, state: .complete, now: now)
        switch verdict.action {
        case .prune:
            recordResult(trial, attempt: attempt, now: now)
        case .pause, .restart:
            record(attempt)
            out.writes.append(.updateTrial(trial))
            drivers[trial.study]?.update(trial)
        }
        out.notes.append(.info("scheduler decision", ["trial.id": trial.jobID, "trial.note": trial.note ?? ""]))
        if verdict.action == .restart { submit([trial], of: study, resync: false) }
        advance(trial.study, now: now)
    }

    /// Acknowledges an update once the turn that stored it commits.
    mutating func acknowledge(_ update: Update) {
        out.messages.append(.acknowledge(update))
    }
}
