import DequeModule
import LoomWire

/// Stragglers: stalled attempts, slow attempts (speculative backups) and slow workers.
///
/// **Stalled.** An attempt that has STARTED and then says nothing (no REPORT or CHECKPOINT) for
/// its stall timeout is cancelled (CANCEL "stalled") and its job gets the next attempt, on another
/// worker when one can take it; the stalled attempt's later updates are stale. It counts towards
/// the job's `maxAttempts` like a lost attempt.
/// **Exited.** A worker's HEARTBEAT may list attempts whose process has exited while their result
/// waits for a checkpoint snapshot (the FINAL must follow the CHECKPOINT). Such an attempt's silence
/// is not a stall: its stall clock stops, and it is cancelled as stalled only if its result has
/// not come `max(stall timeout, exitedResultTimeout)` after the exit (a snapshot that never ends).
/// Its worker's liveness still guards it: a worker lost is lost with its attempts.
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
            leases[ref.lease]?.pausedSinceReport = .zero
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
            if let lease = leases[id], let exited = lease.exitedAt {
                guard lease.status == .active, let job = jobs[lease.job], !job.payload.isEmpty, job.lease == id || job.backup == id
                else { continue }
                let limit = max(stallTimeout(of: job) ?? .zero, policy.exitedResultTimeout)
                if now >= exited + limit { actions += attemptStalled(id, silentFor: exited.duration(to: now), timeout: limit, now: now) }
                continue
            }
            guard let lease = leases[id], lease.status == .active, let job = jobs[lease.job], !job.payload.isEmpty,
                  job.lease == id || job.backup == id, let heard = lease.lastReportAt ?? lease.startedAt,
                  // The broker's own pauses are not the attempt's silence.
                  case let since = heard + lease.pausedSinceReport,
                  // No timeout is shorter than this: the median is only computed past it.
                  now >= since + (job.hints.stallTimeout ?? policy.minimumStallTimeout),
                  let timeout = stallTimeout(of: job), now >= since + timeout else { continue }
            actions += attemptStalled(id, silentFor: since.duration(to: now), timeout: timeout, now: now)
        }
        guard !stopping, !peerDurations.isEmpty else { return actions }
        var idleRoomChecked = false
        for id in running {
            guard let lease = leases[id], lease.status == .active, let startedAt = lease.startedAt,
                  let job = jobs[lease.job], job.lease == id, job.backup == nil, job.state == .running(started: true),
                  !job.payload.isEmpty, startedAt.duration(to: now) > policy.slowAttemptMinimumRuntime,
                  let (median, peers) = peerMedian(job.hints.peers) else { continue }
            let ran = startedAt.duration(to: now)
            guard ran > median * policy.slowAttemptFactor else { continue }
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

    /// HEARTBEAT with exited leases: the stall clocks of those attempts of this worker stop (see
    /// **Exited**). A lease of another worker, or no longer active, is ignored.
    mutating func attemptsExited(_ ids: [UInt64], worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        for id in ids where leases[id]?.worker == worker && leases[id]?.status == .active && leases[id]?.exitedAt == nil {
            leases[id]?.exitedAt = now
        }
        return []
    }

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
            publish(.stalled(AttemptRef(job: lease.job, attempt: lease.attempt, lease: id), worker: lease.worker,
                             silentS: silence.seconds, stallTimeoutS: timeout.seconds)),
        ]
        if job.backup != nil {
            actions += copyEnded(lease, id: id, job: &job, reason: reason, ended: EndedReason.stalled, detail: reason, now: now)
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
        enqueue(job.id, now: now)
        counters.requeued += 1
        actions += attemptEnded(lease, id: id, reason: EndedReason.stalled, detail: reason, now: now)
        actions.append(publish(.requeued(job: job.id, attempt: lease.attempt, nextAttempt: job.nextAttempt,
                                         worker: lease.worker, reason: reason)))
        return actions + dispatch(now: now)
    }

    static func secondsText(_ d: Duration) -> String {
        let s = d.seconds
        return s.rounded() == s ? "\(Int(s))s" : "\((s * 10).rounded() / 10)s"
    }

    // MARK: - Slow workers

    /// Any message from a registered worker: its lateness past the heartbeat interval feeds the
    /// moving average that marks it slow or recovered.
    mutating func heard(fromWorker id: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard var worker = workers[id] else { return [] }
        let interval = worker.heartbeat.seconds
        let late = max(0, worker.lastHeard.duration(to: now).seconds - interval)
        worker.lastHeard = now
        worker.missedCounted = 0
        worker.unheardSincePause = false
        worker.lateness += policy.latenessSmoothing * (late - worker.lateness)
        var actions: [BrokerAction] = []
        if !worker.slow, worker.lateness > policy.slowWorkerLateness * interval {
            worker.slow = true
            counters.slowWorkers += 1
            actions.append(workerPaceEvent(worker, slow: true))
        } else if worker.slow, worker.lateness < policy.recoveredWorkerLateness * interval {
            worker.slow = false
            actions.append(workerPaceEvent(worker, slow: false))
        }
        workers[id] = worker
        if !actions.isEmpty, !worker.slow { actions += dispatch(now: now) }
        return actions
    }

    mutating func workerPaceEvent(_ worker: WorkerRecord, slow: Bool) -> BrokerAction {
        publish(.workerPace(worker: worker.id, slow: slow, latenessMs: Int((worker.lateness * 1000).rounded()),
                            heartbeatMs: Int(worker.heartbeat.milliseconds)))
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
