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
                if trial.attempts < 1 + driver.spec.trial.maxRetries {
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

    func acknowledge(_ update: Update) {
        do {
            try client.acknowledge(update)
        } catch {
            logger.warning("cannot acknowledge", metadata: ["trial.id": "\(update.attempt.job)", "error": "\(error)"])
        }
    }
}
