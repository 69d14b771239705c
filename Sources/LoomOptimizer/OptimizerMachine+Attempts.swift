import LoomModel
import LoomWire

/// STARTED and ENDED: the attempt rows of a trial.
///
/// **Fencing.** A new attempt does not end the ones before it: the broker fences an attempt it
/// gave up on (its updates are answered `stale`, never delivered), but a restarted broker adopts
/// what a re-registering worker still holds, so an earlier attempt's result may still arrive
/// after a later attempt started (Docs/reliability.md). An earlier attempt stays `running` until
/// what really happened arrives: its ENDED (`lost`, `stalled`, …), its own result, or the trial's
/// result from another attempt (then it is closed `lost`: no result came from it).
extension OptimizerMachine {
    /// STARTED: the attempt's row, and the trial running.
    mutating func started(_ ref: AttemptRef, worker: String, backup: Bool = false, now: Now) {
        guard let (studyID, number) = Self.parseJobID(ref.job), var trial = drivers[studyID]?.trial(number),
              !trial.state.isFinished else { return }
        let key = TrialKey(study: studyID, number: number)
        let n = Int(ref.attempt)
        trial.state = .running
        trial.attempts = max(trial.attempts, n)
        trial.worker = worker
        if trial.startedAt == nil { trial.startedAt = now.wall }
        if let known = attempts[key]?[n], known.lease == ref.lease, known.state == .running {
            // The same attempt announced again (a re-synced job): its row stands.
        } else if attempts[key]?[n]?.state.isFinished != true {
            record(AttemptRecord(study: studyID, trial: number, attempt: n, lease: ref.lease, worker: worker, startedAt: now.wall))
        }
        out.writes.append(.updateTrial(trial))
        drivers[studyID]?.update(trial)
    }

    /// ENDED: an attempt ended without a result of its own (lost, stalled, superseded by its
    /// other copy, or a failed copy); its row says so. The trial itself goes on (the broker
    /// retries it, or its other copy runs): its state comes with the next STARTED or result.
    mutating func ended(_ ref: AttemptRef, reason: String, detail: String, now: Now) {
        guard let (studyID, number) = Self.parseJobID(ref.job), drivers[studyID] != nil else { return }
        let key = TrialKey(study: studyID, number: number)
        // A finished trial's attempts were all closed with its result.
        guard attempts[key] != nil else { return }
        awaitedAttemptEnded(ref, of: key, reason: reason, now: now)
        let n = Int(ref.attempt)
        // An attempt that already ended here (its result, or a scheduler's decision) keeps its row.
        if let stored = attempts[key]?[n], stored.state.isFinished { return }
        var attempt = attempts[key]?[n] ?? AttemptRecord(study: studyID, trial: number, attempt: n, lease: ref.lease, startedAt: now.wall)
        // Every `EndedReason` names the attempt state it leads to.
        attempt.state = AttemptState(rawValue: reason) ?? .lost
        attempt.error = detail.isEmpty ? reason : detail.hasPrefix(reason) ? detail : "\(reason): \(detail)"
        attempt.finishedAt = now.wall
        record(attempt)
    }

    /// Writes an attempt row of an unfinished trial and mirrors it.
    mutating func record(_ attempt: AttemptRecord) {
        let key = TrialKey(study: attempt.study, number: attempt.trial)
        if attempts[key] != nil { attempts[key]![attempt.attempt] = attempt }
        out.writes.append(.recordAttempt(attempt))
    }

    /// The row of `ref`'s attempt as it ends now in `state`: the one STARTED wrote, else a new one.
    func closing(_ ref: AttemptRef, of trial: TrialRecord, state: AttemptState, error: String? = nil, now: Now) -> AttemptRecord {
        let key = TrialKey(study: trial.study, number: trial.number)
        var attempt = attempts[key]?[Int(ref.attempt)]
            ?? AttemptRecord(study: trial.study, trial: trial.number, attempt: Int(ref.attempt), lease: ref.lease,
                             worker: trial.worker, startedAt: trial.startedAt ?? now.wall)
        attempt.lease = ref.lease
        attempt.state = state
        attempt.error = error
        attempt.finishedAt = now.wall
        return attempt
    }

    /// Records a trial's result with the attempt that produced it (nil: none, e.g. a study's end
    /// or `tell`). Earlier attempts still running are closed `lost` first (no result came from
    /// them); the store closes later ones `cancelled` (the broker stops them).
    mutating func recordResult(_ trial: TrialRecord, attempt: AttemptRecord?, now: Now) {
        let key = TrialKey(study: trial.study, number: trial.number)
        if let attempt {
            for number in (attempts[key] ?? [:]).keys.sorted() where number < attempt.attempt {
                guard var earlier = attempts[key]?[number], earlier.state == .running else { continue }
                earlier.state = .lost
                earlier.error = "lost: no result from worker \(earlier.worker ?? "?"); attempt \(attempt.attempt) ended the trial"
                earlier.finishedAt = now.wall
                out.writes.append(.recordAttempt(earlier))
            }
        }
        out.writes.append(.recordResult(trial, attempt))
        forget(key)
        drivers[trial.study]?.update(trial)
    }
}
