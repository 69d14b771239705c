import LoomWire

/// Worker registration, heartbeats, death and the reconciliation of what a returning worker holds.
extension BrokerStateMachine {
    mutating func workerMessage(_ message: WorkerMessage, from identity: Frame, userID: String? = nil,
                                now: ContinuousClock.Instant) -> [BrokerAction] {
        if case .ready(let info) = message { return ready(info, from: identity, userID: userID, now: now) }
        guard case .worker(let id)? = peers[identity], workers[id] != nil else {
            // Unknown connection: this broker restarted, or declared the worker dead. Whatever it
            // sent is dropped; the worker sends READY and then resends its unacknowledged updates.
            counters.unregistered += 1
            if case .disconnect = message { return [] }
            return [.send(identity: identity, frames: BrokerToWorker.disconnect(reason: DisconnectReason.reregister).frames)]
        }
        if case .disconnect = message {
            var actions = removeWorker(id, reason: "left", now: now)
            actions += dispatch(now: now)
            return actions
        }
        let timing = heard(fromWorker: id, now: now)
        switch message {
        case .ready, .heartbeat, .disconnect: return timing
        case .exited(let leases): return timing + attemptsExited(leases, worker: id, now: now)
        case .started(let ref): return timing + attemptStarted(ref, worker: id, now: now)
        case .update(let update): return timing + workerUpdate(update, worker: id, now: now)
        case .transfer(let transfer): return timing + relay(transfer, fromWorker: id, now: now)
        case .log(let batch): return timing + [publishLog(batch, worker: id)]
        }
    }

    /// LOG: published as it is on `log/<job>/<attempt>`, whatever the lease's state (a fenced
    /// attempt's output is still its output); the feed journal keeps it from here on.
    mutating func publishLog(_ batch: LogBatch, worker: String) -> BrokerAction {
        counters.logLines += batch.lines.count
        return publish(.log(batch, worker: worker))
    }

    /// READY: register (or re-register) the worker, welcome it, reconcile the attempts it holds.
    ///
    /// `userID` is the key the connection authenticated with: the worker's leases are bound to it.
    mutating func ready(_ info: ReadyInfo, from identity: Frame, userID: String? = nil, now: ContinuousClock.Instant) -> [BrokerAction] {
        if workers[info.worker] == nil && workers.count >= config.maxWorkers {
            let text = "READY refused: this broker holds \(workers.count) workers, its limit (max_workers \(config.maxWorkers))"
            refuse("capacity", from: identity, message: "READY", detail: text, now: now)
            return [.send(identity: identity, frames: BrokerToWorker.error(text).frames)]
        }
        let heartbeat = min(max(.milliseconds(info.heartbeatMs), config.heartbeatRange.lowerBound), config.heartbeatRange.upperBound)
        var actions: [BrokerAction] = []
        if case .worker(let other)? = peers[identity], other != info.worker {
            // The connection registered another worker id before: that worker is gone (its
            // attempts are requeued), so nothing meant for it reaches this one (found by the
            // broker fuzzer).
            actions += removeWorker(other, reason: "left", now: now)
        }
        let rejoined = workers[info.worker] != nil
        if case .client(let clientID)? = peers[identity] { clientLeft(clientID) }
        if var worker = workers[info.worker] {
            if worker.identity != identity { peers[worker.identity] = nil }
            worker.identity = identity
            worker.info = info
            worker.heartbeat = heartbeat
            worker.liveness = info.liveness
            worker.lastHeard = now
            worker.missedCounted = 0
            worker.unheardSincePause = false
            worker.cpuCapacity = UInt64(info.slots) * 1000
            worker.gpuCapacity = UInt64(info.gpus) * 1000
            worker.userID = userID
            worker.labels = Set(info.labels ?? [])
            workers[info.worker] = worker
        } else {
            workers[info.worker] = WorkerRecord(
                id: info.worker, identity: identity, info: info, heartbeat: heartbeat, liveness: info.liveness,
                lastHeard: now, lastSent: now, joinedAt: now,
                cpuCapacity: UInt64(info.slots) * 1000, gpuCapacity: UInt64(info.gpus) * 1000, userID: userID,
                labels: Set(info.labels ?? []))
            workerOrder.append(info.worker)
        }
        peers[identity] = .worker(info.worker)
        let welcome = WelcomeInfo(broker: config.brokerID, heartbeatMs: Int(heartbeat.milliseconds),
                                  liveness: info.liveness, exited: true)
        actions.append(send(toWorker: info.worker, BrokerToWorker.welcome(welcome).frames, now: now))
        actions.append(publish(.workerJoined(worker: info.worker, host: info.host, pid: info.pid, slots: info.slots, gpus: info.gpus,
                                             heartbeatMs: Int(heartbeat.milliseconds), rejoined: rejoined,
                                             holds: info.running.count)))
        actions += reconcile(worker: info.worker, holds: info.running, now: now)
        actions += dispatch(now: now)
        return actions
    }

