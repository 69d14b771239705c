import Foundation
import LoomCheckpoint
import LoomClient
import LoomWire

/// The optimizer's slot in the simulation: a pure machine that talks to the broker as a client
/// and keeps its durable state in the `SimulatedStore` (which survives its crashes; the machine
/// does not). The real `OptimizerMachine` plugs in here once it exists.
protocol SimulatedOptimizer {
    /// Opens the link (a fresh start, or a restart over what the store holds).
    mutating func start(now: ContinuousClock.Instant) -> [ClientAction]
    /// A message from the broker.
    mutating func received(_ frames: [Frame], now: ContinuousClock.Instant) -> [ClientAction]
    /// Heartbeats, reconnects; call at `nextDeadline`.
    mutating func tick(now: ContinuousClock.Instant) -> [ClientAction]
    var nextDeadline: ContinuousClock.Instant { get }
}

/// **Stand-in**, not the real optimizer: a small pure client model that follows the documented
/// client contract (Docs/architecture.md, Docs/protocol.md) over the real `ClientStateMachine`,
/// until the optimizer is itself a pure machine. It submits the study's jobs; stores each report,
/// checkpoint and result before acknowledging it; retries a FAILED attempt as the job's next
/// attempt up to `maxRetries`; after its own restart re-submits every unfinished trial with the
/// resync flag and the next attempt number; and answers a worker's FETCH `latest` with the newest
/// stored checkpoint (its blobs are not modelled: the manifest names the step it holds).
struct StandInOptimizer: SimulatedOptimizer {
    var client: ClientStateMachine
    let store: SimulatedStore
    let jobs: [String]
    let maxRetries: Int
    let spec: Frame
    /// Whether this incarnation has submitted its jobs.
    var submitted = false
    /// Checkpoint uploads in flight, by (job, lease) (volatile: lost with a crash, as the
    /// optimizer's are; the worker resends the update, which starts a new one).
    var uploads: [UploadKey: Upload] = [:]
    var nextRequest: UInt64 = 1 << 32
    /// WELCOMEs seen by this incarnation.
    var welcomes = 0
    /// Uploads that gave up (for the trace).
    var failedUploads: [String] = []
    /// Called for every update the store recorded and acknowledged (for the checker).
    var onAcknowledge: ((Update) -> Void)?

    static let clientID = "optimizer"

    init(store: SimulatedStore, jobs: [String], maxRetries: Int, spec: Frame, now: ContinuousClock.Instant) {
        client = ClientStateMachine(config: ClientConfig(clientID: Self.clientID, name: "stand-in optimizer",
                                                         services: [ServiceName.optimizer, ServiceName.checkpoints]), now: now)
        self.store = store
        self.jobs = jobs
        self.maxRetries = maxRetries
        self.spec = spec
    }

    var nextDeadline: ContinuousClock.Instant {
        uploads.values.compactMap(\.transfer.nextDeadline).reduce(client.nextDeadline, min)
    }

    mutating func start(now: ContinuousClock.Instant) -> [ClientAction] { client.start(now: now) }

    mutating func tick(now: ContinuousClock.Instant) -> [ClientAction] {
        var actions = client.tick(now: now)
        for key in uploads.keys.sorted() {
            guard var upload = uploads[key], let deadline = upload.transfer.nextDeadline, now >= deadline else { continue }
            let steps = upload.transfer.expire(now: now)
            uploads[key] = upload
            actions += carryOut(steps, key: key, now: now)
        }
        return actions
    }

    mutating func received(_ frames: [Frame], now: ContinuousClock.Instant) -> [ClientAction] {
        let (events, actions) = client.received(frames, now: now)
        var out = actions
        for event in events { out += handle(event, now: now) }
        return out
    }

    func submission(_ job: String, attempt: UInt32, resync: Bool) -> JobSubmission {
        JobSubmission(id: job, requirements: Requirements(cpuMilli: 1000, firstAttempt: attempt,
                                                          flags: resync ? Requirements.Flags.resync : 0), payload: spec)
    }

