import Foundation
import LoomCheckpoint
import LoomWire
import Logging

/// Restoring a checkpoint into an attempt's checkpoint directory before its trial starts.
extension WorkerCheckpoints {
    /// An attempt was assigned: launch it at once, or first fetch its checkpoint.
    func prepare(_ ref: AttemptRef, payload: Frame, now: ContinuousClock.Instant) -> [Outcome] {
        let restoreFrom = (try? JobSpec.decode(payload))?.restoreFrom
        let paths = paths(ref)
        if let shared = settings.sharedDirectory {
            if let other = restoreFrom {
                let source = AttemptPaths(workDir: workDir, ref: AttemptRef(job: other, attempt: 1, lease: 0), sharedCheckpoints: shared)
                if let error = Self.copyDirectory(source.checkpointDir, over: paths.checkpointDir) {
                    return [.fail(ref, error: "cannot restore the checkpoint of \(other): \(error)")]
                }
            }
            return [.launch(ref, payload: payload)]
        }
        guard blobs != nil, ref.attempt > 1 || restoreFrom != nil else { return [.launch(ref, payload: payload)] }
        let request = takeRequest()
        restores[ref.lease] = Restore(ref: ref, payload: payload, source: restoreFrom ?? ref.job,
                                      deadline: now + settings.restoreTimeout, phase: .manifest(request: request, sentAt: now),
                                      started: now)
        return [.send(askLatest(ref, source: restoreFrom ?? ref.job, request: request))]
    }

    /// A CHUNK from the optimizer: the manifest, or a blob range.
    func received(_ chunk: Transfer, now: ContinuousClock.Instant) -> [Outcome] {
        guard chunk.kind == .chunk, var restore = restores[chunk.lease], restore.ref.job == chunk.job,
              let header = try? JSONDecoder().decode(ChunkHeader.self, from: Data(chunk.body)) else { return [] }
        switch restore.phase {
        case .manifest(let request, _):
            guard chunk.request == request else { return [] }
            if let error = header.error { return retry(restore.ref, after: "the optimizer answered: \(error)", now: now) }
            guard let manifest = header.checkpoint else {
                // Another job's checkpoint (a PBT exploit's donor) not stored yet: its upload may
                // still run (the exploit follows the donor's REPORT, its CHECKPOINT comes after the
                // snapshot). Ask again for a while rather than go on from this trial's own state.
                if restore.source != restore.ref.job, now < restore.started + settings.donorWait {
                    return retry(restore.ref, after: "\(restore.source) has no stored checkpoint yet", now: now)
                }
                return finish(restore.ref)
            }
            do {
                try manifest.validate()
            } catch {
                return retry(restore.ref, after: "the optimizer sent a malformed manifest: \(error.description)", now: now)
            }
            let origin = CheckpointOrigin.read(paths(restore.ref).checkpointOriginFile)
            if restore.source == restore.ref.job, let origin, origin.job == manifest.job,
               manifest.isHeld(byAttempt: origin.attempt, seq: origin.seq) {
                // What this worker holds is the stored checkpoint, or a later one of the same
                // attempt. Anything else is restored from the store: a checkpoint of another
                // attempt here may be a backup copy's, behind what the store holds.
                return finish(restore.ref)
            }
            let missing = manifest.blobs.filter { !(blobs?.contains($0.key) ?? false) }
            var transfer = ChunkTransfer(blobs: missing, config: settings.transfer, firstRequest: takeRequest(range: true))
            let actions = transfer.start(now: now)
            restore.phase = .blobs(manifest, transfer, partials: [:])
            restores[restore.ref.lease] = restore
            return perform(actions, lease: restore.ref.lease, now: now)
        case .blobs(let manifest, var transfer, var partials):
            guard transfer.isOutstanding(chunk.request) else { return [] }
            if let error = header.error {
                let actions = transfer.refused(request: chunk.request, reason: error)
                restores[restore.ref.lease]?.phase = .blobs(manifest, transfer, partials: partials)
                return perform(actions, lease: restore.ref.lease, now: now)
            }
            guard let sha = header.sha256, let offset = header.offset else { return [] }
            let (accept, actions) = transfer.received(request: chunk.request, blob: sha, offset: offset, count: chunk.data.count, now: now)
            if accept {
                do {
                    let partial = try partials[sha] ?? blobs!.beginPartial()
                    partials[sha] = partial
                    try blobs!.write(chunk.data, at: offset, into: partial)
                } catch {
                    restores[restore.ref.lease]?.phase = .blobs(manifest, transfer, partials: partials)
                    return retry(restore.ref, after: "\(error)", now: now)
                }
            }
            restores[restore.ref.lease]?.phase = .blobs(manifest, transfer, partials: partials)
            return perform(actions, lease: restore.ref.lease, now: now)
        case .rebuilding:
            return []
        }
    }

