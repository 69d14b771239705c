import Foundation
import LoomClient
import LoomModel
import LoomStore
import LoomWire
import Logging

/// What the broker tells the optimizer about its jobs. Every update is stored before it is
/// acknowledged; a store failure leaves it unacknowledged, so its worker sends it again.
extension OptimizerService {
    func handle(_ event: ClientEvent) {
        switch event {
        case .started(let ref, let worker, let backup): started(ref, worker: worker, backup: backup)
        case .ended(let ref, let reason, let detail): ended(ref, reason: reason, detail: detail)
        case .update(let update): updated(update)
        case .transfer(let transfer): transferArrived(transfer)
        case .request(let request, let from, let body, let key): answer(request, from: from, body: body, key: key)
        case .connected(let info, let resynced):
            logger.info("connected to broker", metadata: ["broker.id": "\(info.broker)", "optimizer.resynced": "\(resynced)"])
            apply(vault.retryAll(now: .now))
        case .error(let text):
            logger.warning("broker error", metadata: ["error": "\(text)"])
        case .submitted, .cancelled, .reply:
            break
        }
    }

    /// STARTED: the attempt's row, and the trial running. A `backup` copy runs beside the
    /// attempt it backs up, which goes on; any other new attempt replaces the ones before it.
    func started(_ ref: AttemptRef, worker: String, backup: Bool = false) {
        guard let (studyID, number) = Self.parseJobID(ref.job), var trial = drivers[studyID]?.trial(number),
              !trial.state.isFinished else { return }
        let now = wallClock()
        trial.state = .running
        trial.attempts = max(trial.attempts, Int(ref.attempt))
        trial.worker = worker
        if trial.startedAt == nil { trial.startedAt = now }
        do {
            // Earlier attempts still marked running ended without their ENDED reaching us (this
            // optimizer was away, or the broker restarted): a new attempt replaces them.
            for var earlier in try store.attempts(study: studyID, trial: number)
            where !backup && earlier.attempt < Int(ref.attempt) && earlier.state == .running {
                earlier.state = .lost
                earlier.error = "lost: no result from worker \(earlier.worker ?? "?"); the broker started attempt \(ref.attempt)"
                earlier.finishedAt = now
                try store.recordAttempt(earlier)
            }
            try store.recordAttempt(AttemptRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                                  worker: worker, startedAt: now))
            try store.updateTrial(trial)
            drivers[studyID]?.update(trial)
        } catch {
            logger.error("cannot store an attempt's start", metadata: ["trial.id": "\(ref.job)", "error": "\(error)"])
        }
    }

    /// ENDED: an attempt ended without a result of its own (lost, stalled, superseded by its
    /// other copy, or a failed copy); its row says so. The trial itself goes on (the broker
    /// retries it, or its other copy runs): its state comes with the next STARTED or result.
    func ended(_ ref: AttemptRef, reason: String, detail: String) {
        guard let (studyID, number) = Self.parseJobID(ref.job), drivers[studyID] != nil else { return }
        // Every `EndedReason` names the attempt state it leads to.
        let state = AttemptState(rawValue: reason) ?? .lost
        do {
            let stored = try store.attempts(study: studyID, trial: number).first { $0.attempt == Int(ref.attempt) }
            // An attempt that already ended here (its result, or a scheduler's decision) keeps its row.
            if let stored, stored.state.isFinished { return }
            let now = wallClock()
            var attempt = stored ?? AttemptRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                                   startedAt: now)
            attempt.state = state
            attempt.error = detail.isEmpty ? reason : detail.hasPrefix(reason) ? detail : "\(reason): \(detail)"
            attempt.finishedAt = now
            try store.recordAttempt(attempt)
        } catch {
            logger.error("cannot store an attempt's end", metadata: ["trial.id": "\(ref.job)", "error": "\(error)"])
        }
    }

    func updated(_ update: Update) {
        let ref = update.attempt
        guard let (studyID, number) = Self.parseJobID(ref.job), let spec = drivers[studyID]?.spec,
              var trial = drivers[studyID]?.trial(number), !trial.state.isFinished else {
            // A study that ended (or a trial already finished): nothing to record.
            acknowledge(update)
            return
        }
        if Int(ref.attempt) > trial.attempts, !trial.state.isFinished, trial.state != .paused {
            // An update is proof its attempt started: this optimizer missed the STARTED (it was
            // down, or restarting, when the broker forwarded it). Record the start first, so the
            // attempt is counted and the next submission numbers its attempt after it.
            started(ref, worker: trial.worker ?? "?")
            guard let current = drivers[studyID]?.trial(number) else { return }
            trial = current
        }
        let payload = try? JSONValue(parsing: update.payload)
        let now = wallClock()
        if update.kind.isTerminal && Self.isSuperseded(trial, attempt: Int(ref.attempt)) {
            // The end of an attempt the scheduler stopped (paused, or restarted from another
            // trial's checkpoint) that crossed our CANCEL_JOBS: what it reported is stored.
            acknowledge(update)
            return
        }
        if update.kind == .checkpoint {
            checkpointed(studyID, trial: number, attempt: Int(ref.attempt))
            return checkpointArrived(update, payload: payload)
        }
        // A result waits for the upload of its attempt's last checkpoint (`CheckpointVault`).
        if update.kind.isTerminal, vault.holdBack(update) { return }
        do {
            switch update.kind {
            case .report, .checkpoint:
                try store.recordReport(ReportRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                                    seq: update.seq, kind: update.kind == .report ? "report" : "checkpoint",
                                                    metrics: payload ?? .null, time: now))
                acknowledge(update)
                if update.kind == .checkpoint {
                    checkpointed(studyID, trial: number, attempt: Int(ref.attempt))
                } else if let verdict = drivers[studyID]?.report(trial: number, attempt: Int(ref.attempt), metrics: payload, now: now) {
                    carry(out: verdict, attempt: ref, studyID: studyID, now: now)
                }
                return
            case .final:
                var attempt = AttemptRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                            worker: trial.worker, state: .complete, startedAt: trial.startedAt ?? now, finishedAt: now)
                trial.attempts = max(trial.attempts, Int(ref.attempt))
                trial.finishedAt = now
                switch StudyDriver.value(fromFinal: payload, metric: spec.metric) {
                case .success(let (value, metrics)):
                    if spec.scheduler.pausesTrials {
                        // Kept so a restart replays the result a budget-style job ended with.
                        try store.recordReport(ReportRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                                            seq: update.seq, kind: "final", metrics: metrics, time: now))
                    }
                    if let verdict = drivers[studyID]?.attemptEnded(trial: number, value: value, metrics: metrics, now: now) {
                        if carry(out: verdict, attempt: ref, studyID: studyID, now: now, cancel: false) { acknowledge(update) }
                        return
                    }
                    trial.state = .complete
                    trial.value = value
                    trial.metrics = metrics
                case .failure where Self.hadNothingLeft(trial, payload: payload):
                    // A resumed attempt whose checkpoint was already at its end: the trial
                    // completes with what it reported before.
                    trial.state = .complete
                case .failure(let error):
                    trial.state = .failed
                    trial.error = error.message
                    trial.metrics = payload?.object?["metrics"]
                    attempt.state = .failed
                    attempt.error = error.message
                }
                try store.recordResult(trial: trial, attempt: attempt)
            case .failed:
                let message = payload?.object?["error"]?.argument ?? "attempt failed"
                let attempt = AttemptRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                            worker: trial.worker, state: .failed, error: message,
                                            startedAt: trial.startedAt ?? now, finishedAt: now)
                trial.attempts = max(trial.attempts, Int(ref.attempt))
                trial.error = message
                let quarantined = payload?.object?["quarantined"] == .bool(true)
                if !quarantined && trial.attempts < 1 + spec.trial.maxRetries {
                    // Retried: the same job id is submitted again as the next attempt.
                    try store.recordAttempt(attempt)
                    try store.updateTrial(trial)
                    drivers[studyID]?.update(trial)
                    acknowledge(update)
                    if let study = try store.study(studyID) { submit([trial], of: study, resync: false) }
                    return
                }
                trial.state = .failed
                trial.finishedAt = now
                trial.metrics = payload?.object?["metrics"]
                trial.error = try everyAttemptsError(studyID: studyID, number: number, last: attempt)
                try store.recordResult(trial: trial, attempt: attempt)
            }
        } catch {
            logger.error("cannot store an update; it stays unacknowledged", metadata: ["trial.id": "\(ref.job)", "error": "\(error)"])
            return
        }
        drivers[studyID]?.update(trial)
        acknowledge(update)
        advance(studyID)
    }

    /// "attempt 1: exit code 3; attempt 2: lost: …; attempt 3: …": a failed trial's whole story.
    func everyAttemptsError(studyID: String, number: Int, last: AttemptRecord) throws -> String {
        var errors: [Int: String] = [:]
        for attempt in try store.attempts(study: studyID, trial: number) where attempt.state != .complete {
            errors[attempt.attempt] = attempt.error ?? attempt.state.rawValue
        }
        errors[last.attempt] = last.error ?? "failed"
        guard errors.count > 1 else { return errors[last.attempt]! }
        return errors.keys.sorted().map { "attempt \($0): \(errors[$0]!)" }.joined(separator: "; ")
    }

    /// Whether a FINAL without the metric ends an attempt that resumed a trial with a value and
    /// reported nothing (it found its checkpoint at its budget or its last epoch).
    static func hadNothingLeft(_ trial: TrialRecord, payload: JSONValue?) -> Bool {
        trial.attempts > 1 && trial.value != nil && payload?.object?["reports"]?.double == 0
    }

    /// Whether an update of `attempt` ends an attempt the scheduler already stopped: the trial
    /// is paused, or waits for the next attempt the scheduler asked for.
    static func isSuperseded(_ trial: TrialRecord, attempt: Int) -> Bool {
        trial.state == .paused || (trial.state == .waiting && trial.attempts > 0 && attempt <= trial.attempts)
    }

    /// A CHECKPOINT of the running attempt: once the trial has a checkpoint of its own, a later
    /// attempt restores that one, not the PBT donor's.
    func checkpointed(_ studyID: String, trial number: Int, attempt: Int) {
        guard var trial = drivers[studyID]?.trial(number), trial.restoreFrom != nil,
              trial.state == .running, attempt == trial.attempts else { return }
        trial.restoreFrom = nil
        do {
            try store.updateTrial(trial)
            drivers[studyID]?.update(trial)
        } catch {
            logger.warning("cannot store a trial's checkpoint", metadata: ["trial.id": "\(trial.jobID)", "error": "\(error)"])
        }
    }

    /// Carries out a scheduler's verdict on a running attempt: the attempt is cancelled at the
    /// broker (unless it already ended), the trial stored as the verdict says (pruned, paused,
    /// or waiting to restart from a donor's checkpoint, then submitted again).
    /// Returns whether the verdict was stored.
    @discardableResult
    func carry(out verdict: SchedulerVerdict, attempt ref: AttemptRef, studyID: String, now: Double, cancel: Bool = true) -> Bool {
        guard drivers[studyID] != nil, let study = try? store.study(studyID) else { return false }
        let trial = verdict.trial
        if cancel {
            do {
                _ = try client.cancel([trial.jobID], reason: trial.note)
            } catch {
                logger.warning("cannot cancel a stopped trial's attempt", metadata: ["trial.id": "\(trial.jobID)", "error": "\(error)"])
            }
        }
        // The attempt ran as far as the scheduler let it: complete, whatever became of the trial.
        let attempt = AttemptRecord(study: studyID, trial: trial.number, attempt: Int(ref.attempt), lease: ref.lease,
                                    worker: trial.worker, state: .complete, error: nil,
                                    startedAt: trial.startedAt ?? now, finishedAt: now)
        do {
            switch verdict.action {
            case .prune:
                try store.recordResult(trial: trial, attempt: attempt)
            case .pause, .restart:
                try store.recordAttempt(attempt)
                try store.updateTrial(trial)
            }
        } catch {
            logger.error("cannot store the scheduler's decision", metadata: ["trial.id": "\(trial.jobID)", "error": "\(error)"])
            return false
        }
        logger.info("scheduler decision", metadata: ["trial.id": "\(trial.jobID)", "trial.note": "\(trial.note ?? "")"])
        drivers[studyID]?.update(trial)
        if verdict.action == .restart { submit([trial], of: study, resync: false) }
        advance(studyID)
        return true
    }

    /// Acknowledges an update once the turn that stored it commits.
    func acknowledge(_ update: Update) {
        post(.acknowledge(update))
    }
}
