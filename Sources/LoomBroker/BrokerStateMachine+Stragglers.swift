import DequeModule
import LoomWire

/// Stragglers: stalled attempts, slow attempts (speculative backups) and slow workers.
///
/// **Stalled.** An attempt that has STARTED and then says nothing (no REPORT or CHECKPOINT) for
/// its stall timeout is cancelled (CANCEL "stalled") and its job gets the next attempt, on another
/// worker when one can take it; the stalled attempt's later updates are stale. It counts towards
/// the job's `maxAttempts` like a lost attempt.
/// **Slow.** An attempt that has run more than `slowAttemptFactor` medians of its completed peers
/// while a worker that is not slow has room no queued job can use gets one backup copy (the next
/// attempt number, on another worker). While both copies run, both report; the first FINAL wins and
/// the other copy is cancelled (CANCEL "superseded") and fenced. A copy that fails or is lost
/// while the other runs simply ends: the other goes on as the job's attempt.
/// **Slow workers.** Every message from a worker updates a moving average of how late it came
/// past the worker's heartbeat interval; above `slowWorkerLateness` intervals the worker is slow
/// and gets no new jobs (nor backups) until the average falls below `recoveredWorkerLateness`.
extension BrokerStateMachine {
    var policy: StragglerPolicy { config.stragglers }

    // MARK: - Progress

    /// A REPORT or CHECKPOINT of the job's current attempt (first delivery) or its FINAL: notes
    /// the report interval, or the attempt's duration for its peers.
    mutating func noteProgress(_ update: Update, now: ContinuousClock.Instant) {
        let ref = update.attempt
        guard let lease = leases[ref.lease] else { return }
        switch update.kind {
        case .report, .checkpoint:
            if let last = lease.lastReportAt, var job = jobs[ref.job] {
                job.reportIntervals.append(last.duration(to: now))
                if job.reportIntervals.count > StragglerPolicy.reportIntervalWindow { job.reportIntervals.removeFirst() }
                jobs[ref.job] = job
            }
            leases[ref.lease]?.lastReportAt = now
        case .final:
            guard let startedAt = lease.startedAt, let group = jobs[ref.job]?.hints.peers else { return }
            recordPeerDuration(startedAt.duration(to: now), group: group)
        case .failed:
            break
        }
    }

    mutating func recordPeerDuration(_ duration: Duration, group: PeerGroup) {
        if peerDurations[group] == nil {
            peerGroupOrder.append(group)
            while peerGroupOrder.count > policy.peerGroupCapacity, let oldest = peerGroupOrder.popFirst() {
                peerDurations[oldest] = nil
            }
        }
        peerDurations[group, default: []].append(duration)
        if peerDurations[group]!.count > policy.peerWindow { peerDurations[group]!.removeFirst() }
    }

    /// The stall timeout of an attempt of `job`: the spec's, or derived from its report interval;
    /// nil while nothing can be derived.
    func stallTimeout(of job: JobRecord) -> Duration? {
        if let explicit = job.hints.stallTimeout { return explicit }
        guard job.reportIntervals.count >= policy.stallMinimumIntervals,
              let median = Duration.median(job.reportIntervals) else { return nil }
        return max(median * policy.stallIntervalFactor, policy.minimumStallTimeout)
    }

    /// The median duration of the completed peers of `group`, when there are enough of them.
    func peerMedian(_ group: PeerGroup) -> (median: Duration, peers: Int)? {
        guard let durations = peerDurations[group], durations.count >= policy.slowAttemptMinimumPeers,
              let median = Duration.median(durations) else { return nil }
        return (median, durations.count)
    }

    // MARK: - The sweep

