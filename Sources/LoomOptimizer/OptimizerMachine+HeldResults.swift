import LoomModel
import LoomWire

/// A FINAL that overtook the CHECKPOINT of its attempt's last line.
///
/// A worker sends a line's CHECKPOINT after its REPORT and the attempt's FINAL after that
/// CHECKPOINT; but after an optimizer restart the broker hands the FINAL it holds to the
/// re-syncing client at once, while the worker resends the updates before it only on its next
/// resend. Acknowledged first, the FINAL made the worker forget that CHECKPOINT (and the REPORT
/// before it) unsent: the trial's last checkpoint was never stored (seen in
/// `SchedulerStudies.aKilledOptimizerRebuildsItsPromotionsAndNoTrialStartsOver`). So a FINAL
/// whose last line announced a checkpoint (`metrics.checkpoint` true) waits, unacknowledged, until
/// the update just before it (seq − 1: that CHECKPOINT) is stored — the worker keeps resending it
/// while its FINAL is unacknowledged — at most `Settings.overtakenCheckpointWait` (a worker that
/// crashed took the CHECKPOINT with it, and the broker still holds the FINAL).
struct OvertakingResult: Sendable, Equatable {
    var update: Update
    var since: ContinuousClock.Instant
    /// The wait is over: the next time the FINAL is handled it goes through.
    var released = false
}

extension OptimizerMachine {
    /// Whether `update` (a FINAL of `key`'s attempt) waits for the CHECKPOINT before it.
    mutating func holdsOvertakingResult(_ update: Update, payload: JSONValue?, of key: TrialKey, now: Now) -> Bool {
        let id = UploadID(job: update.attempt.job, lease: update.attempt.lease)
        if let held = overtaking[id], held.released {
            overtaking[id] = nil
            return false
        }
        guard update.kind == .final, update.seq > 1, update.seq != .max,
              payload?.object?["metrics"]?.object?["checkpoint"] == .bool(true),
              reportKeys[key]?.contains(ReportKey(lease: update.attempt.lease, seq: update.seq - 1)) != true else { return false }
        if overtaking[id] == nil {
            overtaking[id] = OvertakingResult(update: update, since: now.instant)
            out.notes.append(.info("a result waits for the checkpoint its last line announced", [
                "trial.id": id.job, "update.seq": "\(update.seq)"]))
        }
        return true
    }

    /// An update of `ref` was stored: a FINAL waiting for it goes through.
    mutating func predecessorStored(_ ref: AttemptRef, seq: UInt64, now: Now) {
        let id = UploadID(job: ref.job, lease: ref.lease)
        guard let held = overtaking[id], !held.released, held.update.seq == seq + 1 else { return }
        overtaking[id]!.released = true
        updated(held.update, now: now)
    }

    /// Releases the FINALs that waited `overtakenCheckpointWait`.
    mutating func expireOvertaking(now: Now) {
        for id in overtaking.keys.sorted() {
            guard let held = overtaking[id], !held.released, now.instant >= held.since + settings.overtakenCheckpointWait else { continue }
            out.notes.append(.warning("a result is recorded without the checkpoint its last line announced, which did not arrive", [
                "trial.id": id.job, "update.seq": "\(held.update.seq)", "result.waited": "\(settings.overtakenCheckpointWait)"]))
            overtaking[id]!.released = true
            updated(held.update, now: now)
        }
    }

    /// When the oldest wait runs out.
    var overtakingDeadline: ContinuousClock.Instant? {
        overtaking.values.filter { !$0.released }.map { $0.since + settings.overtakenCheckpointWait }.min()
    }

    /// The trial ended another way: its waiting FINALs are acknowledged (nothing left to record).
    mutating func dropOvertaking(_ key: TrialKey) {
        guard !overtaking.isEmpty else { return }
        for id in overtaking.keys.sorted() where Self.parseJobID(id.job).map({ $0.study == key.study && $0.number == key.number }) == true {
            if let held = overtaking.removeValue(forKey: id), !held.released { acknowledge(held.update) }
        }
    }
}