    /// Matches what a (re)registering worker says it holds against the tables.
    ///
    /// A held attempt is kept when it is the job's current lease (or the attempt whose result
    /// waits for the client), adopted when its job has no active attempt (queued, held, or
    /// unknown to this broker) and its lease capability verifies (refused otherwise: see
    /// `+Capabilities`), and fenced otherwise. Attempts this broker thought the worker ran but
    /// that it no longer holds are requeued.
    mutating func reconcile(worker id: String, holds: [RunningAttempt], now: ContinuousClock.Instant) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        // A claim counts as holding a lease of this broker's tables only when it names the job
        // that lease is for: a worker that lists another job under one of its leases no longer
        // holds that lease's attempt.
        let holding = Set(holds.filter { claim in leases[claim.lease].map { $0.job == claim.job } ?? true }.map(\.lease))
        for lease in (workers[id]?.leases ?? []).sorted() where !holding.contains(lease) {
            actions += attemptLost(lease: lease, reason: "worker \(id) no longer holds it", now: now)
        }
        for attempt in holds {
            if let lease = leases[attempt.lease] {
                if lease.worker != id || lease.job != attempt.job {
                    // Leases are unique, so a lease this broker gave to another worker or for
                    // another job was never given to this claim: refused, and the lease's
                    // record (its own worker's attempt) stays as it is. Fencing the claim marked
                    // that other attempt fenced, and its job then ran on with no lease of its own
                    // (fuzz input `crash-foreign-lease-in-ready`).
                    actions += refuseUnverified(attempt, worker: id, now: now,
                                                why: "its lease belongs to another attempt")
                }
                continue
            }
            guard verifies(attempt, worker: id) else {
                actions += refuseUnverified(attempt, worker: id, now: now)
                continue
            }
            if let earlier = results.earlierResult(of: attempt.job, lease: attempt.lease) {
                // An attempt of an earlier run, whose result was published before its client
                // submitted the job anew (the ACK of that result was lost with a broker): adopting
                // it made the new run's job deliver the old result and end (simulation seed 3811).
                // The client has it: acknowledged, so the worker forgets it.
                actions.append(send(toWorker: id, BrokerToWorker.ack(job: attempt.job, lease: attempt.lease, seq: earlier.seq).frames, now: now))
                continue
            }
            let published = results.result(of: attempt.job)
            guard var job = jobs[attempt.job] else {
                if let published, published.attempt.lease == attempt.lease {
                    // The attempt whose result was published (this process or an earlier one):
                    // its worker still holds it because the client's ACK never reached it. The
                    // result is not published again; acknowledged at once when the client has it
                    // (tombstone), else held for the client that submitted the job.
                    if tombstones.contains(attempt.job) {
                        actions.append(send(toWorker: id, BrokerToWorker.ack(job: attempt.job, lease: attempt.lease, seq: published.seq).frames, now: now))
                    } else {
                        actions += redeliver(published, to: claimant(of: attempt.job), worker: id, now: now)
                    }
                } else if tombstones.contains(attempt.job) || published != nil
                            || results.wasFenced(attempt.job, lease: attempt.lease) {
                    // The job finished (or failed) under another attempt, or this broker (or one
                    // before it: the journal's `fenced` events) fenced this attempt: superseded.
                    actions += fence(attempt.ref, worker: id, now: now)
                } else {
                    actions += adoptOrphan(attempt.ref, worker: id, now: now)
                }
                continue
            }
            if let published, published.attempt.lease == attempt.lease, job.lease != attempt.lease {
                // Re-synced (and perhaps started again) while the attempt whose result was
                // published is still held: that result is the job's, as the first FINAL of two
                // copies is, so another attempt running is superseded and the result delivered
                // to the owner, never published twice (seed 3933: a second run published a
                // second `finished`).
                held.removeAll { $0 == attempt.job }
                for other in [job.lease, job.backup].compactMap({ $0 }) where leases[other]?.status == .active {
                    actions += supersede(other, winner: attempt.ref, now: now)
                }
                actions += redeliver(published, to: job.owner, worker: id, now: now)
                continue
            }
            switch job.state {
            case .queued, .held, .awaitingSpec:
                if results.wasFenced(attempt.job, lease: attempt.lease)
                    || (!job.requirements.isResync && attempt.attempt < job.requirements.firstAttempt) {
                    // Not the job's to adopt: an attempt this broker (or one before it) fenced
                    // (S4: a fenced attempt never produces a recorded result, even once the
                    // attempt that superseded it is lost; simulation seeds 3634, 5295), or one of
                    // an earlier run of the job — the client submitted this run from
                    // `firstAttempt` after the earlier run's result, and its results no longer end
                    // the job there (an adopted attempt 1 failing after the client had retried as
                    // attempt 3 left the job waiting for ever; seed 12).
                    actions += fence(attempt.ref, worker: id, now: now)
                    continue
                }
                job.state = job.payload.isEmpty ? .orphaned : .running(started: true)
                job.attempt = attempt.attempt
                job.lease = attempt.lease
                job.worker = id
                job.nextAttempt = max(job.nextAttempt, attempt.attempt + 1)
                job.lostOn.remove(id)
                jobs[attempt.job] = job
                held.removeAll { $0 == attempt.job }
                addLease(attempt.lease, job: job, worker: id, status: .active)
                counters.reclaimed += 1
                actions.append(publish(.reclaimed(AttemptRef(job: attempt.job, attempt: attempt.attempt, lease: attempt.lease), worker: id, orphan: false)))
            case .delivering(let update) where update.attempt.lease == attempt.lease:
                // The held attempt is the one whose result waits for the client (the worker
                // holds it until that ACK): nothing to fence. Fencing it published the winner
                // as `fenced` and charged its worker for a lease nothing would release.
                job.worker = id
                jobs[attempt.job] = job
            case .running, .orphaned, .delivering:
                actions += fence(attempt.ref, worker: id, now: now)
            }
        }
        return actions
    }

    /// A held attempt of a job this broker never heard of: it runs on, and its result waits for
    /// the client to re-submit the job.
    mutating func adoptOrphan(_ ref: AttemptRef, worker id: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        let job = JobRecord(id: ref.job, owner: claimant(of: ref.job), requirements: Requirements(), payload: [], state: .orphaned,
                            attempt: ref.attempt, lease: ref.lease, worker: id, nextAttempt: ref.attempt + 1)
        jobs[ref.job] = job
        addLease(ref.lease, job: job, worker: id, status: .active)
        counters.reclaimed += 1
        return [publish(.reclaimed(ref, worker: id, orphan: true))]
    }

    /// The client that submitted `job` before this broker started (from the feed journal), when
    /// it has said HELLO to this broker: an adopted attempt's result goes to it without waiting
    /// for it to re-sync the job, which it does not do for a job whose result it has recorded.
    func claimant(of job: String) -> String? {
        guard let owner = results.entry(of: job)?.owner, clients[owner] != nil else { return nil }
        return owner
    }

    /// Tells a worker to stop an attempt that is no longer current; its updates become stale.
    mutating func fence(_ ref: AttemptRef, worker id: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        counters.fenced += 1
        results.fenced(ref)
        if leases[ref.lease] == nil {
            let job = jobs[ref.job]
            let requirements = job?.requirements ?? Requirements()
            leases[ref.lease] = Lease(job: ref.job, attempt: ref.attempt, worker: id, cpu: UInt64(requirements.cpuMilli),
                                      gpu: UInt64(requirements.gpuMilli), status: .fenced)
            workers[id]?.leases.insert(ref.lease)
            workers[id]?.cpuUsed += UInt64(requirements.cpuMilli)
            workers[id]?.gpuUsed += UInt64(requirements.gpuMilli)
        } else {
            leases[ref.lease]?.status = .fenced
        }
        return [
            send(toWorker: id, BrokerToWorker.cancel(job: ref.job, lease: ref.lease, reason: CancelReason.fenced).frames, now: now),
            publish(.fenced(ref, worker: id)),
        ]
    }

    /// Heartbeats to workers and death of silent ones.
    mutating func sweepWorkers(now: ContinuousClock.Instant) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        var dead: [String] = []
        for id in workerOrder {
            guard var worker = workers[id] else { continue }
            // Each whole interval of silence is one missed heartbeat, counted once however
            // often the sweep runs (at most `liveness`: then the worker is dead).
            let intervals = worker.heartbeat > .zero ? worker.lastHeard.duration(to: now) / worker.heartbeat : 0
            let missed = intervals >= Double(worker.liveness) ? worker.liveness : intervals >= 1 ? Int(intervals) : 0
            if missed > worker.missedCounted {
                counters.heartbeatsMissed += missed - worker.missedCounted
                worker.missedCounted = missed
                workers[id] = worker
            }
            if now >= worker.lastHeard + worker.heartbeat * worker.liveness {
                dead.append(id)
            } else if now >= worker.lastSent + worker.heartbeat {
                actions.append(send(toWorker: id, BrokerToWorker.heartbeat.frames, now: now))
            }
        }
        for id in dead { actions += workerLost(id, reason: "missed heartbeats", now: now) }
        return actions
    }

    /// The one place a worker is declared dead.
    mutating func workerLost(_ id: String, reason: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard workers[id] != nil else { return [] }
        counters.workersLost += 1
        var actions = removeWorker(id, reason: reason, now: now)
        actions += dispatch(now: now)
        return actions
    }

    /// Removes a worker (dead or gone) and requeues every attempt it held.
    mutating func removeWorker(_ id: String, reason: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let worker = workers.removeValue(forKey: id) else { return [] }
        peers[worker.identity] = nil
        workerOrder.removeAll { $0 == id }
        var actions: [BrokerAction] = []
        let attempts = worker.leases.sorted()
        actions.append(publish(.workerGone(worker: id, left: reason == "left", reason: reason, attempts: attempts.count)))
        // Not heard from since the broker's own pause (its connection may have gone only because
        // the broker was silent): its loss is not counted against its jobs' quarantine.
        let charged = !worker.unheardSincePause
        for lease in attempts { actions += attemptLost(lease: lease, reason: "worker \(id) \(reason)", charged: charged, now: now) }
        return actions
    }

    /// An attempt's worker no longer runs it: the job gets a new attempt (or fails when its
    /// attempts are exhausted); leases that were no longer current simply end. `charged`: the
    /// worker counts among those the job's attempts were lost on (`quarantine_after`).
    mutating func attemptLost(lease id: UInt64, reason: String, charged: Bool = true, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let lease = leases[id] else { return [] }
        releaseLease(id)
        if let actions = otherCopyGoesOn(after: lease, id: id, reason: reason, charged: charged, now: now) { return actions }
        guard lease.status == .active, var job = jobs[lease.job], job.lease == id else { return [] }
        switch job.state {
        case .running, .orphaned: break
        default: return []
        }
        if charged { job.lostOn.insert(lease.worker) }
        job.worker = nil
        let maxAttempts = job.requirements.maxAttempts
        if job.payload.isEmpty {
            job.state = .awaitingSpec
            jobs[job.id] = job
            return attemptEnded(lease, id: id, reason: EndedReason.lost, detail: reason, now: now) + [publish(.requeued(job: job.id, attempt: lease.attempt, nextAttempt: nil, worker: lease.worker, reason: reason))]
        }
        let quarantine = job.requirements.quarantineAfter
        if quarantine > 0 && job.lostOn.count >= Int(quarantine) {
            jobs[job.id] = job
            return failJob(job.id, attempt: AttemptRef(job: job.id, attempt: lease.attempt, lease: id),
                           error: "quarantined: its attempts were running on \(job.lostOn.count) workers that were lost "
                               + "(\(job.lostOn.sorted().joined(separator: ", "))); not retried",
                           quarantined: true, now: now)
        }
        if maxAttempts > 0 && job.started >= maxAttempts {
            jobs[job.id] = job
            return failJob(job.id, attempt: AttemptRef(job: job.id, attempt: lease.attempt, lease: id),
                           error: "attempt \(lease.attempt) lost (\(reason)) and all \(maxAttempts) attempts are used",
                           now: now)
        }
        job.state = .queued
        jobs[job.id] = job
        enqueue(job.id, now: now)
        counters.requeued += 1
        return attemptEnded(lease, id: id, reason: EndedReason.lost, detail: reason, now: now) + [publish(.requeued(job: job.id, attempt: lease.attempt, nextAttempt: job.nextAttempt, worker: lease.worker, reason: reason))]
    }

    /// Sends to a worker and notes the time for its heartbeat bookkeeping.
    mutating func send(toWorker id: String, _ frames: [Frame], now: ContinuousClock.Instant) -> BrokerAction {
        workers[id]?.lastSent = now
        return .send(identity: workers[id]?.identity ?? [], frames: frames)
    }

    /// Records a lease of `job` (its current attempt unless `attempt` says otherwise) on `worker`.
    mutating func addLease(_ id: UInt64, job: JobRecord, worker: String, status: Lease.Status, attempt: UInt32? = nil) {
        let cpu = UInt64(job.requirements.cpuMilli)
        let gpu = UInt64(job.requirements.gpuMilli)
        leases[id] = Lease(job: job.id, attempt: attempt ?? job.attempt, worker: worker, cpu: cpu, gpu: gpu, status: status)
        workers[worker]?.leases.insert(id)
        workers[worker]?.cpuUsed += cpu
        workers[worker]?.gpuUsed += gpu
    }

    /// Ends a lease and frees its worker's capacity.
    mutating func releaseLease(_ id: UInt64) {
        guard let lease = leases.removeValue(forKey: id) else { return }
        guard workers[lease.worker]?.leases.remove(id) != nil else { return }
        workers[lease.worker]?.cpuUsed -= lease.cpu
        workers[lease.worker]?.gpuUsed -= lease.gpu
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
