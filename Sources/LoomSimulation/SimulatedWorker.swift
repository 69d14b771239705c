import Foundation
import LoomWire
import LoomWorker

/// A worker process: the real `WorkerStateMachine`, its simulated trial processes, and its
/// work directory as a simulated disk (each job's checkpoint directory survives the worker's
/// crash; the processes and the machine do not).
struct SimulatedWorker {
    /// A trial process (or an attempt still restoring its checkpoint before it starts).
    struct Trial {
        enum Phase: Equatable {
            /// FETCH `latest` sent as `request`; the attempt fails at `deadline`.
            case restoring(request: UInt64, deadline: SimTime)
            /// The fetched checkpoint's directory is being rebuilt on the background thread.
            case rebuilding
            case running
            /// Killed; its exit comes with `.trialKilled`.
            case stopping
        }

        var ref: AttemptRef
        var phase: Phase
        /// Steps done (counting from the checkpoint it resumed from).
        var step = 0
        /// Steps this attempt ran itself.
        var ranSteps = 0
        var hung = false
        /// The newest checkpoint the optimizer had acknowledged when the worker took the ASSIGN.
        var acknowledgedStep: Int?
        /// The checkpoint it resumed from (`CheckpointOrigin`: snapshotted here, or restored).
        var resumedFrom: SimulatedWorker.LocalCheckpoint?

        /// Whether its process was started (not still restoring its checkpoint).
        var hasStarted: Bool {
            switch phase {
            case .restoring, .rebuilding: false
            case .running, .stopping: true
            }
        }
    }

    /// `checkpoint.json` (`CheckpointOrigin`): the attempt, seq and step of the job's last
    /// snapshot taken or checkpoint restored here.
    struct LocalCheckpoint {
        var attempt: UInt32
        var seq: UInt64
        var step: Int
        /// Its CHECKPOINT's metrics, when this worker took the snapshot (nil when restored).
        var metrics: Frame? = nil
    }

    let index: Int
    var machine: WorkerStateMachine?
    var trials: [UInt64: Trial] = [:]
    var checkpoints: [String: LocalCheckpoint] = [:]
    /// `<job dir>/checkpoint`: the step whose file each job's checkpoint directory holds (the
    /// trial writes it at every step; a restore replaces it).
    var directories: [String: Int] = [:]
    /// When the background thread (one, serial: `BackgroundWork`) is done with what it was given.
    var backgroundFreeAt: SimTime = 0
    var nextRequest: UInt64 = 1
    /// The blob cache (`.blobs`): wiped when the worker restarts.
    var blobs: Set<String> = []
    /// Snapshots still referenced, per job: (lease, seq, blob), oldest first.
    var snapshots: [String: [(lease: UInt64, seq: UInt64, blob: String)]] = [:]

    var id: String { "w\(index)" }
}

extension Simulation {
    func startWorker(_ i: Int) {
        let config = WorkerConfig(workerID: workers[i].id, slots: config.slotsPerWorker, gpus: 0, heartbeat: .seconds(1),
                                  liveness: 3, host: "sim", pid: Int32(100 + i), version: "sim")
        workers[i].machine = WorkerStateMachine(config: config, now: instant)
        workers[i].trials = [:]
        workers[i].blobs = []
        workers[i].snapshots = [:]
        workers[i].backgroundFreeAt = 0
        performWorker(i, workers[i].machine!.start(now: instant))
        arm(.worker(i))
    }

    func crashWorker(_ i: Int) {
        // Its trials die with it (parent-death signal); its checkpoint directories stay on disk.
        if let machine = workers[i].machine {
            for ref in machine.heldAttempts { checker.workerLostUpdates(of: ref) }
        }
        workers[i].machine = nil
        workers[i].trials = [:]
    }

    func receivedByWorker(_ i: Int, _ frames: [Frame]) {
        guard workers[i].machine != nil else { return }
        if case .ack(let job, let lease, let seq)? = try? WireDecoder.brokerToWorker(frames),
           workers[i].machine!.isUnacknowledged(lease: lease, seq: seq) {
            checker.workerAcknowledged(job: job, lease: lease, seq: seq, store: store, at: now)
        }
        performWorker(i, workers[i].machine!.received(frames, now: instant))
        arm(.worker(i))
    }

    func performWorker(_ i: Int, _ actions: [WorkerAction]) {
        for action in actions {
            guard workers[i].machine != nil else { return }
            switch action {
            case .connect: openSocket(for: .worker(i))
            case .send(let frames):
                note("w\(i) → \(TraceText.inbound(frames))")
                send(from: .worker(i), frames)
            case .startTrial(let ref, _): startTrial(i, ref)
            case .stopTrial(let lease, let reason): stopTrial(i, lease: lease, reason: reason)
            case .snapshot(let ref, let metrics): beginSnapshot(i, ref, metrics: metrics)
            case .transfer(let transfer):
                if transfer.kind == .fetch {
                    performWorker(i, workers[i].machine!.sendTransfer(serve(i, transfer), now: instant))
                } else {
                    receivedTransfer(i, transfer)
                }
            case .exit:
                note("w\(i) exits")
                alive.remove(.worker(i))
                workers[i].machine = nil
                closeSocket(of: .worker(i))
            }
        }
    }