    mutating func handle(_ event: ClientEvent, now: ContinuousClock.Instant) -> [ClientAction] {
        switch event {
        case .connected:
            welcomes += 1
            if welcomes > 1 {
                // The link is back: what the uploads had in flight went with the old one.
                var actions: [ClientAction] = []
                for key in uploads.keys.sorted() {
                    let steps = uploads[key]!.transfer.retryOutstanding(now: now)
                    actions += carryOut(steps, key: key, now: now)
                }
                return actions
            }
            guard !submitted else { return [] }
            submitted = true
            if store.order.isEmpty {
                // A new study: every trial is stored before its job is submitted.
                for job in jobs { store.create(job) }
                return client.submit(jobs.map { submission($0, attempt: 1, resync: false) }, now: now).actions
            }
            // A restart: the unfinished trials, with the resync flag and the next attempt number.
            let unfinished = store.order.compactMap { store.trials[$0] }.filter { !$0.isTerminal }
            return client.submit(unfinished.map { submission($0.job, attempt: $0.highestAttempt + 1, resync: true) }, now: now).actions
        case .started(let ref, _, _):
            store.recordAttempt(ref, state: "running")
            return []
        case .ended(let ref, let reason, _):
            store.recordAttempt(ref, state: reason)
            return []
        case .update(let update):
            return record(update, now: now)
        case .transfer(let transfer):
            return answer(transfer, now: now)
        case .submitted, .cancelled, .reply, .request, .error:
            return []
        }
    }

    /// Stores, then acknowledges; a FAILED attempt with retries left is submitted again after
    /// its ACK (the broker forgets the job on that ACK, so the SUBMIT starts a new run).
    mutating func record(_ update: Update, now: ContinuousClock.Instant) -> [ClientAction] {
        let ref = update.attempt
        guard let trial = store.trials[ref.job] else { return [] }
        let key = UploadKey(job: ref.job, lease: ref.lease)
        if update.kind.isTerminal, uploads[key] != nil {
            // A result waits for its attempt's checkpoint upload, so the last checkpoint is
            // stored before the broker forgets the attempt.
            uploads[key]!.deferred.append(update)
            return []
        }
        let fields = SimulatedTrialOutput.fields(update.payload)
        var resubmit: JobSubmission?
        switch update.kind {
        case .report:
            store.storeReport(update)
        case .checkpoint:
            guard let manifest = SimulatedTrialOutput.manifest(update.payload) else {
                store.storeReport(update)
                break
            }
            return upload(update, manifest, now: now)
        case .final:
            if let value = fields.loss {
                store.recordResult(update, value: value)
            } else {
                store.recordFailure(update, error: "the final metrics hold no finite \"loss\"",
                                    final: trial.failures + 1 > maxRetries)
            }
        case .failed:
            // A FAILED recorded already (its ACK was lost, or this optimizer restarted and the
            // broker kept it) is not another failure; the retry is submitted again all the same:
            // the broker forgets the job on this ACK, and the client delivers a resend only
            // when it knows of no newer run.
            let duplicate = trial.attempts[ref.lease]?.hasPrefix("failed") == true
            let final = !duplicate && trial.failures + 1 > maxRetries
            if !duplicate { store.recordFailure(update, error: fields.error ?? "failed", final: final) }
            if !final && !(store.trials[ref.job]?.isTerminal ?? true) {
                let next = max(ref.attempt, store.trials[ref.job]!.highestAttempt) + 1
                store.noteSubmitted(ref.job, attempt: next)
                resubmit = submission(ref.job, attempt: next, resync: false)
            }
        }
        onAcknowledge?(update)
        var actions = client.acknowledge(update, now: now)
        if let resubmit { actions += client.submit([resubmit], now: now).actions }
        return actions
    }

