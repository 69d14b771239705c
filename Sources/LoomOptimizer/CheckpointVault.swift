import Foundation
import LoomCheckpoint
import LoomStore
import LoomWire
import Logging

/// Where the optimizer keeps checkpoints, and how many.
public struct CheckpointStoreSettings: Sendable {
    /// The blob directory (`<data dir>/checkpoints`); nil: checkpoints are not kept (their
    /// updates are recorded as reports, and restores find nothing).
    public var directory: String?
    /// Checkpoints kept per trial, newest first; older ones are deleted with the blobs only they
    /// referenced (`checkpoint_keep`).
    public var keep: Int
    /// A checkpoint whose files add up to more is refused (recorded with `checkpoint_error`).
    public var maxBytes: Int64
    /// Chunk size, window and retries of uploads.
    public var transfer: ChunkTransfer.Config

    public init(directory: String? = nil, keep: Int = 2, maxBytes: Int64 = 1 << 30, transfer: ChunkTransfer.Config = ChunkTransfer.Config()) {
        self.directory = directory
        self.keep = max(1, keep)
        self.maxBytes = maxBytes
        self.transfer = transfer
    }
}

/// The optimizer's checkpoint store: blobs in a `BlobDirectory`, indexed by a `CheckpointIndex`,
/// filled by pulling from workers (a `ChunkTransfer` per upload) and read by workers restoring.
///
/// **Uploads.** A CHECKPOINT update whose manifest names blobs the store lacks starts an upload:
/// the vault asks the worker for those blobs only (deduplication), a window of chunks at a time,
/// and the update is acknowledged only once every blob is verified and the checkpoint indexed.
/// One upload runs per attempt and at most one more waits behind it: a newer checkpoint replaces
/// the waiting one (whose update is then acknowledged without being kept), never the one in
/// flight, so a steady stream of checkpoints still gets one stored after another. A terminal
/// update of an attempt whose upload runs waits for it, so a trial's last checkpoint is kept
/// before its result is recorded and the broker forgets the attempt.
/// **Garbage.** Blobs that no indexed checkpoint and no upload references are deleted.
/// **Threading.** Used from the optimizer's loop thread only.
final class CheckpointVault {
    /// What the service does next.
    enum Progress: Equatable {
        case send(Transfer)
        /// Nothing to keep (no manifest, no store, too big, malformed): record the update as a
        /// report with these metrics and acknowledge it.
        case recordReport(Update, JSONValue)
        /// Every blob of `update`'s checkpoint is here: index `manifest`, record, acknowledge.
        case completed(Update, CheckpointManifest)
        /// The upload of `update` failed; it stays unacknowledged (the worker sends it again,
        /// which starts a new upload).
        case failed(Update, String)
        /// A newer checkpoint replaced `update`'s while it waited: acknowledge it, keep nothing.
        case superseded(Update)
        /// A terminal update that waited for this attempt's upload: handle it now.
        case release(Update)
    }

    struct UploadKey: Hashable {
        var job: String
        var lease: UInt64
    }

    struct Upload {
        var update: Update
        var manifest: CheckpointManifest
        var transfer: ChunkTransfer
        var partials: [String: String] = [:]
        /// The newest checkpoint that arrived while this one uploads.
        var pending: (update: Update, manifest: CheckpointManifest)?
        var deferred: [Update] = []
    }

    let settings: CheckpointStoreSettings
    let blobs: BlobDirectory?
    let logger: Logger
    var uploads: [UploadKey: Upload] = [:]
    var nextRequest: UInt64 = 1 << 32

    init(settings: CheckpointStoreSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        if let directory = settings.directory {
            do {
                blobs = try BlobDirectory(root: directory)
            } catch {
                logger.error("cannot open the checkpoint directory; checkpoints will not be kept", metadata: ["error": "\(error)"])
                blobs = nil
            }
        } else {
            blobs = nil
        }
    }