    // MARK: - Trials

    func startTrial(_ i: Int, _ ref: AttemptRef) {
        var trial = SimulatedWorker.Trial(ref: ref, phase: .running)
        // S6 is about retries: the newest checkpoint an earlier attempt had stored when this one
        // was assigned. (A late ASSIGN of an attempt already superseded is fenced, not checked.)
        if ref.attempt > 1, let stored = store.trials[ref.job]?.checkpoint, stored.attempt < ref.attempt {
            trial.acknowledgedStep = stored.step
        }
        guard ref.attempt > 1 else {
            workers[i].trials[ref.lease] = trial
            return launch(i, lease: ref.lease, from: 0)
        }
        // A retry first asks the optimizer for the newest stored checkpoint (FETCH `latest`).
        let request = takeRequest(i)
        trial.phase = .restoring(request: request, deadline: now + SimTime.of(.seconds(120)))
        workers[i].trials[ref.lease] = trial
        askLatest(i, ref, request: request)
    }

    func takeRequest(_ i: Int) -> UInt64 {
        defer { workers[i].nextRequest += 1 }
        return workers[i].nextRequest
    }

    func askLatest(_ i: Int, _ ref: AttemptRef, request: UInt64) {
        let fetch = Transfer.fetch(job: ref.job, lease: ref.lease, request: request, FetchBody(op: FetchBody.latest, job: ref.job))
        performWorker(i, workers[i].machine!.sendTransfer(fetch, now: instant))
        schedule(.restoreRetry(worker: i, incarnation: incarnation[.worker(i)]!, lease: ref.lease, request: request),
                 at: now + SimTime.of(.seconds(2)))
    }

    func restoreRetry(worker i: Int, lease: UInt64, request: UInt64) {
        guard let trial = workers[i].trials[lease], case .restoring(request, let deadline) = trial.phase else { return }
        if now >= deadline {
            workers[i].trials[lease] = nil
            performWorker(i, workers[i].machine!.trialExited(trial.ref, kind: .failed,
                                                             payload: SimulatedTrialOutput.failure("cannot restore its checkpoint"), now: instant))
            return arm(.worker(i))
        }
        let next = takeRequest(i)
        workers[i].trials[lease]!.phase = .restoring(request: next, deadline: deadline)
        askLatest(i, trial.ref, request: next)
        arm(.worker(i))
    }

    /// A CHUNK answering a restore's FETCH `latest` (the optimizer does not pull blobs here).
    func receivedTransfer(_ i: Int, _ transfer: Transfer) {
        guard transfer.kind == .chunk, let trial = workers[i].trials[transfer.lease],
              case .restoring(let request, _) = trial.phase, transfer.request == request,
              let header = try? JSONDecoder().decode(ChunkHeader.self, from: Data(transfer.body)) else { return }
        if header.error != nil { return }
        let job = trial.ref.job
        let local = workers[i].checkpoints[job]
        guard let manifest = header.checkpoint, let stored = SimulatedTrialOutput.step(of: manifest),
              !(local.map { manifest.isHeld(byAttempt: $0.attempt, seq: $0.seq) } ?? false) else {
            // What the job's directory holds here is what is stored, or a later checkpoint of the
            // same attempt (`WorkerCheckpoints.received`): the trial resumes from it as it is.
            return launch(i, lease: transfer.lease, from: workers[i].directories[job] ?? 0)
        }
        // The blobs come (not modelled), then the background thread rebuilds the directory and
        // swaps it in; the trial starts after.
        workers[i].trials[transfer.lease]!.phase = .rebuilding
        let origin = SimulatedWorker.LocalCheckpoint(attempt: manifest.attempt, seq: manifest.seq, step: stored)
        let done = background(i, takes: plans[job]!.restoreTime)
        schedule(.restoreRebuilt(worker: i, incarnation: incarnation[.worker(i)]!, lease: transfer.lease, origin: origin), at: done)
    }

    /// The rebuilt directory is swapped in; the trial starts from it (or, when its attempt was
    /// stopped meanwhile, the directory is still swapped in and nothing starts).
    func restoreRebuilt(worker i: Int, lease: UInt64, origin: SimulatedWorker.LocalCheckpoint) {
        guard let trial = workers[i].trials[lease] else { return }
        workers[i].directories[trial.ref.job] = origin.step
        workers[i].checkpoints[trial.ref.job] = origin
        guard trial.phase == .rebuilding else { return }
        launch(i, lease: lease, from: origin.step)
        arm(.worker(i))
    }