    /// Part of every sweep: cancels stalled attempts, then starts backups of slow ones.
    mutating func sweepStragglers(now: ContinuousClock.Instant) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        let running = leases.keys.sorted()
        for id in running {
            guard let lease = leases[id], lease.status == .active, let job = jobs[lease.job], !job.payload.isEmpty,
                  job.lease == id || job.backup == id, let since = lease.lastReportAt ?? lease.startedAt,
                  let timeout = stallTimeout(of: job), now >= since + timeout else { continue }
            actions += attemptStalled(id, silentFor: since.duration(to: now), timeout: timeout, now: now)
        }
        guard !stopping, !peerDurations.isEmpty else { return actions }
        var idleRoomChecked = false
        for id in running {
            guard let lease = leases[id], lease.status == .active, let startedAt = lease.startedAt,
                  let job = jobs[lease.job], job.lease == id, job.backup == nil, job.state == .running(started: true),
                  !job.payload.isEmpty, let (median, peers) = peerMedian(job.hints.peers) else { continue }
            let ran = startedAt.duration(to: now)
            guard ran > max(median * policy.slowAttemptFactor, policy.slowAttemptMinimumRuntime) else { continue }
            if !idleRoomChecked {
                // Queued work comes first: a backup only takes room nothing else waits for.
                if queuedJobCouldStart() { return actions }
                idleRoomChecked = true
            }
            guard let target = pickWorker(for: job, excluding: lease.worker) else { continue }
            actions += startBackup(of: job, on: target, ran: ran, median: median, peers: peers, now: now)
        }
        return actions
    }

    /// Whether some queued job fits a worker that takes new jobs right now.
    func queuedJobCouldStart() -> Bool {
        queue.contains { id in
            guard let job = jobs[id], job.state == .queued else { return false }
            return workers.values.contains { !$0.slow && $0.fits(job.requirements) }
        }
    }

    // MARK: - Stalled attempts

    /// Cancels a stalled attempt; the other copy goes on, or the job gets its next attempt (or
    /// fails when its attempts are used up).
    mutating func attemptStalled(_ id: UInt64, silentFor silence: Duration, timeout: Duration,
                                 now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let lease = leases[id], var job = jobs[lease.job] else { return [] }
        leases[id]?.status = .stalled
        counters.stalled += 1
        let reason = "stalled: no report for \(Self.secondsText(silence)) (stall timeout \(Self.secondsText(timeout)))"
        var actions: [BrokerAction] = [
            send(toWorker: lease.worker, BrokerToWorker.cancel(job: lease.job, lease: id, reason: CancelReason.stalled).frames, now: now),
            publish("job/\(lease.job)/stalled", event: "stalled") { w in
                w.add("job", lease.job)
                w.add("attempt", lease.attempt)
                w.add("lease", id)
                w.add("worker", lease.worker)
                w.add("silent_s", silence.seconds)
                w.add("stall_timeout_s", timeout.seconds)
            },
        ]
        if job.backup != nil {
            actions += copyEnded(lease, id: id, job: &job, reason: reason)
            jobs[job.id] = job
            return actions + dispatch(now: now)
        }
        job.lostOn.insert(lease.worker)
        job.worker = nil
        let maxAttempts = job.requirements.maxAttempts
        if maxAttempts > 0 && job.started >= maxAttempts {
            jobs[job.id] = job
            return actions + failJob(job.id, attempt: AttemptRef(job: job.id, attempt: lease.attempt, lease: id),
                                     error: "attempt \(lease.attempt) \(reason), and all \(maxAttempts) attempts are used",
                                     now: now)
        }
        job.state = .queued
        jobs[job.id] = job
        queue.append(job.id)
        counters.requeued += 1
        actions.append(publish("job/\(job.id)/requeued", event: "requeued") { w in
            w.add("job", job.id)
            w.add("attempt", lease.attempt)
            w.add("next_attempt", job.nextAttempt)
            w.add("worker", lease.worker)
            w.add("reason", reason)
        })
        return actions + dispatch(now: now)
    }

    static func secondsText(_ d: Duration) -> String {
        let s = d.seconds
        return s.rounded() == s ? "\(Int(s))s" : "\((s * 10).rounded() / 10)s"
    }

    // MARK: - Speculative backups

    /// Starts the backup copy of a slow attempt: the job's next attempt number, on `workerID`. A
    /// backup does not use one of the job's `maxAttempts` (it is not a retry).
    mutating func startBackup(of job: JobRecord, on workerID: String, ran: Duration, median: Duration, peers: Int,
                              now: ContinuousClock.Instant) -> [BrokerAction] {
        var job = job
        let lease = nextLease()
        let attempt = job.nextAttempt
        job.nextAttempt += 1
        job.backup = lease
        jobs[job.id] = job
        addLease(lease, job: job, worker: workerID, status: .active, attempt: attempt)
        counters.assigned += 1
        counters.speculated += 1
        let ref = AttemptRef(job: job.id, attempt: attempt, lease: lease)
        let running = job.attempt
        let runningWorker = job.worker ?? ""
        return [
            send(toWorker: workerID, BrokerToWorker.assign(ref, payload: job.payload).frames, now: now),
            publish("job/\(job.id)/speculated", event: "speculated") { w in
                w.add("job", job.id)
                w.add("attempt", running)
                w.add("worker", runningWorker)
                w.add("backup_attempt", attempt)
                w.add("backup_lease", lease)
                w.add("backup_worker", workerID)
                w.add("ran_s", ran.seconds)
                w.add("peer_median_s", median.seconds)
                w.add("peers", peers)
            },
            publish("job/\(job.id)/assigned", event: "assigned") { w in
                w.add("job", job.id)
                w.add("attempt", attempt)
                w.add("lease", lease)
                w.add("worker", workerID)
                w.add("backup", true)
            },
        ]
    }

    /// STARTED from a backup copy: published and forwarded like any attempt's.
    mutating func backupStarted(_ ref: AttemptRef, worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let lease = leases[ref.lease], lease.worker == worker, lease.status == .active, let job = jobs[ref.job] else {
            counters.stale += 1
            return []
        }
        if lease.startedAt == nil { leases[ref.lease]?.startedAt = now }
        var actions = [publish("job/\(ref.job)/started", event: "started") { w in
            w.add("job", ref.job)
            w.add("attempt", ref.attempt)
            w.add("lease", ref.lease)
            w.add("worker", worker)
            w.add("backup", true)
        }]
        if let owner = job.owner {
            actions += sendIfConnected(toClient: owner, BrokerToClient.started(ref, worker: worker).frames, now: now)
        }
        return actions
    }

    /// An update from either copy of a job that has a backup. Reports of the backup are published
    /// and forwarded here (`handled`); the first FINAL makes its copy the job's attempt and
    /// supersedes the other, then the usual path delivers it; a FAILED copy ends here while the
    /// other goes on. Anything else is left to the usual path.
    mutating func resolveSpeculation(_ update: Update, worker: String, now: ContinuousClock.Instant)
        -> (actions: [BrokerAction], handled: Bool) {
        let ref = update.attempt
        guard var job = jobs[ref.job], let backup = job.backup, let primary = job.lease,
              let lease = leases[ref.lease], lease.worker == worker, lease.status == .active,
              ref.lease == backup || (ref.lease == primary && job.worker == worker) else { return ([], false) }
        let fromBackup = ref.lease == backup
        switch update.kind {
        case .report, .checkpoint:
            guard fromBackup else { return ([], false) }
            var actions: [BrokerAction] = []
            if update.seq > lease.publishedSeq {
                leases[ref.lease]?.publishedSeq = update.seq
                leases[ref.lease]?.lastReportAt = now
                actions.append(updateEvent(update, worker: worker, backup: true))
            }
            if let owner = job.owner { actions += sendIfConnected(toClient: owner, BrokerToClient.update(update).frames, now: now) }
            return (actions, true)
        case .final:
            let actions = supersede(fromBackup ? primary : backup, winner: ref, now: now)
            if fromBackup { promoteBackup(&job) }
            job.backup = nil
            jobs[job.id] = job
            return (actions, false)
        case .failed:
            releaseLease(ref.lease)
            var actions = [send(toWorker: worker, BrokerToWorker.ack(job: ref.job, lease: ref.lease, seq: update.seq).frames, now: now)]
            actions += copyEnded(lease, id: ref.lease, job: &job, reason: "failed", payload: update.payload)
            jobs[job.id] = job
            return (actions + dispatch(now: now), true)
        }
    }

    /// Tells the losing copy to stop; its updates are stale from now on.
    mutating func supersede(_ loser: UInt64, winner: AttemptRef, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let lease = leases[loser] else { return [] }
        leases[loser]?.status = .superseded
        counters.superseded += 1
        return [
            send(toWorker: lease.worker, BrokerToWorker.cancel(job: lease.job, lease: loser, reason: CancelReason.superseded).frames, now: now),
            publish("job/\(lease.job)/superseded", event: "superseded") { w in
                w.add("job", lease.job)
                w.add("attempt", lease.attempt)
                w.add("lease", loser)
                w.add("worker", lease.worker)
                w.add("winner_attempt", winner.attempt)
                w.add("winner_lease", winner.lease)
            },
        ]
    }

    /// One copy of a job with a backup ended without a result: the other is the job's attempt now.
    mutating func copyEnded(_ lease: Lease, id: UInt64, job: inout JobRecord, reason: String, payload: Frame? = nil) -> [BrokerAction] {
        if job.lease == id { promoteBackup(&job) }
        job.backup = nil
        job.lostOn.insert(lease.worker)
        counters.copiesLost += 1
        let goesOn = job.attempt
        return [publish("job/\(lease.job)/copy_lost", event: "copy_lost", payload: payload) { w in
            w.add("job", lease.job)
            w.add("attempt", lease.attempt)
            w.add("lease", id)
            w.add("worker", lease.worker)
            w.add("reason", reason)
            w.add("continues", goesOn)
        }]
    }

    /// A lease of a job with a backup was lost with its worker: the other copy goes on. Nil when
    /// the job has no backup (the usual requeue applies).
    mutating func otherCopyGoesOn(after lease: Lease, id: UInt64, reason: String, now: ContinuousClock.Instant) -> [BrokerAction]? {
        guard lease.status == .active, var job = jobs[lease.job], job.backup != nil,
              job.lease == id || job.backup == id else { return nil }
        let actions = copyEnded(lease, id: id, job: &job, reason: reason)
        jobs[job.id] = job
        return actions
    }

    /// The backup becomes the job's current attempt.
    func promoteBackup(_ job: inout JobRecord) {
        guard let id = job.backup, let lease = leases[id] else { return }
        job.lease = id
        job.attempt = lease.attempt
        job.worker = lease.worker
        job.state = .running(started: lease.startedAt != nil)
        job.backup = nil
    }

    /// The feed event of an update (`report`, `checkpoint`, `finished`, `failed`).
    mutating func updateEvent(_ update: Update, worker: String, backup: Bool) -> BrokerAction {
        let ref = update.attempt
        let event = switch update.kind {
        case .report: "report"
        case .checkpoint: "checkpoint"
        case .final: "finished"
        case .failed: "failed"
        }
        return publish("job/\(ref.job)/\(event)", event: event, payload: update.payload) { w in
            w.add("job", ref.job)
            w.add("attempt", ref.attempt)
            w.add("lease", ref.lease)
            w.add("worker", worker)
            w.add("seq", update.seq)
            if backup { w.add("backup", true) }
        }
    }

    // MARK: - Slow workers

    /// Any message from a registered worker: its lateness past the heartbeat interval feeds the
    /// moving average that marks it slow or recovered.
    mutating func heard(fromWorker id: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard var worker = workers[id] else { return [] }
        let interval = worker.heartbeat.seconds
        let late = max(0, worker.lastHeard.duration(to: now).seconds - interval)
        worker.lastHeard = now
        worker.lateness += policy.latenessSmoothing * (late - worker.lateness)
        var actions: [BrokerAction] = []
        if !worker.slow, worker.lateness > policy.slowWorkerLateness * interval {
            worker.slow = true
            counters.slowWorkers += 1
            actions.append(workerPaceEvent(worker, event: "slow"))
        } else if worker.slow, worker.lateness < policy.recoveredWorkerLateness * interval {
            worker.slow = false
            actions.append(workerPaceEvent(worker, event: "recovered"))
        }
        workers[id] = worker
        if !actions.isEmpty, !worker.slow { actions += dispatch(now: now) }
        return actions
    }

    mutating func workerPaceEvent(_ worker: WorkerRecord, event: String) -> BrokerAction {
        publish("worker/\(worker.id)/\(event)", event: event) { w in
            w.add("worker", worker.id)
            w.add("lateness_ms", Int((worker.lateness * 1000).rounded()))
            w.add("heartbeat_ms", Int(worker.heartbeat.milliseconds))
        }
    }

    // MARK: - Status

    /// `stragglers` of the status document: slow workers, jobs running two copies, attempts told
    /// to stop for stalling whose worker has not confirmed it yet.
    func stragglersDocument(now: ContinuousClock.Instant) -> Frame {
        var w = JSONObjectWriter()
        w.addRaw("slow_workers", json: JSONCoding.encode(workerOrder.filter { workers[$0]?.slow == true }))
        var speculating: Frame = [UInt8(ascii: "[")]
        for job in jobs.values.sorted(by: { $0.id < $1.id }) {
            guard let backup = job.backup, let copy = leases[backup] else { continue }
            if speculating.count > 1 { speculating.append(UInt8(ascii: ",")) }
            var o = JSONObjectWriter()
            o.add("job", job.id)
            o.add("attempt", job.attempt)
            o.add("worker", job.worker ?? "")
            o.add("backup_attempt", copy.attempt)
            o.add("backup_worker", copy.worker)
            speculating += o.finish()
        }
        speculating.append(UInt8(ascii: "]"))
        w.addRaw("speculating", json: speculating)
        let stalled = leases.values.filter { $0.status == .stalled }.map { "\($0.job)#\($0.attempt)" }.sorted()
        w.addRaw("stalled", json: JSONCoding.encode(stalled))
        return w.finish()
    }
}