    /// A CHECKPOINT update about a live trial arrived.
    func arrived(_ update: Update, payload: JSONValue?, now: ContinuousClock.Instant) -> [Progress] {
        guard var object = payload?.object, let manifestJSON = object.removeValue(forKey: CheckpointManifest.payloadKey) else {
            return [.recordReport(update, payload ?? .null)]
        }
        guard blobs != nil else { return [.recordReport(update, .object(object))] }
        guard var manifest = try? JSONDecoder().decode(CheckpointManifest.self, from: Data(JSONCoding.encode(manifestJSON))) else {
            object["checkpoint_error"] = .string("the checkpoint's manifest is malformed: not kept")
            return [.recordReport(update, .object(object))]
        }
        do {
            try manifest.validate()
        } catch {
            object["checkpoint_error"] = .string("the checkpoint's manifest is malformed (\(error.description)): not kept")
            logger.warning("checkpoint refused", metadata: ["trial.job": "\(update.attempt.job)", "error": "\(error.description)"])
            return [.recordReport(update, .object(object))]
        }
        manifest.job = update.attempt.job
        manifest.attempt = update.attempt.attempt
        manifest.seq = update.seq
        guard manifest.bytes <= settings.maxBytes else {
            object["checkpoint_error"] = .string("the checkpoint holds \(manifest.bytes) bytes; this optimizer keeps at most \(settings.maxBytes) (--checkpoint-max-bytes): not kept")
            return [.recordReport(update, .object(object))]
        }
        let key = UploadKey(job: update.attempt.job, lease: update.attempt.lease)
        guard var running = uploads[key] else { return begin(update, manifest, key: key, deferred: [], now: now) }
        let waiting = running.pending?.update.seq ?? running.update.seq
        // A resend of one in flight or waiting changes nothing; an older one is not worth keeping.
        guard update.seq > waiting else { return update.seq == waiting || update.seq == running.update.seq ? [] : [.superseded(update)] }
        let replaced = running.pending?.update
        running.pending = (update, manifest)
        uploads[key] = running
        return replaced.map { [.superseded($0)] } ?? []
    }

    /// Starts uploading what the store lacks of `manifest`, or completes at once.
    private func begin(_ update: Update, _ manifest: CheckpointManifest, key: UploadKey, deferred: [Update],
                       now: ContinuousClock.Instant) -> [Progress] {
        let missing = manifest.blobs.filter { !(blobs?.contains($0.key) ?? false) }
        if missing.isEmpty { return [.completed(update, manifest)] + deferred.map(Progress.release) }
        var transfer = ChunkTransfer(blobs: missing, config: settings.transfer, firstRequest: nextRequest)
        nextRequest += 1 << 32
        let actions = transfer.start(now: now)
        uploads[key] = Upload(update: update, manifest: manifest, transfer: transfer, deferred: deferred)
        return perform(actions, key: key, now: now)
    }

    /// Holds back a terminal update while its attempt's upload runs; false when none runs.
    func holdBack(_ update: Update) -> Bool {
        let key = UploadKey(job: update.attempt.job, lease: update.attempt.lease)
        guard uploads[key] != nil else { return false }
        if !(uploads[key]!.deferred.contains { $0.seq == update.seq }) { uploads[key]!.deferred.append(update) }
        return true
    }

    /// A CHUNK from a worker.
    func received(_ chunk: Transfer, now: ContinuousClock.Instant) -> [Progress] {
        let key = UploadKey(job: chunk.job, lease: chunk.lease)
        guard chunk.kind == .chunk, var upload = uploads[key], upload.transfer.isOutstanding(chunk.request),
              let header = try? JSONDecoder().decode(ChunkHeader.self, from: Data(chunk.body)) else { return [] }
        if let error = header.error {
            let actions = upload.transfer.refused(request: chunk.request, reason: "the worker answered: \(error)")
            uploads[key] = upload
            return perform(actions, key: key, now: now)
        }
        guard let sha = header.sha256, let offset = header.offset else { return [] }
        let (accept, actions) = upload.transfer.received(request: chunk.request, blob: sha, offset: offset, count: chunk.data.count, now: now)
        if accept, let blobs {
            do {
                let partial = try upload.partials[sha] ?? blobs.beginPartial()
                upload.partials[sha] = partial
                try blobs.write(chunk.data, at: offset, into: partial)
            } catch {
                uploads[key] = upload
                return fail(key, "\(error)", now: now)
            }
        }
        uploads[key] = upload
        return perform(actions, key: key, now: now)
    }

    /// Asks again for chunks that went unanswered; fails uploads that give up.
    func expire(now: ContinuousClock.Instant) -> [Progress] {
        var progress: [Progress] = []
        for key in Array(uploads.keys) {
            guard var upload = uploads[key], let deadline = upload.transfer.nextDeadline, now >= deadline else { continue }
            let actions = upload.transfer.expire(now: now)
            uploads[key] = upload
            progress += perform(actions, key: key, now: now)
        }
        return progress
    }

    /// The link to the broker was re-established: asks again at once for every chunk in flight.
    func retryAll(now: ContinuousClock.Instant) -> [Progress] {
        var progress: [Progress] = []
        for key in uploads.keys.sorted(by: { ($0.job, $0.lease) < ($1.job, $1.lease) }) {
            guard var upload = uploads[key] else { continue }
            let actions = upload.transfer.retryOutstanding(now: now)
            uploads[key] = upload
            progress += perform(actions, key: key, now: now)
        }
        return progress
    }

