import Foundation
import LoomCheckpoint
import LoomModel
import LoomWire

/// The optimizer's checkpoint uploads as a pure sub-machine of `OptimizerMachine`: which blobs
/// the store holds, and a `ChunkTransfer` per upload pulling the missing ones from the worker.
/// Blob files are written by the service (`DiskAction`), whose outcomes come back as events.
///
/// **Uploads.** A CHECKPOINT update whose manifest names blobs the store lacks starts an upload:
/// the worker is asked for those blobs only (deduplication), a window of chunks at a time, and
/// the update is acknowledged only once every blob is committed and the checkpoint indexed. One
/// upload runs per attempt and at most one more waits behind it: a newer checkpoint replaces the
/// waiting one (whose update is then kept as a report only and acknowledged), never the one in flight,
/// so a steady stream of checkpoints still gets one stored after another. A terminal update of an
/// attempt whose upload runs waits for it, so a trial's last checkpoint is kept before its result
/// is recorded and the broker forgets the attempt.
/// **Held results.** A result never waits longer than `settings.resultHold`: an upload whose result
/// has waited that long is given up (reconnects ask again without counting a try, so a flapping
/// link alone would never fail it). An upload that fails or is given up while its attempt's result
/// waits is recorded as a report with `checkpoint_error` saying why, and acknowledged: the attempt
/// has ended, so no resend would bring the checkpoint before the result. Then the result is handled.
/// **Blobs.** `blobs` is what the directory holds: filled from its listing on restore, grown by
/// each committed blob, shrunk by each deletion the machine orders. A blob an upload in flight
/// needs is never deleted.
/// **Partials.** Named `upload-<n>-<sha256>`, `n` counting uploads from 1 in this run (the service
/// removes every partial of an earlier run before it starts).
struct CheckpointUploads: Sendable {
    /// What the machine does next.
    enum Progress: Equatable, Sendable {
        case send(Transfer)
        case disk(DiskAction)
        /// Nothing to keep (no manifest, no blob directory, too big, malformed or out of range
        /// per `CheckpointManifest.validate()`): record the update as a report with these metrics
        /// (with `checkpoint_error` when refused) and acknowledge it.
        case recordReport(Update, JSONValue)
        /// Every blob of `update`'s checkpoint is stored: index `manifest`, record, acknowledge.
        case completed(Update, CheckpointManifest)
        /// The upload of `update` failed with no result of its attempt waiting; it stays
        /// unacknowledged (the worker sends it again, which starts a new upload).
        case failed(Update, String)
        /// A newer checkpoint replaced `update`'s while it waited: store its metrics as a report
        /// (no checkpoint) and acknowledge it.
        case superseded(Update)
        /// The upload of `update` failed or was given up while its attempt's result waited:
        /// store its metrics as a report with `checkpoint_error` (the reason), acknowledge it.
        case abandoned(Update, String)
        /// A terminal update that waited for this attempt's upload: handle it now.
        case release(Update)
    }

    struct Upload: Sendable {
        var update: Update
        var manifest: CheckpointManifest
        var transfer: ChunkTransfer
        /// Numbers this run's uploads from 1: partial files are `upload-<serial>-<sha256>`.
        var serial: Int
        /// The partial file of each blob being received.
        var partials: [String: String] = [:]
        /// Blobs handed to the service to commit, whose outcome has not come back.
        var committing: Set<String> = []
        /// The transfer received every chunk.
        var received = false
        /// The newest checkpoint that arrived while this one uploads.
        var pending: (update: Update, manifest: CheckpointManifest)?
        /// Terminal updates of the attempt waiting for this upload, and since when the first did.
        var deferred: [Update] = []
        var heldSince: ContinuousClock.Instant?
    }

    let settings: OptimizerMachine.Settings
    private(set) var blobs: Set<String>
    private(set) var uploads: [UploadID: Upload] = [:]
    private var nextRequest: UInt64 = 1 << 32
    private var uploadCount = 0

    init(settings: OptimizerMachine.Settings, blobs: [String]) {
        self.settings = settings
        self.blobs = Set(blobs)
    }