    /// A FETCH from a worker (`latest`, for a restore), or a CHUNK answering an upload's FETCH.
    mutating func answer(_ transfer: Transfer, now: ContinuousClock.Instant) -> [ClientAction] {
        guard transfer.kind == .fetch else { return received(chunk: transfer, now: now) }
        guard let checkpoint = store.trials[transfer.job]?.checkpoint else {
            return client.transfer(transfer.answer(ChunkHeader(none: true)), now: now)
        }
        let manifest = CheckpointManifest(job: transfer.job, attempt: checkpoint.attempt, seq: checkpoint.seq,
                                          files: [SimulatedTrialOutput.stepFile(job: transfer.job, step: checkpoint.step)])
        return client.transfer(transfer.answer(ChunkHeader(checkpoint: manifest)), now: now)
    }
}

/// The metric lines and checkpoints of simulated trials, as the worker sends them.
enum SimulatedTrialOutput {
    struct Fields {
        var loss: Double?
        var step: Int?
        var error: String?
    }

    static func fields(_ payload: Frame) -> Fields {
        guard let object = (try? JSONValue(parsing: payload))?.object else { return Fields() }
        var fields = Fields()
        fields.loss = object["loss"]?.double
        fields.step = object["step"]?.double.map { Int($0) }
        if case .string(let text)? = object["error"] { fields.error = text }
        return fields
    }

    static func metrics(step: Int, loss: Double) -> Frame {
        var w = JSONObjectWriter()
        w.add("step", step)
        w.add("loss", loss)
        return w.finish()
    }

    static func failure(_ error: String) -> Frame {
        var w = JSONObjectWriter()
        w.add("error", error)
        return w.finish()
    }

    /// The checkpoint's one file: the step counter (its hash names the step, its blob is not
    /// modelled).
    static func stepFile(job: String, step: Int) -> CheckpointFile {
        CheckpointFile(path: "step", sha256: "sim-\(job)-step-\(step)", size: Int64(step))
    }

    /// The CHECKPOINT payload: the metrics and the checkpoint's manifest.
    static func checkpoint(step: Int, loss: Double, manifest: CheckpointManifest) -> Frame {
        var w = JSONObjectWriter()
        w.add("step", step)
        w.add("loss", loss)
        w.addRaw(CheckpointManifest.payloadKey, json: JSONCoding.encode(manifest))
        return w.finish()
    }

    static func manifest(_ payload: Frame) -> CheckpointManifest? {
        guard let object = (try? JSONValue(parsing: payload))?.object, let value = object[CheckpointManifest.payloadKey] else { return nil }
        return try? JSONDecoder().decode(CheckpointManifest.self, from: Data(JSONCoding.encode(value)))
    }

    static func step(of manifest: CheckpointManifest) -> Int? {
        manifest.files.first { $0.path == "step" }.map { Int($0.size) }
    }
}

/// Checkpoint uploads, as the optimizer's `CheckpointVault` does them: the blobs the store lacks
/// are pulled from the worker with the real `ChunkTransfer`; the CHECKPOINT is stored and
/// acknowledged only when every blob is in; one upload per attempt, a newer checkpoint waits
/// behind it (replacing one that waits), and a result of the attempt waits for the upload.
extension StandInOptimizer {
    struct UploadKey: Hashable, Comparable {
        var job: String
        var lease: UInt64
        static func < (a: UploadKey, b: UploadKey) -> Bool { (a.job, a.lease) < (b.job, b.lease) }
    }

    struct Upload {
        var update: Update
        var manifest: CheckpointManifest
        var transfer: ChunkTransfer
        var waiting: (update: Update, manifest: CheckpointManifest)?
        var deferred: [Update] = []
    }