    /// Queues work of `duration` on the worker's background thread; returns when it is done.
    func background(_ i: Int, takes duration: Duration) -> SimTime {
        let done = max(now, workers[i].backgroundFreeAt) + SimTime.of(duration)
        workers[i].backgroundFreeAt = done
        return done
    }

    /// The trial process starts, resuming at `step`.
    func launch(_ i: Int, lease: UInt64, from step: Int) {
        guard var trial = workers[i].trials[lease] else { return }
        trial.phase = .running
        trial.step = step
        trial.resumedFrom = step > 0 ? workers[i].checkpoints[trial.ref.job] : nil
        workers[i].trials[lease] = trial
        checker.attemptStarted(trial.ref, from: step, acknowledged: trial.acknowledgedStep, at: now)
        note("w\(i) runs \(trial.ref) from step \(step)")
        performWorker(i, workers[i].machine!.trialStarted(trial.ref, now: instant))
        scheduleStep(i, lease: lease, after: stepTime(trial))
    }

    func stepTime(_ trial: SimulatedWorker.Trial) -> Duration {
        let plan = plans[trial.ref.job]!
        if trial.step >= plan.steps { return .milliseconds(1) }
        return plan.behaviour(attempt: trial.ref.attempt) == .slow ? plan.stepTime * 4 : plan.stepTime
    }

    func scheduleStep(_ i: Int, lease: UInt64, after delay: Duration) {
        schedule(.trialStep(worker: i, incarnation: incarnation[.worker(i)]!, lease: lease), at: now + SimTime.of(delay))
    }

    func trialStep(worker i: Int, lease: UInt64) {
        guard var trial = workers[i].trials[lease], trial.phase == .running, workers[i].machine != nil else { return }
        let plan = plans[trial.ref.job]!
        if trial.step >= plan.steps {
            // The last line was printed: exit 0 with the value this trial computes.
            workers[i].trials[lease] = nil
            checker.trialExited(trial.ref, value: plan.value, printed: trial.ranSteps > 0)
            note("w\(i): \(trial.ref) exits 0")
            performWorker(i, workers[i].machine!.trialExited(trial.ref, kind: .final,
                                                             payload: SimulatedTrialOutput.final(step: trial.step, loss: plan.value,
                                                                                                       reports: trial.ranSteps,
                                                                                                       resumed: trial.resumedFrom),
                                                             now: instant))
            return arm(.worker(i))
        }
        switch plan.behaviour(attempt: trial.ref.attempt) {
        case .crash(let after) where trial.ranSteps == after:
            workers[i].trials[lease] = nil
            note("w\(i): \(trial.ref) exits 1")
            performWorker(i, workers[i].machine!.trialExited(trial.ref, kind: .failed,
                                                             payload: SimulatedTrialOutput.failure("exit code 1"), now: instant))
            return arm(.worker(i))
        case .hang(let after, let pause) where trial.ranSteps == after && !trial.hung:
            trial.hung = true
            workers[i].trials[lease] = trial
            note("w\(i): \(trial.ref) hangs for \(pause)")
            return scheduleStep(i, lease: lease, after: pause)
        default: break
        }
        trial.step += 1
        trial.ranSteps += 1
        workers[i].trials[lease] = trial
        // The trial writes its checkpoint, then prints the line that announces it; the worker
        // snapshots the directory into its blob cache and puts the manifest in the CHECKPOINT.
        workers[i].directories[trial.ref.job] = trial.step
        let loss = plan.loss(atStep: trial.step)
        let metrics = SimulatedTrialOutput.metrics(step: trial.step, loss: loss)
        performWorker(i, workers[i].machine!.trialReported(trial.ref, metrics: metrics, checkpoint: true, now: instant))
        scheduleStep(i, lease: lease, after: stepTime(trial))
        arm(.worker(i))
    }

    /// `.snapshot`: the agent hands the copy of the job's checkpoint directory to its background
    /// thread, behind whatever that thread was given before; the loop (heartbeats, other trials'
    /// updates) goes on meanwhile.
    func beginSnapshot(_ i: Int, _ ref: AttemptRef, metrics: Frame) {
        let done = background(i, takes: plans[ref.job]!.snapshotTime)
        schedule(.snapshotTaken(worker: i, incarnation: incarnation[.worker(i)]!, ref: ref, metrics: metrics), at: done)
    }