    /// Asks again what went unanswered; fails restores past their deadline.
    func expire(now: ContinuousClock.Instant) -> [Outcome] {
        var outcomes: [Outcome] = []
        for lease in restores.keys.sorted() {
            guard let restore = restores[lease] else { continue }
            if now >= restore.deadline {
                abandon(lease: lease)
                outcomes.append(.fail(restore.ref, error: "cannot restore its checkpoint: no complete answer from the optimizer within \(settings.restoreTimeout)"))
                continue
            }
            switch restore.phase {
            case .manifest(_, let sentAt) where now >= sentAt + settings.manifestTimeout:
                let request = takeRequest()
                restores[lease]?.phase = .manifest(request: request, sentAt: now)
                outcomes.append(.send(askLatest(restore.ref, source: restore.source, request: request)))
            case .blobs(let manifest, var transfer, let partials):
                let actions = transfer.expire(now: now)
                restores[lease]?.phase = .blobs(manifest, transfer, partials: partials)
                outcomes += perform(actions, lease: lease, now: now)
            default:
                break
            }
        }
        return outcomes
    }

    /// The worker registered (again): asks at once for what was in flight on the old link.
    func retryAll(now: ContinuousClock.Instant) -> [Outcome] {
        var outcomes: [Outcome] = []
        for lease in restores.keys.sorted() {
            guard let restore = restores[lease] else { continue }
            switch restore.phase {
            case .manifest:
                let request = takeRequest()
                restores[lease]?.phase = .manifest(request: request, sentAt: now)
                outcomes.append(.send(askLatest(restore.ref, source: restore.source, request: request)))
            case .blobs(let manifest, var transfer, let partials):
                let actions = transfer.retryOutstanding(now: now)
                restores[lease]?.phase = .blobs(manifest, transfer, partials: partials)
                outcomes += perform(actions, lease: lease, now: now)
            case .rebuilding:
                break
            }
        }
        return outcomes
    }

    /// When `expire(now:)` next has work to do.
    var nextDeadline: ContinuousClock.Instant? {
        restores.values.map { restore in
            switch restore.phase {
            case .manifest(_, let sentAt): min(restore.deadline, sentAt + settings.manifestTimeout)
            case .blobs(_, let transfer, _): min(restore.deadline, transfer.nextDeadline ?? restore.deadline)
            case .rebuilding: restore.deadline
            }
        }.min()
    }

    /// Whether the attempt with this lease waits for its checkpoint.
    func isRestoring(lease: UInt64) -> Bool { restores[lease] != nil }

    /// Stops restoring (the attempt was cancelled); its partial files are removed.
    func abandon(lease: UInt64) {
        guard let restore = restores.removeValue(forKey: lease) else { return }
        // A rebuild under way owns its partials; its result finds the restore gone (`restoreFinished`).
        if case .blobs(_, _, let partials) = restore.phase { partials.values.forEach { blobs?.discard(partial: $0) } }
    }

    // MARK: - Rebuilding (off the loop thread)

    /// What a rebuild job hands back to the loop thread.
    struct RebuildResult: Sendable {
        var ref: AttemptRef
        var manifest: CheckpointManifest
        /// Why the rebuild failed; nil when the directory holds the checkpoint.
        var error: String?
    }

    /// The job that verifies and commits the received blobs and rebuilds the attempt's checkpoint
    /// directory (hashing a large blob and copying thousands of files take seconds), to run off the
    /// loop thread; nil unless the restore of `lease` is `.rebuilding`.
    func restoreJob(lease: UInt64) -> (@Sendable () -> RebuildResult)? {
        guard let blobs, let restore = restores[lease], case .rebuilding(let manifest, let partials) = restore.phase else { return nil }
        let ref = restore.ref
        let directory = paths(ref).checkpointDir
        rebuildsInFlight += 1
        return {
            do throws(CheckpointError) {
                var pending = partials
                for (sha, partial) in partials.sorted(by: { $0.key < $1.key }) {
                    pending[sha] = nil
                    do throws(CheckpointError) {
                        try blobs.commit(partial: partial, sha256: sha)
                    } catch {
                        pending.values.forEach { blobs.discard(partial: $0) }
                        throw error
                    }
                }
                try CheckpointSnapshot.materialize(manifest.files, from: blobs, into: directory)
                return RebuildResult(ref: ref, manifest: manifest, error: nil)
            } catch {
                return RebuildResult(ref: ref, manifest: manifest, error: error.description)
            }
        }
    }

