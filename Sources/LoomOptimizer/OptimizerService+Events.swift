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
        case .started(let ref, let worker): started(ref, worker: worker)
        case .update(let update): updated(update)
        case .transfer(let transfer): transferArrived(transfer)
        case .request(let request, let from, let body): answer(request, from: from, body: body)
        case .connected(let info, let resynced):
            logger.info("connected to broker", metadata: ["broker.id": "\(info.broker)", "optimizer.resynced": "\(resynced)"])
            apply(vault.retryAll(now: .now))
        case .error(let text):
            logger.warning("broker error", metadata: ["error": "\(text)"])
        case .submitted, .cancelled, .reply:
            break
        }
    }

    func started(_ ref: AttemptRef, worker: String) {
        guard let (studyID, number) = Self.parseJobID(ref.job), var driver = drivers[studyID],
              var trial = driver.trial(number), !trial.state.isFinished else { return }
        let now = wallClock()
        trial.state = .running
        trial.attempts = max(trial.attempts, Int(ref.attempt))
        trial.worker = worker
        if trial.startedAt == nil { trial.startedAt = now }
        do {
            // Earlier attempts still marked running ended without a result reaching us: the
            // broker requeued them when their worker was lost (the feed says which and why).
            for var earlier in try store.attempts(study: studyID, trial: number)
            where earlier.attempt < Int(ref.attempt) && earlier.state == .running {
                earlier.state = .lost
                earlier.error = "lost: no result from worker \(earlier.worker ?? "?"); the broker started attempt \(ref.attempt)"
                earlier.finishedAt = now
                try store.recordAttempt(earlier)
            }
            try store.recordAttempt(AttemptRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                                  worker: worker, startedAt: now))
            try store.updateTrial(trial)
            driver.update(trial)
            drivers[studyID] = driver
        } catch {
            logger.error("cannot store an attempt's start", metadata: ["trial.id": "\(ref.job)", "error": "\(error)"])
        }
    }

    func updated(_ update: Update) {
        let ref = update.attempt
        guard let (studyID, number) = Self.parseJobID(ref.job), var driver = drivers[studyID],
              var trial = driver.trial(number), !trial.state.isFinished else {
            // A study that ended (or a trial already finished): nothing to record.
            acknowledge(update)
            return
        }
        let payload = try? JSONDecoder().decode(JSONValue.self, from: Data(update.payload))
        let now = wallClock()
        if update.kind == .checkpoint {
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
                return
            case .final:
                var attempt = AttemptRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                            worker: trial.worker, state: .complete, startedAt: trial.startedAt ?? now, finishedAt: now)
                trial.attempts = max(trial.attempts, Int(ref.attempt))
                trial.finishedAt = now
                switch driver.value(fromFinal: payload) {
                case .success(let (value, metrics)):
                    trial.state = .complete
                    trial.value = value
                    trial.metrics = metrics
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
                if !quarantined && trial.attempts < 1 + driver.spec.trial.maxRetries {
                    // Retried: the same job id is submitted again as the next attempt.
                    try store.recordAttempt(attempt)
                    try store.updateTrial(trial)
                    driver.update(trial)
                    drivers[studyID] = driver
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
        driver.update(trial)
        drivers[studyID] = driver
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

    func acknowledge(_ update: Update) {
        do {
            try client.acknowledge(update)
        } catch {
            logger.warning("cannot acknowledge", metadata: ["trial.id": "\(update.attempt.job)", "error": "\(error)"])
        }
    }
}
