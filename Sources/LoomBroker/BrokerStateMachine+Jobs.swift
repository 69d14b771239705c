import DequeModule
import LoomWire

/// Jobs: submission, dispatch, updates from workers, acknowledgements from clients, cancellation.
extension BrokerStateMachine {
    /// SUBMIT: idempotent per job id. A job already known gets its owner (and, for an orphan,
    /// its spec); a new job is queued, or held when it is re-synced during the recovery window.
    mutating func submit(_ submissions: [JobSubmission], request: UInt64, client: String,
                         now: ContinuousClock.Instant) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        var accepted: UInt32 = 0
        for submission in submissions {
            if var job = jobs[submission.id] {
                if ownedByAnotherKey(job, client: client) {
                    // Re-submitting a job id must not hand another key's job, and its results, over.
                    refuse("owner", from: clients[client]?.identity, message: "SUBMIT",
                           detail: "job \(submission.id) belongs to another key", now: now)
                    continue
                }
                accepted += 1
                job.owner = client
                if job.payload.isEmpty {
                    job.payload = submission.payload
                    job.requirements = submission.requirements
                    job.hints = StragglerHints(job: submission.id, spec: submission.payload)
                    job.labels = Self.workerLabels(in: submission.payload)
                    job.nextAttempt = max(job.nextAttempt, submission.requirements.firstAttempt)
                    switch job.state {
                    case .orphaned: job.state = .running(started: true)
                    case .awaitingSpec:
                        job.state = .queued
                        job.queuedAt = now
                        queue.append(job.id)
                    default: break
                    }
                }
                jobs[submission.id] = job
                if case .delivering(let update) = job.state { actions += deliver(update, to: client, now: now) }
                continue
            }
            accepted += 1
            if submission.requirements.isResync, let result = results.result(of: submission.id) {
                // An earlier broker process published this job's result and the client lists the
                // job as unfinished: that result is delivered rather than the job run again (a
                // second run published a second `finished`: seed 3933). A client that had it and
                // submitted the job anew (the SUBMIT lost with the broker) acknowledges it and
                // submits that run again (`ClientStateMachine`).
                actions += redeliver(result, to: client, now: now)
                continue
            }
            tombstones.remove(submission.id)
            results.submitted(submission.id, by: client, resync: submission.requirements.isResync)
            let hold = submission.requirements.isResync && now < recoveryEnds
            jobs[submission.id] = JobRecord(
                id: submission.id, owner: client, requirements: submission.requirements, payload: submission.payload,
                state: hold ? .held : .queued, nextAttempt: submission.requirements.firstAttempt,
                hints: StragglerHints(job: submission.id, spec: submission.payload), labels: Self.workerLabels(in: submission.payload))
            if hold { held.append(submission.id) } else { enqueue(submission.id, now: now) }
            actions.append(publish(.queued(job: submission.id, client: client, attempt: submission.requirements.firstAttempt,
                                           cpu: Double(submission.requirements.cpuMilli) / 1000,
                                           gpu: Double(submission.requirements.gpuMilli) / 1000,
                                           resync: submission.requirements.isResync, held: hold),
                                   payload: submission.payload))
        }
        actions.append(send(toClient: client, BrokerToClient.submitted(request: request, accepted: accepted).frames, now: now))
        actions += dispatch(now: now)
        return actions
    }

    /// Whether `job` belongs to a client whose key is not `client`'s (authentication on): such a
    /// job can be neither cancelled nor taken over by re-submitting its id. Clients of one key
    /// (an optimizer restarted under a new client id) share their jobs.
    func ownedByAnotherKey(_ job: JobRecord, client: String) -> Bool {
        guard allowedUsers != nil, let owner = job.owner, owner != client else { return false }
        return clients[owner]?.userID != clients[client]?.userID
    }

    /// Re-synced jobs nobody claimed during the recovery window get a new attempt.
    mutating func releaseHeld(now: ContinuousClock.Instant) -> [BrokerAction] {
        for id in held where jobs[id]?.state == .held {
            jobs[id]?.state = .queued
            enqueue(id, now: now)
        }
        held.removeAll()
        return dispatch(now: now)
    }

    /// Starts queued jobs on workers with room, oldest job first, workers in round-robin order,
    /// avoiding workers that lost an attempt of the job when another can take it.
    mutating func dispatch(now: ContinuousClock.Instant) -> [BrokerAction] {
        guard !stopping, !queue.isEmpty, !workerOrder.isEmpty else { return [] }
        var actions: [BrokerAction] = []
        var skipped: [String] = []
        var budget = queue.count
        while budget > 0, let id = queue.popFirst() {
            budget -= 1
            guard let job = jobs[id], job.state == .queued else { continue }
            guard let worker = pickWorker(for: job) else {
                skipped.append(id)
                if !workers.values.contains(where: \.hasRoom) { break }
                continue
            }
            actions += assign(id, to: worker, now: now)
        }
        queue.prepend(contentsOf: skipped)
        return actions
    }

    /// Round-robin first fit among workers that are not slow, preferring workers that have not
    /// lost this job; never `excluded` (the worker that runs the copy a backup is for).
    mutating func pickWorker(for job: JobRecord, excluding excluded: String? = nil) -> String? {
        let n = workerOrder.count
        var fallback: String?
        for step in 0..<n {
            let id = workerOrder[(roundRobin + step) % n]
            guard id != excluded, let worker = workers[id], !worker.slow, worker.fits(job.requirements),
                  job.labels.isSubset(of: worker.labels) else { continue }
            if job.lostOn.contains(id) {
                if fallback == nil { fallback = id }
                continue
            }
            roundRobin = (roundRobin + step + 1) % n
            return id
        }
        return fallback
    }

    mutating func assign(_ jobID: String, to workerID: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard var job = jobs[jobID] else { return [] }
        let lease = nextLease()
        job.attempt = job.nextAttempt
        job.nextAttempt += 1
        job.started += 1
        job.lease = lease
        job.worker = workerID
        job.state = .running(started: false)
        if let queuedAt = job.queuedAt { recordDispatchWait(queuedAt.duration(to: now)) }
        job.queuedAt = nil
        jobs[jobID] = job
        addLease(lease, job: job, worker: workerID, status: .active)
        counters.assigned += 1
        let ref = AttemptRef(job: jobID, attempt: job.attempt, lease: lease)
        return [
            send(toWorker: workerID, BrokerToWorker.assign(ref, payload: job.payload, token: leaseToken(ref, worker: workerID)).frames, now: now),
            publish(.assigned(AttemptRef(job: jobID, attempt: ref.attempt, lease: lease), worker: workerID, backup: false)),
        ]
    }

    /// STARTED: the attempt's process runs.
    mutating func attemptStarted(_ ref: AttemptRef, worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        if let backup = jobs[ref.job]?.backup, backup == ref.lease { return backupStarted(ref, worker: worker, now: now) }
        guard var job = jobs[ref.job], job.lease == ref.lease, leases[ref.lease]?.status == .active else {
            counters.stale += 1
            return []
        }
        if case .running = job.state { job.state = .running(started: true) }
        jobs[ref.job] = job
        if leases[ref.lease]?.startedAt == nil { leases[ref.lease]?.startedAt = now }
        var actions = [publish(.started(ref, worker: worker, backup: false))]
        if let owner = job.owner {
            actions += sendIfConnected(toClient: owner, BrokerToClient.started(ref, worker: worker).frames, now: now)
        }
        return actions
    }

    /// REPORT, CHECKPOINT, FINAL or FAILED from a worker. While a backup copy runs, the first
    /// result of either copy decides (see `resolveSpeculation`).
    /// A CHECKPOINT is relayed with the key of the worker that sent it (`Update.writer`): the
    /// optimizer records who wrote each checkpoint.
    mutating func workerUpdate(_ update: Update, worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        var update = update
        if update.kind == .checkpoint { update.writer = holder(ofWorker: worker) }
        let speculation = resolveSpeculation(update, worker: worker, now: now)
        if speculation.handled { return speculation.actions }
        return speculation.actions + currentAttemptUpdate(update, worker: worker, now: now)
    }

    /// An update about the job's current attempt (or a stale one).
    mutating func currentAttemptUpdate(_ update: Update, worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        let ref = update.attempt
        guard var job = jobs[ref.job], job.lease == ref.lease, job.worker == worker else {
            return staleUpdate(update, worker: worker, now: now)
        }
        if case .delivering = job.state {
            // The attempt has ended and its result waits for the client: the worker resends
            // what is unacknowledged, the client de-duplicates and acknowledges it.
            guard let owner = job.owner else { return [] }
            return sendIfConnected(toClient: owner, BrokerToClient.update(update).frames, now: now)
        }
        guard let lease = leases[ref.lease], lease.worker == worker, lease.status == .active else {
            return staleUpdate(update, worker: worker, now: now)
        }
        var actions: [BrokerAction] = []
        if update.seq > lease.publishedSeq {
            leases[ref.lease]?.publishedSeq = update.seq
            noteProgress(update, now: now)
            actions.append(updateEvent(update, worker: worker, backup: false))
        }
        if update.kind.isTerminal {
            releaseLease(ref.lease)
            results.published(update)
            job.state = .delivering(update)
            jobs[ref.job] = job
            if update.kind == .final { counters.finished += 1 } else { counters.failed += 1 }
            if let owner = job.owner { actions += deliver(update, to: owner, now: now) }
            actions += dispatch(now: now)
        } else if let owner = job.owner {
            actions += sendIfConnected(toClient: owner, BrokerToClient.update(update).frames, now: now)
        }
        return actions
    }

    /// An update under a lease that is not current: acknowledged so the worker forgets it,
    /// published as stale, never delivered. A terminal one ends the lease.
    mutating func staleUpdate(_ update: Update, worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        let ref = update.attempt
        counters.stale += 1
        // Only the lease of this very job: a stale FINAL naming another job under a lease the worker
        // holds must not free that lease while its own job runs (found by the broker fuzzer).
        if update.kind.isTerminal, let lease = leases[ref.lease], lease.worker == worker, lease.job == ref.job { releaseLease(ref.lease) }
        var actions: [BrokerAction] = [
            send(toWorker: worker, BrokerToWorker.ack(job: ref.job, lease: ref.lease, seq: update.seq).frames, now: now),
            publish(.stale(ref, worker: worker, updateSeq: update.seq, kind: update.kind.command.name), payload: update.payload),
        ]
        if update.kind.isTerminal { actions += dispatch(now: now) }
        return actions
    }

    /// ACK from a client: forwarded to the worker that holds the update; a terminal update's
    /// acknowledgement ends the job.
    mutating func clientAck(job jobID: String, lease: UInt64, seq: UInt64, now: ContinuousClock.Instant) -> [BrokerAction] {
        if let backup = jobs[jobID]?.backup, backup == lease, let worker = leases[backup]?.worker {
            // A report of the backup copy: its worker holds it until this acknowledgement.
            return [send(toWorker: worker, BrokerToWorker.ack(job: jobID, lease: lease, seq: seq).frames, now: now)]
        }
        guard let job = jobs[jobID], job.lease == lease else {
            counters.unmatchedAcks += 1
            return []
        }
        var actions: [BrokerAction] = []
        if let worker = job.worker, workers[worker] != nil {
            actions.append(send(toWorker: worker, BrokerToWorker.ack(job: jobID, lease: lease, seq: seq).frames, now: now))
        }
        if case .delivering(let update) = job.state, update.seq == seq {
            jobs[jobID] = nil
            tombstones.insert(jobID)
        }
        return actions
    }

    /// CANCEL_JOBS: queued jobs leave the queue, running attempts are stopped, undelivered
    /// results are dropped. Returns how many of the named jobs were known. The client's reason,
    /// if any, goes on the `cancelled` events (workers are told `cancelled` either way).
    mutating func cancel(_ ids: [String], request: UInt64, client: String, reason: String? = nil,
                         now: ContinuousClock.Instant) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        var count: UInt32 = 0
        for id in ids {
            if let job = jobs[id], ownedByAnotherKey(job, client: client) {
                refuse("owner", from: clients[client]?.identity, message: "CANCEL_JOBS", detail: "job \(id) belongs to another key", now: now)
                continue
            }
            guard let job = jobs.removeValue(forKey: id) else { continue }
            count += 1
            tombstones.insert(id)
            held.removeAll { $0 == id }
            if let lease = job.lease, leases[lease]?.status == .active, let worker = job.worker {
                leases[lease]?.status = .cancelling
                actions.append(send(toWorker: worker, BrokerToWorker.cancel(job: id, lease: lease, reason: CancelReason.cancelled).frames, now: now))
            }
            if let backup = job.backup, let lease = leases[backup], lease.status == .active {
                leases[backup]?.status = .cancelling
                actions.append(send(toWorker: lease.worker, BrokerToWorker.cancel(job: id, lease: backup, reason: CancelReason.cancelled).frames, now: now))
            }
            actions.append(publish(.cancelled(job: id, client: client, reason: reason)))
        }
        actions.append(send(toClient: client, BrokerToClient.cancelled(request: request, count: count).frames, now: now))
        return actions
    }

    /// Fails a job on the broker's own account (its attempts are exhausted). The FAILED update
    /// carries sequence number `UInt64.max`, which no worker uses.
    mutating func failJob(_ jobID: String, attempt ref: AttemptRef, error: String, quarantined: Bool = false,
                          now: ContinuousClock.Instant) -> [BrokerAction] {
        guard var job = jobs[jobID] else { return [] }
        var body = JSONObjectWriter()
        body.add("error", error)
        body.add("message", error)
        body.add("by", "broker")
        if quarantined { body.add("quarantined", true) }
        let update = Update(kind: .failed, attempt: ref, seq: .max, payload: body.finish())
        job.state = .delivering(update)
        job.lease = ref.lease
        job.worker = nil
        jobs[jobID] = job
        results.published(update)
        counters.failed += 1
        var actions = [publish(.failedByBroker(AttemptRef(job: jobID, attempt: ref.attempt, lease: ref.lease), reason: error),
                               payload: update.payload)]
        if let owner = job.owner { actions += deliver(update, to: owner, now: now) }
        return actions
    }

    /// Sends a terminal update to its client when connected; it is sent again on HELLO.
    mutating func deliver(_ update: Update, to client: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        sendIfConnected(toClient: client, BrokerToClient.update(update).frames, now: now)
    }

    /// A job whose result an earlier broker process published, known again: its result waits
    /// for `owner` (its worker, if one still holds the attempt, is added by its READY).
    mutating func redeliver(_ result: Update, to owner: String?, worker: String? = nil, now: ContinuousClock.Instant) -> [BrokerAction] {
        let ref = result.attempt
        jobs[ref.job] = JobRecord(id: ref.job, owner: owner, requirements: Requirements(), payload: [], state: .delivering(result),
                                  attempt: ref.attempt, lease: ref.lease, worker: worker, nextAttempt: ref.attempt + 1)
        guard let owner else { return [] }
        return deliver(result, to: owner, now: now)
    }
}
