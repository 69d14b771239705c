import LoomModel
import LoomWire

/// The checkpoint a paused attempt announced and the optimizer has not stored yet.
///
/// A trial prints a metric line with `"checkpoint": true`; its worker sends the REPORT at once and
/// the CHECKPOINT (a higher seq) once the snapshot is taken. A scheduler that pauses the trial on
/// that REPORT must not let the trial resume before the CHECKPOINT is stored: the resumed attempt
/// restores the newest *stored* checkpoint, so it would redo the work since the one before.
struct AwaitedCheckpoint: Sendable, Equatable {
    /// The paused attempt.
    var attempt: AttemptRef
    /// Its newest REPORT that announced a checkpoint: the CHECKPOINT has a higher seq.
    var announcedSeq: UInt64
    /// When the wait began (the pause, or `start(now:)` after a restore: nil until then).
    var since: ContinuousClock.Instant?
    /// The attempt's result, held unacknowledged: the worker keeps resending the CHECKPOINT only
    /// while its attempt's result is unacknowledged (an acknowledged result makes it forget both).
    var result: Update?
    /// The scheduler promoted the trial meanwhile: it is stored `waiting`, its SUBMIT waits.
    var promoted = false
}

/// Pausing: the CANCEL_JOBS of a paused attempt whose announced checkpoint is not stored, and the
/// promotion of that trial, wait until the CHECKPOINT is stored, its attempt is known to have
/// ended without it, or `Settings.pausedCheckpointWait` has passed.
///
/// **Why the cancel waits.** A CANCEL_JOBS makes the broker forget the job and answer the
/// attempt's later updates itself (`stale`), and the client forget it: a CHECKPOINT still on its
/// way was acknowledged and lost, and the promoted attempt resumed from the checkpoint before
/// (`SchedulerStudies.aKilledOptimizerRebuildsItsPromotionsAndNoTrialStartsOver`). A paused
/// attempt of a budget-style job exits by itself at its budget; one that does not is cancelled
/// once the wait ends.
/// **Restart.** `init(settings:restoring:)` finds the waits again from the stored reports: a
/// paused trial (or one promoted and not yet submitted) whose paused attempt's newest REPORT
/// announced a checkpoint, with no CHECKPOINT report of that attempt after it. `start(now:)`
/// follows those jobs (`OptimizerMessage.follow`: the worker's resend is delivered although this
/// run did not submit them) instead of submitting them, and starts their clocks.
/// **Bound.** A checkpoint that never comes (its worker lost it, a broker acknowledged it as
/// stale) holds the trial at most `pausedCheckpointWait` after the pause or the restart (not while
/// its upload runs: uploads fail or finish by themselves); then the trial goes on from the newest
/// stored checkpoint, with a warning.
extension OptimizerMachine {
    /// The scheduler paused `key` on the REPORT `seq` of `ref`, which announced a checkpoint: the
    /// CANCEL_JOBS waits for the CHECKPOINT (see the type's comment).
    /// Returns false (cancel at once) when the update after it is stored already: the CHECKPOINT
    /// overtook its REPORT (resends after a restart may come in any order of arrival).
    mutating func awaitCheckpoint(of key: TrialKey, attempt ref: AttemptRef, announcedSeq seq: UInt64, now: Now) -> Bool {
        guard reportKeys[key]?.contains(ReportKey(lease: ref.lease, seq: seq + 1)) != true else { return false }
        awaited[key] = AwaitedCheckpoint(attempt: ref, announcedSeq: seq, since: now.instant)
        return true
    }

    /// Rebuilds the waits of a restored study (see **Restart**).
    mutating func restoreAwaited(_ trials: [TrialRecord], reports: [ReportRecord], attemptRows: [AttemptRecord]) {
        guard settings.keepsCheckpoints else { return }
        /// The newest attempt row of each trial.
        var rows: [TrialKey: AttemptRecord] = [:]
        for row in attemptRows {
            let key = TrialKey(study: row.study, number: row.trial)
            if let known = rows[key], known.attempt >= row.attempt { continue }
            rows[key] = row
        }
        var byTrial: [TrialKey: [ReportRecord]] = [:]
        for report in reports { byTrial[TrialKey(study: report.study, number: report.trial), default: []].append(report) }
        for trial in trials where trial.restoreFrom == nil && trial.attempts > 0 {
            let key = TrialKey(study: trial.study, number: trial.number)
            guard let row = rows[key], row.attempt == trial.attempts, row.state == .complete,
                  trial.state == .paused || trial.state == .waiting else { continue }
            let mine = (byTrial[key] ?? []).filter { $0.lease == row.lease }
            guard let announced = mine.filter({ $0.kind == "report" && $0.metrics.object?["checkpoint"] == .bool(true) }).map(\.seq).max(),
                  !mine.contains(where: { $0.kind == "checkpoint" && $0.seq > announced }) else { continue }
            awaited[key] = AwaitedCheckpoint(attempt: AttemptRef(job: trial.jobID, attempt: UInt32(row.attempt), lease: row.lease),
                                             announcedSeq: announced, since: nil, promoted: trial.state == .waiting)
        }
    }

