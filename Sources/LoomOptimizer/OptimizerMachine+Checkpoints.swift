import LoomCheckpoint
import LoomModel
import LoomWire

/// Checkpoints: CHECKPOINT updates become stored checkpoints (uploads pulled from the worker by
/// `CheckpointUploads`), blob writes are `DiskAction`s whose outcomes come back through
/// `diskDone`, and workers' FETCHes are left to the service (`OptimizerActions.fetches`: read-only, answered
/// from the committed index and blob directory by `CheckpointServer`).
extension OptimizerMachine {
    /// What the service's blob writes came to.
    public mutating func diskDone(_ outcomes: [DiskOutcome], now: Now) -> OptimizerActions {
        for outcome in outcomes {
            if case .failed(let upload, let reason) = outcome {
                out.notes.append(.warning("checkpoint blob write failed", ["trial.id": upload.job, "error": reason]))
            }
            checkpointProgress(uploads.diskDone(outcome, now: now.instant), now: now)
        }
        return take()
    }

    /// The store pruned checkpoints and reports these blobs unreferenced (`keepCheckpoint`'s
    /// answer): those no upload in flight needs are deleted.
    public mutating func unreferenced(_ blobs: [String]) -> OptimizerActions {
        let garbage = uploads.unreferenced(blobs)
        if !garbage.isEmpty { out.disk.append(.deleteBlobs(garbage)) }
        return take()
    }

    /// A FETCH (a worker restoring) or a CHUNK (an upload's answer) from a worker.
    mutating func transferArrived(_ transfer: Transfer, now: Now) {
        switch transfer.kind {
        case .fetch: out.fetches.append(transfer)
        case .chunk: checkpointProgress(uploads.received(transfer, now: now.instant), now: now)
        }
    }

    /// Carries out what the uploads decided.
    mutating func checkpointProgress(_ progress: [CheckpointUploads.Progress], now: Now) {
        for step in progress {
            switch step {
            case .send(let transfer):
                out.messages.append(.transfer(transfer))
            case .disk(let action):
                out.disk.append(action)
            case .recordReport(let update, let metrics):
                if let error = metrics.object?["checkpoint_error"] {
                    refuse("checkpoint", peer: workerName(update.attempt), message: "CHECKPOINT",
                           detail: "\(update.attempt) seq \(update.seq): \(error.argument)", now: now)
                }
                storeCheckpointReport(update, metrics: metrics, checkpoint: nil, now: now)
            case .completed(let update, let manifest):
                storeCheckpointReport(update, metrics: Self.metrics(of: update), checkpoint: manifest, now: now)
            case .failed(let update, let reason):
                // Left unacknowledged: the worker sends the update again, which starts over.
                out.notes.append(.warning("checkpoint upload failed", ["trial.id": update.attempt.job, "checkpoint.seq": "\(update.seq)",
                                                                        "error": reason]))
            case .abandoned(let update, let reason):
                // Its attempt's result waits and no resend would come before it: the reason is
                // stored with the checkpoint's metrics, which are acknowledged; the result follows.
                out.notes.append(.warning("checkpoint upload given up", ["trial.id": update.attempt.job, "checkpoint.seq": "\(update.seq)",
                                                                          "error": reason]))
                var metrics = Self.metrics(of: update).object ?? [:]
                metrics["checkpoint_error"] = .string("the upload failed (\(reason)): not kept; the attempt's result was recorded without it")
                storeCheckpointReport(update, metrics: .object(metrics), checkpoint: nil, now: now)
            case .superseded(let update):
                // Its metrics are stored as a report before the ACK: acknowledged means stored
                // (S2; acknowledging it bare lost them, simulation seed 1). Its row says the
                // checkpoint was not kept: a `checkpoint` row without `checkpoint_error` is one a
                // retry may restore (the chaos bench's S6 read these rows as stored checkpoints).
                var metrics = Self.metrics(of: update).object ?? [:]
                metrics["checkpoint_error"] = .string("superseded by a newer checkpoint while it waited for the upload in flight: not kept")
                storeCheckpointReport(update, metrics: .object(metrics), checkpoint: nil, settles: false, now: now)
            case .release(let update):
                updated(update, now: now)
            }
        }
    }

    /// Writes a CHECKPOINT update's report (and its checkpoint, when one was uploaded), then
    /// acknowledges it.
    /// `settles`: this is the last word on the checkpoint (stored, refused, or given up), so a
    /// paused trial waiting for it may go on; a superseded one is not (a newer one follows).
    private mutating func storeCheckpointReport(_ update: Update, metrics: JSONValue, checkpoint manifest: CheckpointManifest?,
                                                settles: Bool = true, now: Now) {
        guard let (studyID, number) = Self.parseJobID(update.attempt.job), studies[studyID] != nil else { return acknowledge(update) }
        let ref = update.attempt
        let report = ReportRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease, seq: update.seq,
                                  kind: "checkpoint", metrics: metrics, time: now.wall)
        if let manifest {
            out.writes.append(.keepCheckpoint(CheckpointRecord(study: studyID, trial: number, attempt: Int(ref.attempt), lease: ref.lease,
                                                               seq: update.seq, files: manifest.files, createdAt: now.wall,
                                                               writer: update.writer),
                                              report: report, keep: settings.keep))
        } else {
            out.writes.append(.recordReport(report))
        }
        let key = TrialKey(study: studyID, number: number)
        if attempts[key] != nil {
            reportKeys[key, default: []].insert(ReportKey(lease: ref.lease, seq: update.seq))
            if let spec = drivers[studyID]?.spec { noteMetric(metrics, kind: "checkpoint", of: key, attempt: Int(ref.attempt), seq: update.seq, spec: spec) }
        }
        acknowledge(update)
        if settles { checkpointSettled(key, update, now: now) }
        if attempts[key] != nil { predecessorStored(ref, seq: update.seq, now: now) }
    }

    /// The trial's metrics of a CHECKPOINT update, without the manifest.
    static func metrics(of update: Update) -> JSONValue {
        guard var object = (try? JSONValue(parsing: update.payload))?.object else { return .null }
        object[CheckpointManifest.payloadKey] = nil
        return .object(object)
    }
}