    /// A rebuild job finished: the trial starts, or the restore starts over from the manifest.
    func restoreFinished(_ result: RebuildResult, now: ContinuousClock.Instant) -> [Outcome] {
        rebuildsInFlight -= 1
        let manifest = result.manifest
        guard let restore = restores[result.ref.lease], restore.ref == result.ref, case .rebuilding = restore.phase else {
            // Abandoned meanwhile: the blobs it fetched are not needed.
            let retained = retainedBlobs
            for sha in manifest.blobs.keys where !retained.contains(sha) { blobs?.remove(sha) }
            return []
        }
        if let error = result.error { return retry(restore.ref, after: error, now: now) }
        let paths = paths(restore.ref)
        CheckpointOrigin(job: manifest.job, attempt: manifest.attempt, seq: manifest.seq).write(to: paths.checkpointOriginFile)
        logger.info("checkpoint restored", metadata: [
            "trial.id": "\(restore.ref.job)", "trial.attempt": "\(restore.ref.attempt)",
            "checkpoint.attempt": "\(manifest.attempt)", "checkpoint.seq": "\(manifest.seq)",
            "checkpoint.bytes": "\(manifest.bytes)",
        ])
        // The fetched blobs were only needed to rebuild the directory.
        let retained = retainedBlobs
        for sha in manifest.blobs.keys where !retained.contains(sha) { blobs?.remove(sha) }
        return finish(restore.ref)
    }

    // MARK: - Steps

    private func perform(_ actions: [ChunkTransfer.Action], lease: UInt64, now: ContinuousClock.Instant) -> [Outcome] {
        guard let restore = restores[lease], case .blobs(let manifest, _, var partials) = restore.phase else { return [] }
        var outcomes: [Outcome] = []
        for action in actions {
            switch action {
            case .fetch(let request, let blob, let offset, let length):
                outcomes.append(.send(.fetch(job: restore.ref.job, lease: lease, request: request,
                                             FetchBody(op: FetchBody.blob, sha256: blob, offset: offset, length: length))))
            case .blobComplete(let sha):
                // Verified and committed with the others by the rebuild job, off the loop thread;
                // a blob that is empty was never written: its partial is made now.
                if partials[sha] == nil {
                    do {
                        partials[sha] = try blobs!.beginPartial()
                    } catch {
                        return retry(restore.ref, after: "\(error)", now: now)
                    }
                    if case .blobs(let m, let t, _) = restores[lease]?.phase { restores[lease]?.phase = .blobs(m, t, partials: partials) }
                }
            case .finished:
                restores[lease]?.phase = .rebuilding(manifest, partials: partials)
                return outcomes + [.rebuild(restore.ref)]
            case .failed(let reason):
                return retry(restore.ref, after: reason, now: now)
            }
        }
        return outcomes
    }

    /// Starts the restore over from the manifest (a blob may have been replaced by a newer
    /// checkpoint meanwhile); the deadline stays.
    private func retry(_ ref: AttemptRef, after reason: String, now: ContinuousClock.Instant) -> [Outcome] {
        guard var restore = restores[ref.lease] else { return [] }
        logger.info("restore interrupted; asking again", metadata: ["trial.id": "\(ref.job)", "reason": "\(reason)"])
        if case .blobs(_, _, let partials) = restore.phase { partials.values.forEach { blobs?.discard(partial: $0) } }
        // Asked again by `expire` after `manifestTimeout`, not at once: an answer that fails the
        // same way each time (a refused or malformed checkpoint) must not become a busy loop of
        // FETCHes until the restore's deadline.
        restore.phase = .manifest(request: takeRequest(), sentAt: now)
        restores[ref.lease] = restore
        return []
    }

    private func finish(_ ref: AttemptRef) -> [Outcome] {
        guard let restore = restores.removeValue(forKey: ref.lease) else { return [] }
        return [.launch(ref, payload: restore.payload)]
    }

    private func askLatest(_ ref: AttemptRef, source: String, request: UInt64) -> Transfer {
        .fetch(job: ref.job, lease: ref.lease, request: request, FetchBody(op: FetchBody.latest, job: source))
    }

    /// A fresh request id, or (for a transfer) the start of a fresh range of 2^32 ids.
    private func takeRequest(range: Bool = false) -> UInt64 {
        if range {
            nextRequest = (nextRequest >> 32 + 1) << 32
            defer { nextRequest += 1 << 32 }
            return nextRequest
        }
        defer { nextRequest += 1 }
        return nextRequest
    }

    /// Replaces `target` with a copy of `source` (shared mode's `restore_from`); nil when done.
    static func copyDirectory(_ source: String, over target: String) -> String? {
        let fm = FileManager.default
        guard fm.fileExists(atPath: source) else { return "\(source) does not exist" }
        let staging = target + ".restoring"
        do {
            try? fm.removeItem(atPath: staging)
            try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.copyItem(atPath: source, toPath: staging)
            try? fm.removeItem(atPath: target)
            try fm.moveItem(atPath: staging, toPath: target)
            return nil
        } catch {
            return error.localizedDescription
        }
    }
}