    /// Deletes the blobs among `candidates` that no upload in flight needs.
    func deleteBlobs(_ candidates: [String]) {
        let inFlight = Set(uploads.values.flatMap { upload in
            (upload.manifest.files + (upload.pending?.manifest.files ?? [])).map(\.sha256)
        })
        for sha in candidates where !inFlight.contains(sha) { blobs?.remove(sha) }
    }

    /// Answers a worker's FETCH: the newest checkpoint of a job, or a blob range.
    func serve(_ fetch: Transfer, index: (any CheckpointIndex)?) -> Transfer {
        guard let body = try? JSONDecoder().decode(FetchBody.self, from: Data(fetch.body)) else {
            return fetch.answer(ChunkHeader(error: "FETCH body is not {\"op\": …}"))
        }
        switch body.op {
        case FetchBody.latest:
            let job = body.job ?? fetch.job
            guard let blobs, let index, let (study, number) = OptimizerService.parseJobID(job) else {
                return fetch.answer(ChunkHeader(none: true))
            }
            do {
                guard let newest = try index.checkpoints(study: study, trial: number).first(where: { record in
                    record.files.allSatisfy { blobs.contains($0.sha256) }
                }) else { return fetch.answer(ChunkHeader(none: true)) }
                return fetch.answer(ChunkHeader(checkpoint: CheckpointManifest(job: job, attempt: UInt32(newest.attempt), seq: newest.seq,
                                                                               files: newest.files)))
            } catch {
                return fetch.answer(ChunkHeader(error: "cannot read the checkpoint index: \(error)"))
            }
        case FetchBody.blob:
            guard let blobs else { return fetch.answer(ChunkHeader(error: "this optimizer keeps no checkpoints")) }
            guard let sha = body.sha256, let offset = body.offset, let length = body.length else {
                return fetch.answer(ChunkHeader(error: "FETCH blob needs sha256, offset and length"))
            }
            do {
                let data = try blobs.read(sha, offset: offset, length: min(length, 16 << 20))
                return fetch.answer(ChunkHeader(sha256: sha, offset: offset), data: data)
            } catch {
                return fetch.answer(ChunkHeader(error: error.description))
            }
        default:
            return fetch.answer(ChunkHeader(error: "unknown FETCH op \"\(body.op)\"; expected \"latest\" or \"blob\""))
        }
    }

    // MARK: - Steps

    private func perform(_ actions: [ChunkTransfer.Action], key: UploadKey, now: ContinuousClock.Instant) -> [Progress] {
        var progress: [Progress] = []
        for action in actions {
            guard let upload = uploads[key] else { return progress }
            switch action {
            case .fetch(let request, let blob, let offset, let length):
                progress.append(.send(.fetch(job: key.job, lease: key.lease, request: request,
                                             FetchBody(op: FetchBody.blob, sha256: blob, offset: offset, length: length))))
            case .blobComplete(let sha):
                guard let blobs else { return progress }
                do {
                    let partial = try upload.partials[sha] ?? blobs.beginPartial()
                    uploads[key]?.partials[sha] = nil
                    try blobs.commit(partial: partial, sha256: sha)
                } catch {
                    return progress + fail(key, "\(error)", now: now)
                }
            case .finished:
                uploads[key] = nil
                guard let next = upload.pending else {
                    return progress + [.completed(upload.update, upload.manifest)] + upload.deferred.map(Progress.release)
                }
                return progress + [.completed(upload.update, upload.manifest)]
                    + begin(next.update, next.manifest, key: key, deferred: upload.deferred, now: now)
            case .failed(let reason):
                return progress + fail(key, reason, now: now)
            }
        }
        return progress
    }

    private func fail(_ key: UploadKey, _ reason: String, now: ContinuousClock.Instant) -> [Progress] {
        guard let upload = uploads[key] else { return [] }
        discard(key)
        uploads[key] = nil
        logger.warning("checkpoint upload failed", metadata: ["trial.id": "\(key.job)", "checkpoint.seq": "\(upload.update.seq)", "error": "\(reason)"])
        // Left unacknowledged, the worker sends it again. The newer checkpoint waiting behind it
        // may still be fetched (the failure may be this snapshot's alone).
        guard let next = upload.pending else { return [.failed(upload.update, reason)] + upload.deferred.map(Progress.release) }
        return [.failed(upload.update, reason)] + begin(next.update, next.manifest, key: key, deferred: upload.deferred, now: now)
    }

    private func discard(_ key: UploadKey) {
        for partial in uploads[key]?.partials.values ?? [:].values { blobs?.discard(partial: partial) }
        uploads[key]?.partials = [:]
    }
}