    /// The snapshot is done (`WorkerCheckpoints.snapshotFinished`): the directory's file, as the
    /// copy found it when it finished (the trial may have written newer steps since it announced
    /// this one), is in the blob cache; the manifest goes in the CHECKPOINT numbered
    /// `nextUpdateSeq`, and `checkpoint.json` records it.
    func snapshotTaken(worker i: Int, ref: AttemptRef, metrics: Frame) {
        guard workers[i].machine != nil else { return }
        let job = ref.job
        // Labelled as the agent labels it: the newest line the trial printed by now.
        let metrics = workers[i].machine!.snapshotLabel(lease: ref.lease) ?? metrics
        var payload = metrics
        if let seq = workers[i].machine!.nextUpdateSeq(lease: ref.lease), let step = workers[i].directories[job] {
            let file = SimulatedTrialOutput.stepFile(job: job, step: step)
            workers[i].blobs.insert(file.sha256)
            workers[i].snapshots[job, default: []].append((ref.lease, seq, file.sha256))
            workers[i].checkpoints[job] = SimulatedWorker.LocalCheckpoint(attempt: ref.attempt, seq: seq, step: step, metrics: metrics)
            let fields = SimulatedTrialOutput.fields(metrics)
            let manifest = CheckpointManifest(job: job, attempt: ref.attempt, seq: seq, files: [file])
            payload = SimulatedTrialOutput.checkpoint(step: fields.step ?? step, loss: fields.loss ?? .nan, manifest: manifest)
        }
        note("w\(i): snapshot of \(ref) taken")
        performWorker(i, workers[i].machine!.snapshotTaken(ref, payload: payload, now: instant))
        arm(.worker(i))
    }

    func stopTrial(_ i: Int, lease: UInt64, reason: String) {
        guard let trial = workers[i].trials[lease] else { return }
        if !trial.hasStarted {
            // It never started: it ends here, as the agent ends a restore it abandons.
            workers[i].trials[lease] = nil
            performWorker(i, workers[i].machine!.trialExited(trial.ref, kind: .failed,
                                                             payload: SimulatedTrialOutput.failure("cancelled: \(reason)"), now: instant))
            return
        }
        workers[i].trials[lease]!.phase = .stopping
        schedule(.trialKilled(worker: i, incarnation: incarnation[.worker(i)]!, lease: lease, reason: reason),
                 at: now + SimTime.of(.milliseconds(10)))
    }

    func trialKilled(worker i: Int, lease: UInt64, reason: String) {
        guard let trial = workers[i].trials.removeValue(forKey: lease), workers[i].machine != nil else { return }
        note("w\(i): \(trial.ref) killed (\(reason))")
        performWorker(i, workers[i].machine!.trialExited(trial.ref, kind: .failed,
                                                         payload: SimulatedTrialOutput.failure("stopped: \(reason)"), now: instant))
        arm(.worker(i))
    }
}

/// The worker's blob cache, as `WorkerCheckpoints` keeps it: snapshots are dropped by the same
/// rule (`collectGarbage`, every loop turn), and FETCHes for blobs are served from what is left.
extension Simulation {
    /// `WorkerCheckpoints.collectGarbage`: drops the snapshots of jobs the worker no longer
    /// holds, and the acknowledged ones that are not their job's newest; deletes their blobs.
    func collectGarbage(_ i: Int) {
        guard let machine = workers[i].machine else { return }
        let held = Set(machine.heldAttempts.map(\.job))
        var candidates: Set<String> = []
        for (job, list) in workers[i].snapshots {
            guard held.contains(job) else {
                candidates.formUnion(list.map(\.blob))
                workers[i].snapshots[job] = nil
                continue
            }
            let kept = list.enumerated().filter { $0.offset == list.count - 1 || machine.isUnacknowledged(lease: $0.element.lease, seq: $0.element.seq) }.map(\.element)
            guard kept.count < list.count else { continue }
            candidates.formUnion(list.map(\.blob))
            workers[i].snapshots[job] = kept
        }
        guard !candidates.isEmpty else { return }
        let live = Set(workers[i].snapshots.values.joined().map(\.blob))
        for blob in candidates where !live.contains(blob) { workers[i].blobs.remove(blob) }
    }

    /// `WorkerCheckpoints.serve`: a blob range from the cache, or an error.
    func serve(_ i: Int, _ fetch: Transfer) -> Transfer {
        guard let body = try? JSONDecoder().decode(FetchBody.self, from: Data(fetch.body)), body.op == FetchBody.blob,
              let sha = body.sha256, let offset = body.offset, let length = body.length else {
            return fetch.answer(ChunkHeader(error: "a worker answers only {\"op\": \"blob\", \"sha256\", \"offset\", \"length\"}"))
        }
        guard workers[i].blobs.contains(sha) else {
            note("w\(i): no blob \(sha) in .blobs")
            return fetch.answer(ChunkHeader(error: "no blob \(sha) in .blobs"))
        }
        return fetch.answer(ChunkHeader(sha256: sha, offset: offset), data: [UInt8](repeating: 0, count: max(0, length)))
    }
}
