import Foundation
import LoomCheckpoint
import LoomClient
import LoomStore
import LoomWire
import Logging

/// Checkpoints: CHECKPOINT updates become stored checkpoints (uploads pulled from the worker),
/// workers' FETCHes are answered from the store, and old checkpoints are pruned.
extension OptimizerService {
    /// The store's checkpoint index, when it has one.
    var checkpointIndex: (any CheckpointIndex)? { store as? any CheckpointIndex }

    /// A CHECKPOINT update about a trial that is still live.
    func checkpointArrived(_ update: Update, payload: JSONValue?) {
        apply(vault.arrived(update, payload: payload, now: .now))
    }

    /// A FETCH or CHUNK from a worker.
    func transferArrived(_ transfer: Transfer) {
        switch transfer.kind {
        case .fetch: sendTransfer(vault.serve(transfer, index: checkpointIndex))
        case .chunk: apply(vault.received(transfer, now: .now))
        }
    }

    /// Re-asks what went unanswered; called every loop turn.
    func expireTransfers() {
        apply(vault.expire(now: .now))
    }

    func apply(_ progress: [CheckpointVault.Progress]) {
        for step in progress {
            switch step {
            case .send(let transfer): sendTransfer(transfer)
            case .recordReport(let update, let metrics):
                guard let (studyID, number) = Self.parseJobID(update.attempt.job) else { continue }
                recordCheckpointReport(update, studyID: studyID, number: number, metrics: metrics)
            case .completed(let update, let manifest):
                guard let (studyID, number) = Self.parseJobID(update.attempt.job) else { continue }
                keep(update, manifest: manifest, studyID: studyID, number: number)
            case .failed:
                // Left unacknowledged: the worker sends the update again, which starts over.
                break
            case .superseded(let update): acknowledge(update)
            case .release(let update): updated(update)
            }
        }
    }

    /// Indexes a checkpoint whose blobs are all here, records its report and prunes (one
    /// transaction), deletes the blobs that became garbage, acknowledges.
    private func keep(_ update: Update, manifest: CheckpointManifest, studyID: String, number: Int) {
        guard let index = checkpointIndex else {
            return recordCheckpointReport(update, studyID: studyID, number: number, metrics: metricsOf(update))
        }
        let now = wallClock()
        do {
            let garbage = try index.keepCheckpoint(
                CheckpointRecord(study: studyID, trial: number, attempt: Int(update.attempt.attempt), lease: update.attempt.lease,
                                 seq: update.seq, files: manifest.files, createdAt: now),
                report: ReportRecord(study: studyID, trial: number, attempt: Int(update.attempt.attempt), lease: update.attempt.lease,
                                     seq: update.seq, kind: "checkpoint", metrics: metricsOf(update), time: now),
                keep: config.checkpoints.keep)
            let vault = self.vault
            whenCommitted { vault.deleteBlobs(garbage) }
        } catch {
            logger.error("cannot index a checkpoint; it stays unacknowledged", metadata: ["trial.id": "\(update.attempt.job)", "error": "\(error)"])
            return
        }
        acknowledge(update)
    }

    /// The trial's metrics of a CHECKPOINT update, without the manifest.
    private func metricsOf(_ update: Update) -> JSONValue {
        guard var object = (try? JSONValue(parsing: update.payload))?.object else { return .null }
        object[CheckpointManifest.payloadKey] = nil
        return .object(object)
    }

    private func recordCheckpointReport(_ update: Update, studyID: String, number: Int, metrics: JSONValue) {
        do {
            try store.recordReport(ReportRecord(study: studyID, trial: number, attempt: Int(update.attempt.attempt),
                                                lease: update.attempt.lease, seq: update.seq, kind: "checkpoint",
                                                metrics: metrics, time: wallClock()))
        } catch {
            logger.error("cannot store a checkpoint report; it stays unacknowledged", metadata: ["trial.id": "\(update.attempt.job)", "error": "\(error)"])
            return
        }
        acknowledge(update)
    }

    private func sendTransfer(_ transfer: Transfer) {
        do {
            try client.transfer(transfer)
        } catch {
            logger.warning("cannot send a checkpoint transfer", metadata: ["trial.id": "\(transfer.job)", "error": "\(error)"])
        }
    }
}
