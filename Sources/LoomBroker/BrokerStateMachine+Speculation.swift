import LoomWire

/// Speculative backups of slow attempts: starting the copy, its updates, and which copy wins.
///
/// **Two copies.** A job with a backup has two active leases: `lease` (the attempt that was slow)
/// and `backup`. Both report. The first FINAL makes its copy the job's attempt and supersedes the
/// other; a copy that fails, stalls or is lost ends while the other goes on as the job's attempt.
/// At most one backup per job, and never a backup of a backup.
extension BrokerStateMachine {
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
            send(toWorker: workerID, BrokerToWorker.assign(ref, payload: job.payload, token: leaseToken(ref, worker: workerID)).frames, now: now),
            publish(.speculated(job: job.id, attempt: running, worker: runningWorker,
                                backup: AttemptRef(job: job.id, attempt: attempt, lease: lease), backupWorker: workerID,
                                ranS: ran.seconds, peerMedianS: median.seconds, peers: peers)),
            publish(.assigned(AttemptRef(job: job.id, attempt: attempt, lease: lease), worker: workerID, backup: true)),
        ]
    }

    /// STARTED from a backup copy: published and forwarded like any attempt's.
    mutating func backupStarted(_ ref: AttemptRef, worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let lease = leases[ref.lease], lease.worker == worker, lease.status == .active, let job = jobs[ref.job] else {
            counters.stale += 1
            return []
        }
        if lease.startedAt == nil { leases[ref.lease]?.startedAt = now }
        var actions = [publish(.started(ref, worker: worker, backup: true))]
        if let owner = job.owner {
            actions += sendIfConnected(toClient: owner, BrokerToClient.started(ref, worker: worker, backup: true).frames, now: now)
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
                leases[ref.lease]?.pausedSinceReport = .zero
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
            let error = (try? JSONValue(parsing: update.payload))?.object?["error"]?.argument ?? "the copy failed"
            actions += copyEnded(lease, id: ref.lease, job: &job, reason: "failed", ended: EndedReason.failed, detail: error,
                                 payload: update.payload, now: now)
            jobs[job.id] = job
            return (actions + dispatch(now: now), true)
        }
    }

    /// Tells the losing copy to stop; its updates are stale from now on.
    mutating func supersede(_ loser: UInt64, winner: AttemptRef, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let lease = leases[loser] else { return [] }
        leases[loser]?.status = .superseded
        counters.superseded += 1
        return attemptEnded(lease, id: loser, reason: EndedReason.superseded,
                            detail: "attempt \(winner.attempt) of the job finished first", now: now) + [
            send(toWorker: lease.worker, BrokerToWorker.cancel(job: lease.job, lease: loser, reason: CancelReason.superseded).frames, now: now),
            publish(.superseded(AttemptRef(job: lease.job, attempt: lease.attempt, lease: loser), worker: lease.worker,
                                winnerAttempt: winner.attempt, winnerLease: winner.lease)),
        ]
    }

    /// One copy of a job with a backup ended without a result: the other is the job's attempt now.
    /// `ended` (an `EndedReason`) and `detail` go to the job's owner in ENDED.
    mutating func copyEnded(_ lease: Lease, id: UInt64, job: inout JobRecord, reason: String, ended: String, detail: String,
                            payload: Frame? = nil, charged: Bool = true, now: ContinuousClock.Instant) -> [BrokerAction] {
        let notice = attemptEnded(lease, id: id, reason: ended, detail: detail, now: now)
        if job.lease == id { promoteBackup(&job) }
        job.backup = nil
        if charged { job.lostOn.insert(lease.worker) }
        counters.copiesLost += 1
        let goesOn = job.attempt
        return notice + [publish(.copyLost(AttemptRef(job: lease.job, attempt: lease.attempt, lease: id), worker: lease.worker,
                                           reason: reason, continues: goesOn), payload: payload)]
    }

    /// A lease of a job with a backup was lost with its worker: the other copy goes on. Nil when
    /// the job has no backup (the usual requeue applies).
    mutating func otherCopyGoesOn(after lease: Lease, id: UInt64, reason: String, charged: Bool,
                                  now: ContinuousClock.Instant) -> [BrokerAction]? {
        guard lease.status == .active, var job = jobs[lease.job], job.backup != nil,
              job.lease == id || job.backup == id else { return nil }
        let actions = copyEnded(lease, id: id, job: &job, reason: reason, ended: EndedReason.lost, detail: reason, charged: charged, now: now)
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
        publish(.update(update.kind, update.attempt, worker: worker, updateSeq: update.seq, backup: backup), payload: update.payload)
    }
}