    mutating func upload(_ update: Update, _ manifest: CheckpointManifest, now: ContinuousClock.Instant) -> [ClientAction] {
        let key = UploadKey(job: update.attempt.job, lease: update.attempt.lease)
        if var upload = uploads[key] {
            // A resend of the checkpoint in flight, or of the one waiting: nothing new.
            if upload.update.seq == update.seq || upload.waiting?.update.seq == update.seq { return [] }
            var actions: [ClientAction] = []
            if let replaced = upload.waiting {
                // Superseded while it waited: its metrics are kept as a report, nothing else.
                store.storeReport(replaced.update)
                onAcknowledge?(replaced.update)
                actions += client.acknowledge(replaced.update, now: now)
            }
            upload.waiting = (update, manifest)
            uploads[key] = upload
            return actions
        }
        return begin(update, manifest, key: key, deferred: [], now: now)
    }

    mutating func begin(_ update: Update, _ manifest: CheckpointManifest, key: UploadKey, deferred: [Update],
                        now: ContinuousClock.Instant) -> [ClientAction] {
        let missing = manifest.blobs.filter { !store.blobs.contains($0.key) }
        var transfer = ChunkTransfer(blobs: missing, firstRequest: nextRequest)
        nextRequest += 1 << 16
        let steps = transfer.start(now: now)
        uploads[key] = Upload(update: update, manifest: manifest, transfer: transfer, deferred: deferred)
        return carryOut(steps, key: key, now: now)
    }

    mutating func received(chunk: Transfer, now: ContinuousClock.Instant) -> [ClientAction] {
        let key = UploadKey(job: chunk.job, lease: chunk.lease)
        guard var upload = uploads[key], upload.transfer.isOutstanding(chunk.request),
              let header = try? JSONDecoder().decode(ChunkHeader.self, from: Data(chunk.body)) else { return [] }
        if let error = header.error {
            let steps = upload.transfer.refused(request: chunk.request, reason: "the worker answered: \(error)")
            uploads[key] = upload
            return carryOut(steps, key: key, now: now)
        }
        guard let sha = header.sha256, let offset = header.offset else { return [] }
        let (_, steps) = upload.transfer.received(request: chunk.request, blob: sha, offset: offset, count: chunk.data.count, now: now)
        uploads[key] = upload
        return carryOut(steps, key: key, now: now)
    }

    mutating func carryOut(_ steps: [ChunkTransfer.Action], key: UploadKey, now: ContinuousClock.Instant) -> [ClientAction] {
        var actions: [ClientAction] = []
        for step in steps {
            switch step {
            case .fetch(let request, let blob, let offset, let length):
                let body = FetchBody(op: FetchBody.blob, sha256: blob, offset: offset, length: length)
                actions += client.transfer(Transfer.fetch(job: key.job, lease: key.lease, request: request, body), now: now)
            case .blobComplete(let blob):
                store.blobs.insert(blob)
            case .finished:
                guard let upload = uploads.removeValue(forKey: key) else { continue }
                store.storeCheckpoint(upload.update, step: SimulatedTrialOutput.step(of: upload.manifest) ?? 0)
                onAcknowledge?(upload.update)
                actions += client.acknowledge(upload.update, now: now)
                actions += next(after: upload, key: key, now: now)
            case .failed(let reason):
                // It stays unacknowledged: the worker sends it again, which starts a new upload.
                guard let upload = uploads.removeValue(forKey: key) else { continue }
                failedUploads.append("\(upload.update.attempt) seq \(upload.update.seq): \(reason)")
                actions += next(after: upload, key: key, now: now)
            }
        }
        return actions
    }

    /// After an upload ends: the checkpoint that waited behind it, or the results that waited.
    mutating func next(after upload: Upload, key: UploadKey, now: ContinuousClock.Instant) -> [ClientAction] {
        if let waiting = upload.waiting {
            return begin(waiting.update, waiting.manifest, key: key, deferred: upload.deferred, now: now)
        }
        var actions: [ClientAction] = []
        for update in upload.deferred { actions += record(update, now: now) }
        return actions
    }
}