    /// A CHECKPOINT update about a live trial arrived.
    mutating func arrived(_ update: Update, payload: JSONValue?, now: ContinuousClock.Instant) -> [Progress] {
        guard var object = payload?.object, let manifestJSON = object.removeValue(forKey: CheckpointManifest.payloadKey) else {
            return [.recordReport(update, payload ?? .null)]
        }
        guard settings.keepsCheckpoints else { return [.recordReport(update, .object(object))] }
        guard var manifest = try? JSONDecoder().decode(CheckpointManifest.self, from: Data(JSONCoding.encode(manifestJSON))) else {
            object["checkpoint_error"] = .string("the checkpoint's manifest is malformed: not kept")
            return [.recordReport(update, .object(object))]
        }
        // Before its sizes are added up or ranges made of them: a peer's manifest may claim sizes
        // that overflow, negative ones that slip under `maxBytes`, or paths with NUL (issue 16).
        do {
            try manifest.validate()
        } catch {
            object["checkpoint_error"] = .string("the checkpoint's manifest is malformed (\(error.description)): not kept")
            return [.recordReport(update, .object(object))]
        }
        guard manifest.files.count <= settings.maxFiles else {
            object["checkpoint_error"] = .string("the checkpoint holds \(manifest.files.count) files; this optimizer keeps at most \(settings.maxFiles) (--checkpoint-max-files): not kept")
            return [.recordReport(update, .object(object))]
        }
        manifest.job = update.attempt.job
        manifest.attempt = update.attempt.attempt
        manifest.seq = update.seq
        guard manifest.bytes <= settings.maxBytes else {
            object["checkpoint_error"] = .string("the checkpoint holds \(manifest.bytes) bytes; this optimizer keeps at most \(settings.maxBytes) (--checkpoint-max-bytes): not kept")
            return [.recordReport(update, .object(object))]
        }
        let key = UploadID(job: update.attempt.job, lease: update.attempt.lease)
        guard var running = uploads[key] else { return begin(update, manifest, key: key, deferred: [], heldSince: nil, now: now) }
        let waiting = running.pending?.update.seq ?? running.update.seq
        // A resend of one in flight or waiting changes nothing; an older one is not worth keeping.
        guard update.seq > waiting else { return update.seq == waiting || update.seq == running.update.seq ? [] : [.superseded(update)] }
        let replaced = running.pending?.update
        running.pending = (update, manifest)
        uploads[key] = running
        return replaced.map { [.superseded($0)] } ?? []
    }

    /// Holds back a terminal update while its attempt's upload runs (at most `settings.resultHold`
    /// from `now`); false when none runs.
    mutating func holdBack(_ update: Update, now: ContinuousClock.Instant) -> Bool {
        let key = UploadID(job: update.attempt.job, lease: update.attempt.lease)
        guard uploads[key] != nil else { return false }
        if !(uploads[key]!.deferred.contains { $0.seq == update.seq }) { uploads[key]!.deferred.append(update) }
        if uploads[key]!.heldSince == nil { uploads[key]!.heldSince = now }
        return true
    }

    /// A CHUNK from a worker: its bytes go to the upload's partial file.
    mutating func received(_ chunk: Transfer, now: ContinuousClock.Instant) -> [Progress] {
        let key = UploadID(job: chunk.job, lease: chunk.lease)
        guard chunk.kind == .chunk, var upload = uploads[key], upload.transfer.isOutstanding(chunk.request),
              let header = try? JSONDecoder().decode(ChunkHeader.self, from: Data(chunk.body)) else { return [] }
        if let error = header.error {
            let actions = upload.transfer.refused(request: chunk.request, reason: "the worker answered: \(error)")
            uploads[key] = upload
            return perform(actions, key: key, now: now)
        }
        guard let sha = header.sha256, let offset = header.offset else { return [] }
        let (accept, actions) = upload.transfer.received(request: chunk.request, blob: sha, offset: offset, count: chunk.data.count, now: now)
        var progress: [Progress] = []
        if accept {
            let partial = upload.partials[sha] ?? "upload-\(upload.serial)-\(sha)"
            upload.partials[sha] = partial
            progress.append(.disk(.writeChunk(upload: key, partial: partial, offset: offset, bytes: chunk.data)))
        }
        uploads[key] = upload
        return progress + perform(actions, key: key, now: now)
    }

    /// The service committed a blob, or a blob write failed.
    mutating func diskDone(_ outcome: DiskOutcome, now: ContinuousClock.Instant) -> [Progress] {
        switch outcome {
        case .committed(let key, let sha):
            blobs.insert(sha)
            guard var upload = uploads[key], upload.committing.remove(sha) != nil else { return [] }
            upload.partials[sha] = nil
            uploads[key] = upload
            return upload.received && upload.committing.isEmpty ? finish(key, now: now) : []
        case .failed(let key, let reason):
            guard uploads[key] != nil else { return [] }
            return fail(key, reason, now: now)
        }
    }

    /// The earliest instant at which `expire(now:)` has something to do; nil: no upload waits.
    var nextDeadline: ContinuousClock.Instant? {
        uploads.values.flatMap { [$0.transfer.nextDeadline, $0.heldSince.map { $0 + settings.resultHold }].compactMap { $0 } }.min()
    }

    /// Asks again for chunks that went unanswered; fails uploads that give up, and gives up those
    /// whose attempt's result has waited `settings.resultHold`.
    mutating func expire(now: ContinuousClock.Instant) -> [Progress] {
        var progress: [Progress] = []
        for key in uploads.keys.sorted() {
            guard let upload = uploads[key], let since = upload.heldSince, now >= since + settings.resultHold else { continue }
            progress += giveUp(key, "its attempt's result waited \(settings.resultHold) for it")
        }
        for key in uploads.keys.sorted() {
            guard var upload = uploads[key], let deadline = upload.transfer.nextDeadline, now >= deadline else { continue }
            let actions = upload.transfer.expire(now: now)
            uploads[key] = upload
            progress += perform(actions, key: key, now: now)
        }
        return progress
    }