    /// `start(now:)`: the restored waits' clocks start, and their jobs are followed.
    mutating func startAwaited(now: Now) {
        guard !awaited.isEmpty else { return }
        for key in awaited.keys.sorted() {
            awaited[key]!.since = now.instant
            out.notes.append(.info("a paused trial waits for the checkpoint it announced", [
                "trial.id": awaited[key]!.attempt.job, "trial.attempt": "\(awaited[key]!.attempt.attempt)",
                "checkpoint.announced_seq": "\(awaited[key]!.announcedSeq)"]))
        }
        out.messages.append(.follow(jobs: awaited.keys.sorted().map { awaited[$0]!.attempt.job }))
    }

    /// Whether `key`'s promotion waits: its SUBMIT is kept until the wait ends.
    mutating func holdsPromotion(_ key: TrialKey) -> Bool {
        guard awaited[key] != nil else { return false }
        awaited[key]!.promoted = true
        out.notes.append(.info("promotion waits for the paused attempt's checkpoint", ["trial.id": awaited[key]!.attempt.job]))
        return true
    }

    /// A CHECKPOINT of `update`'s attempt was stored, or recorded as not kept (refused, its upload
    /// failed with the result waiting): the wait for it is over.
    mutating func checkpointSettled(_ key: TrialKey, _ update: Update, now: Now) {
        guard let wait = awaited[key], wait.attempt.lease == update.attempt.lease, update.seq > wait.announcedSeq else { return }
        endWait(key, now: now)
    }

    /// A terminal update of the awaited attempt: held while the CHECKPOINT is still owed (true),
    /// or false when there is no wait for it.
    mutating func holdsResult(_ update: Update, of key: TrialKey, now: Now) -> Bool {
        guard awaited[key]?.attempt.lease == update.attempt.lease else { return false }
        // An upload of the attempt runs: the result waits for it as any result does.
        if uploads.holdBack(update, now: now.instant) { return true }
        awaited[key]!.result = update
        return true
    }

    /// ENDED of the awaited attempt (lost, stalled): its checkpoint will not come.
    mutating func awaitedAttemptEnded(_ ref: AttemptRef, of key: TrialKey, reason: String, now: Now) {
        guard awaited[key]?.attempt.lease == ref.lease else { return }
        out.notes.append(.warning("the paused attempt ended without its announced checkpoint; the trial goes on from the newest stored one",
                                  ["trial.id": ref.job, "trial.attempt": "\(ref.attempt)", "attempt.ended": reason]))
        endWait(key, now: now)
    }

    /// Ends the waits older than `pausedCheckpointWait` (none whose upload runs).
    mutating func expireAwaited(now: Now) {
        for key in awaited.keys.sorted() {
            guard let wait = awaited[key], let since = wait.since, now.instant >= since + settings.pausedCheckpointWait,
                  uploads.uploads[UploadID(job: wait.attempt.job, lease: wait.attempt.lease)] == nil else { continue }
            out.notes.append(.warning("the paused attempt's announced checkpoint did not arrive; the trial goes on from the newest stored one", [
                "trial.id": wait.attempt.job, "trial.attempt": "\(wait.attempt.attempt)",
                "checkpoint.announced_seq": "\(wait.announcedSeq)", "checkpoint.waited": "\(settings.pausedCheckpointWait)"]))
            endWait(key, now: now)
        }
    }

    /// When the oldest wait runs out.
    var awaitedDeadline: ContinuousClock.Instant? {
        awaited.values.compactMap { $0.since.map { $0 + settings.pausedCheckpointWait } }.min()
    }

    /// The wait is over: the paused attempt is cancelled (the cancel the pause deferred; a no-op
    /// for a job that ended), its held result acknowledged, a held promotion submitted.
    private mutating func endWait(_ key: TrialKey, now: Now) {
        guard let wait = awaited.removeValue(forKey: key) else { return }
        let trial = drivers[key.study]?.trial(key.number)
        out.messages.append(.cancel(jobs: [wait.attempt.job], reason: trial?.note))
        if let result = wait.result { acknowledge(result) }
        if wait.promoted, let trial, trial.state == .waiting, let study = studies[key.study] {
            submit([trial], of: study, resync: false)
        }
        advance(key.study, now: now)
    }

    /// A trial that ended (or a study that did) drops its wait: the attempt is cancelled and its
    /// held result acknowledged.
    mutating func dropWait(_ key: TrialKey) {
        guard let wait = awaited.removeValue(forKey: key) else { return }
        out.messages.append(.cancel(jobs: [wait.attempt.job], reason: nil))
        if let result = wait.result { acknowledge(result) }
    }
}