    /// The link to the broker was re-established: asks again at once for every chunk in flight.
    mutating func retryAll(now: ContinuousClock.Instant) -> [Progress] {
        var progress: [Progress] = []
        for key in uploads.keys.sorted() {
            guard var upload = uploads[key] else { continue }
            let actions = upload.transfer.retryOutstanding(now: now)
            uploads[key] = upload
            progress += perform(actions, key: key, now: now)
        }
        return progress
    }

    /// Of `candidates` (blobs no stored checkpoint references any more), the ones no upload in
    /// flight needs: they are deleted, and no longer counted as stored.
    mutating func unreferenced(_ candidates: [String]) -> [String] {
        let inFlight = Set(uploads.values.flatMap { upload in
            (upload.manifest.files + (upload.pending?.manifest.files ?? [])).map(\.sha256)
        })
        let garbage = candidates.filter { !inFlight.contains($0) }.sorted()
        for sha in garbage { blobs.remove(sha) }
        return garbage
    }

    // MARK: - Steps

    /// Starts uploading what the store lacks of `manifest`, or completes at once.
    private mutating func begin(_ update: Update, _ manifest: CheckpointManifest, key: UploadID, deferred: [Update],
                                heldSince: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> [Progress] {
        let missing = manifest.blobs.filter { !blobs.contains($0.key) }
        if missing.isEmpty { return [.completed(update, manifest)] + deferred.map(Progress.release) }
        var transfer = ChunkTransfer(blobs: missing, config: settings.transfer, firstRequest: nextRequest)
        nextRequest += 1 << 32
        uploadCount += 1
        let actions = transfer.start(now: now)
        uploads[key] = Upload(update: update, manifest: manifest, transfer: transfer, serial: uploadCount, deferred: deferred,
                              heldSince: heldSince)
        return perform(actions, key: key, now: now)
    }

    private mutating func perform(_ actions: [ChunkTransfer.Action], key: UploadID, now: ContinuousClock.Instant) -> [Progress] {
        var progress: [Progress] = []
        for action in actions {
            guard var upload = uploads[key] else { return progress }
            switch action {
            case .fetch(let request, let blob, let offset, let length):
                progress.append(.send(.fetch(job: key.job, lease: key.lease, request: request,
                                             FetchBody(op: FetchBody.blob, sha256: blob, offset: offset, length: length))))
            case .blobComplete(let sha):
                // A blob of no bytes receives no chunk: its (empty) partial is created by the commit.
                let partial = upload.partials[sha] ?? "upload-\(upload.serial)-\(sha)"
                upload.partials[sha] = partial
                upload.committing.insert(sha)
                uploads[key] = upload
                progress.append(.disk(.commitBlob(upload: key, partial: partial, sha256: sha)))
            case .finished:
                upload.received = true
                uploads[key] = upload
                if upload.committing.isEmpty { return progress + finish(key, now: now) }
            case .failed(let reason):
                return progress + fail(key, reason, now: now)
            }
        }
        return progress
    }

    /// Every blob is received and committed: the checkpoint is complete, the next one waiting
    /// starts, or the held-back terminal updates are released.
    private mutating func finish(_ key: UploadID, now: ContinuousClock.Instant) -> [Progress] {
        guard let upload = uploads.removeValue(forKey: key) else { return [] }
        guard let next = upload.pending else {
            return [.completed(upload.update, upload.manifest)] + upload.deferred.map(Progress.release)
        }
        return [.completed(upload.update, upload.manifest)]
            + begin(next.update, next.manifest, key: key, deferred: upload.deferred, heldSince: upload.heldSince, now: now)
    }

    private mutating func fail(_ key: UploadID, _ reason: String, now: ContinuousClock.Instant) -> [Progress] {
        guard let upload = uploads.removeValue(forKey: key) else { return [] }
        let discards = upload.partials.keys.sorted().map { Progress.disk(.discardPartial(upload.partials[$0]!)) }
        // With no result waiting it is left unacknowledged: the worker sends it again, which
        // starts a new upload. With one waiting, no resend would come before the result: the
        // reason is recorded. The newer checkpoint waiting behind it may still be fetched (the
        // failure may be this snapshot's alone), within what is left of the result's hold.
        let outcome: Progress = upload.deferred.isEmpty ? .failed(upload.update, reason) : .abandoned(upload.update, reason)
        guard let next = upload.pending else { return discards + [outcome] + upload.deferred.map(Progress.release) }
        return discards + [outcome]
            + begin(next.update, next.manifest, key: key, deferred: upload.deferred, heldSince: upload.heldSince, now: now)
    }

    /// Gives up an upload and the checkpoint waiting behind it, both recorded with `reason`, and
    /// releases the results that waited.
    private mutating func giveUp(_ key: UploadID, _ reason: String) -> [Progress] {
        guard let upload = uploads.removeValue(forKey: key) else { return [] }
        let discards = upload.partials.keys.sorted().map { Progress.disk(.discardPartial(upload.partials[$0]!)) }
        let waiting = upload.pending.map { [Progress.abandoned($0.update, reason)] } ?? []
        return discards + [.abandoned(upload.update, reason)] + waiting + upload.deferred.map(Progress.release)
    }
}
