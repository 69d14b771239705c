import LoomWire

/// An attempt the worker holds, from its ASSIGN until it has exited and is fully acknowledged.
struct HeldAttempt: Sendable {
    /// Where the attempt's process is.
    enum Phase: Equatable, Sendable {
        /// ASSIGN accepted, `.startTrial` returned, the runner has not said it started.
        case assigned
        /// The process runs.
        case running
        /// The process exited; the attempt is kept until its updates are acknowledged.
        case exited
    }

    var ref: AttemptRef
    /// The lease capability from the ASSIGN, listed with the attempt in READY.
    var token: Frame = []
    /// Assignment order, for READY's list.
    var serial: UInt64
    var phase: Phase = .assigned
    /// Why the worker asked the runner to stop the process, if it did.
    var stopReason: String?
    /// The seq of the next update about this attempt.
    var nextSeq: UInt64 = 1
    /// Updates not acknowledged yet, in seq order.
    var unacknowledged: [PendingUpdate] = []
    /// The checkpoint snapshot the agent is taking for the attempt, if any.
    var snapshot: SnapshotState = .idle
    /// The exit the runner reported while a snapshot was outstanding: its FINAL or FAILED follows
    /// the CHECKPOINT, so the broker never forgets the job before its last checkpoint arrives.
    var deferredExit: (kind: UpdateKind, payload: Frame)?
    /// The newest metric line the trial printed: the metrics of a snapshot when it completes.
    var newestMetrics: Frame?

    /// Whether the attempt still waits for the agent (a snapshot, or an exit held back by one).
    var isBusy: Bool { snapshot != .idle || deferredExit != nil }
}

/// The checkpoint snapshot of one attempt.
enum SnapshotState: Equatable, Sendable {
    /// None outstanding.
    case idle
    /// `.snapshot` was returned; `queued` holds the metric line of a later announcement, which is
    /// snapshotted next (a still later one replaces it: only the newest checkpoint matters).
    case taking(queued: Frame?)
}

/// An update waiting for its ACK.
struct PendingUpdate: Sendable {
    var update: Update
    /// Creation order over all attempts: resends follow it.
    var order: UInt64
    /// When it was last sent; `nil` while it waits for a WELCOME.
    var lastSent: ContinuousClock.Instant?
}

extension WorkerStateMachine {
    // MARK: - Trial events (from the runner)

    /// The runner started the attempt's process: say STARTED.
    public mutating func trialStarted(_ ref: AttemptRef, now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited, var attempt = attempts[ref.lease], attempt.phase == .assigned else { return [] }
        attempt.phase = .running
        attempts[ref.lease] = attempt
        // While the link is down STARTED is not queued: the next READY lists the attempt.
        guard isRegistered else { return [] }
        return send(WorkerMessage.started(ref).frames, now: now)
    }

    /// The trial printed a metric line: a REPORT, and when the line announces a checkpoint, a
    /// `.snapshot` of its directory (its CHECKPOINT follows `snapshotTaken`). While a snapshot of
    /// the attempt is outstanding a new announcement waits for it, replacing any older one waiting.
    public mutating func trialReported(_ ref: AttemptRef, metrics: Frame, checkpoint: Bool,
                                       now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited, var attempt = attempts[ref.lease], attempt.phase != .exited else { return [] }
        var actions = enqueue(.report, metrics, lease: ref.lease, now: now)
        enforceReportCap()
        attempts[ref.lease]?.newestMetrics = metrics
        guard checkpoint, attempts[ref.lease] != nil else { return actions }
        attempt = attempts[ref.lease]!
        switch attempt.snapshot {
        case .idle:
            attempts[ref.lease]!.snapshot = .taking(queued: nil)
            actions.append(.snapshot(ref, metrics: metrics))
        case .taking(let queued):
            if queued != nil { supersededSnapshots += 1 }
            attempts[ref.lease]!.snapshot = .taking(queued: metrics)
        }
        return actions
    }

    /// The trial printed a metric line whose checkpoint the caller has already snapshotted:
    /// REPORT and CHECKPOINT at once, the CHECKPOINT with `checkpointPayload` (or `metrics` when
    /// nil). For callers whose snapshot is instantaneous (the simulation's disk); its seq is
    /// `nextUpdateSeq(lease:)` + 1.
    public mutating func trialReported(_ ref: AttemptRef, metrics: Frame, checkpoint: Bool, checkpointPayload: Frame?,
                                       now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited, let attempt = attempts[ref.lease], attempt.phase != .exited else { return [] }
        var actions = enqueue(.report, metrics, lease: ref.lease, now: now)
        if checkpoint { actions += enqueue(.checkpoint, checkpointPayload ?? metrics, lease: ref.lease, now: now) }
        enforceReportCap()
        attempts[ref.lease]?.newestMetrics = metrics
        return actions
    }

    /// The snapshot returned as `.snapshot` is done: `payload` is the CHECKPOINT's (the metrics
    /// with the manifest, or with `checkpoint_error`), numbered `nextUpdateSeq(lease:)`. Then the
    /// announcement that waited is snapshotted, or an exit held back is reported.
    public mutating func snapshotTaken(_ ref: AttemptRef, payload: Frame, now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited, let attempt = attempts[ref.lease], attempt.ref == ref,
              case .taking(let queued) = attempt.snapshot else { return [] }
        var actions = enqueue(.checkpoint, payload, lease: ref.lease, now: now)
        if let queued {
            attempts[ref.lease]!.snapshot = .taking(queued: nil)
            return actions + [.snapshot(ref, metrics: queued)]
        }
        attempts[ref.lease]!.snapshot = .idle
        if let exit = attempts[ref.lease]!.deferredExit {
            attempts[ref.lease]!.deferredExit = nil
            actions += reportExit(ref, kind: exit.kind, payload: exit.payload, now: now)
        }
        return actions
    }

    /// The trial's process exited (or never started): FINAL or FAILED, except for attempts the
    /// worker stopped for its own shutdown, which are forgotten. With a snapshot outstanding the
    /// report waits for it (`snapshotTaken`).
    public mutating func trialExited(_ ref: AttemptRef, kind: UpdateKind, payload: Frame,
                                     now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited, var attempt = attempts[ref.lease], attempt.phase != .exited else { return [] }
        attempt.phase = .exited
        if attempt.snapshot != .idle {
            attempt.deferredExit = (kind, payload)
            attempts[ref.lease] = attempt
            // The broker hears no more REPORTs of it: told the process exited, it stops the
            // attempt's stall clock while the snapshot runs (a snapshot longer than the stall
            // timeout cancelled an attempt whose result was on the way: simulation seed 126).
            return announceExited(now: now)
        }
        attempts[ref.lease] = attempt
        return reportExit(ref, kind: kind, payload: payload, now: now)
    }

    /// FINAL or FAILED for an exited attempt, or forgetting it when the worker stopped it for
    /// its own shutdown.
    private mutating func reportExit(_ ref: AttemptRef, kind: UpdateKind, payload: Frame,
                                     now: ContinuousClock.Instant) -> [WorkerAction] {
        guard let attempt = attempts[ref.lease] else { return [] }
        if attempt.stopReason == StopReason.shutdown {
            forget(ref.lease)
            return finishIfDrained(now: now)
        }
        // The runner only reports terminal kinds; anything else is treated as a failure.
        let terminal: UpdateKind = kind.isTerminal ? kind : .failed
        return enqueue(terminal, payload, lease: ref.lease, now: now) + finishIfDrained(now: now)
    }

    /// A HEARTBEAT listing the attempts whose process exited while their result waits for a
    /// snapshot, when one of them is news to the broker since its WELCOME and the broker reads
    /// the list (`WelcomeInfo.exited`; older brokers get plain HEARTBEATs only).
    mutating func announceExited(now: ContinuousClock.Instant) -> [WorkerAction] {
        guard isRegistered, broker?.exited == true else { return [] }
        let waiting = attempts.values.filter { $0.phase == .exited && $0.deferredExit != nil }.map(\.ref.lease).sorted()
        guard waiting.contains(where: { !announcedExited.contains($0) }) else { return [] }
        let listed = Array(waiting.prefix(Wire.maxRunningPerReady))
        announcedExited.formUnion(listed)
        return send(WorkerMessage.exited(listed).frames, now: now)
    }

    /// The metrics a CHECKPOINT whose snapshot has just completed carries: the newest line the
    /// trial printed by then, not the line that asked for the copy. A copy begins after the line
    /// that asked for it (later, when it waits behind others) and finds the directory as the trial
    /// left it meanwhile, so by its end it may hold a later step than that line's; a trial resumed
    /// from it with nothing left to run prints nothing and completes with these metrics
    /// (`OptimizerMachine`), which must be the ones of its last step (issue 15, failure 2).
    public func snapshotLabel(lease: UInt64) -> Frame? {
        attempts[lease]?.newestMetrics
    }

    /// The seq the CHECKPOINT of the attempt's next metric line will have (its REPORT comes first).
    public func nextCheckpointSeq(lease: UInt64) -> UInt64? {
        attempts[lease].map { $0.nextSeq + 1 }
    }

    /// The seq the attempt's next update will have (the CHECKPOINT of `snapshotTaken`).
    public func nextUpdateSeq(lease: UInt64) -> UInt64? {
        attempts[lease]?.nextSeq
    }

    /// Whether the update `seq` of the attempt under `lease` still awaits its ACK.
    public func isUnacknowledged(lease: UInt64, seq: UInt64) -> Bool {
        attempts[lease]?.unacknowledged.contains { $0.update.seq == seq } ?? false
    }

    /// A batch of trial output: sent at once when registered, never resent (the broker does not
    /// acknowledge LOG); while the broker is unreachable the lines are only counted.
    public mutating func trialLogged(_ batch: LogBatch, now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited, isRegistered else {
            unsentLogLines += batch.lines.count
            return []
        }
        return send(WorkerMessage.log(batch).frames, now: now)
    }

    /// Sends a FETCH or CHUNK when registered; while not, it is dropped (its requester asks again).
    public mutating func sendTransfer(_ transfer: Transfer, now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited, isRegistered else { return [] }
        return send(WorkerMessage.transfer(transfer).frames, now: now)
    }

    // MARK: - Broker messages about attempts

    mutating func assigned(_ ref: AttemptRef, payload: Frame, token: Frame) -> [WorkerAction] {
        // A stopping worker starts nothing; the broker requeues the job when it says DISCONNECT.
        guard lifecycle == .serving else { return [] }
        guard attempts[ref.lease] == nil, !recentlyFinished.contains(ref.lease) else {
            duplicateAssignments += 1
            return []
        }
        attempts[ref.lease] = HeldAttempt(ref: ref, token: token, serial: takeSerial())
        return [.startTrial(ref, payload: payload)]
    }

    mutating func acknowledged(job: String, lease: UInt64, seq: UInt64, now: ContinuousClock.Instant) -> [WorkerAction] {
        guard var attempt = attempts[lease], attempt.ref.job == job,
              let index = attempt.unacknowledged.firstIndex(where: { $0.update.seq == seq }) else {
            staleAcks += 1
            return []
        }
        let removed = attempt.unacknowledged.remove(at: index)
        if removed.update.kind == .report { unacknowledgedReports -= 1 }
        attempts[lease] = attempt
        if removed.update.kind.isTerminal {
            // The result is recorded and the broker has forgotten the job: reports of the
            // attempt still unacknowledged can only come back stale. Held on, they kept the
            // attempt in every READY, and a restarted broker adopted it as an orphan that no
            // client would claim, holding its slot for good (a hung study; simulation seed 1414).
            forget(lease)
        } else {
            forgetIfDone(lease)
        }
        return finishIfDrained(now: now)
    }

    mutating func cancelled(job: String, lease: UInt64, reason: String) -> [WorkerAction] {
        guard var attempt = attempts[lease], attempt.ref.job == job, attempt.phase != .exited,
              attempt.stopReason == nil else { return [] }
        attempt.stopReason = reason
        attempts[lease] = attempt
        return [.stopTrial(lease: lease, reason: reason)]
    }

    // MARK: - Updates

    /// Numbers a new update, keeps it until its ACK, and sends it now if the link is up.
    mutating func enqueue(_ kind: UpdateKind, _ payload: Frame, lease: UInt64, now: ContinuousClock.Instant) -> [WorkerAction] {
        guard var attempt = attempts[lease] else { return [] }
        let update = Update(kind: kind, attempt: attempt.ref, seq: attempt.nextSeq, payload: payload)
        attempt.nextSeq += 1
        var pending = PendingUpdate(update: update, order: takeSerial())
        var actions: [WorkerAction] = []
        if isRegistered {
            pending.lastSent = now
            actions = send(WorkerMessage.update(update).frames, now: now)
        }
        attempt.unacknowledged.append(pending)
        attempts[lease] = attempt
        if kind == .report { unacknowledgedReports += 1 }
        return actions
    }

    /// Drops the oldest REPORTs while more than `maxUnacknowledged` are kept.
    mutating func enforceReportCap() {
        while unacknowledgedReports > max(config.maxUnacknowledged, 0) {
            // The oldest report of each attempt is its first one; the oldest overall has the
            // smallest creation order. Attempts are few (one per slot), so a scan is cheap.
            var oldest: (lease: UInt64, index: Int, order: UInt64)?
            for (lease, attempt) in attempts {
                guard let index = attempt.unacknowledged.firstIndex(where: { $0.update.kind == .report }) else { continue }
                let order = attempt.unacknowledged[index].order
                if oldest == nil || order < oldest!.order { oldest = (lease, index, order) }
            }
            guard let oldest else { unacknowledgedReports = 0; return }
            attempts[oldest.lease]!.unacknowledged.remove(at: oldest.index)
            unacknowledgedReports -= 1
            droppedReports += 1
            forgetIfDone(oldest.lease)
        }
    }

    /// Sends every unacknowledged update again, in creation order (after a WELCOME).
    mutating func resendAll(now: ContinuousClock.Instant) -> [WorkerAction] {
        resend(now: now) { _ in true }
    }

    /// Sends again the updates unacknowledged for `resendInterval`.
    mutating func resendOverdue(now: ContinuousClock.Instant) -> [WorkerAction] {
        let interval = config.resendInterval
        return resend(now: now) { pending in
            guard let sent = pending.lastSent else { return true }
            return now >= sent + interval
        }
    }

    private mutating func resend(now: ContinuousClock.Instant, where due: (PendingUpdate) -> Bool) -> [WorkerAction] {
        var picked: [(order: UInt64, lease: UInt64, index: Int)] = []
        for (lease, attempt) in attempts {
            for (index, pending) in attempt.unacknowledged.enumerated() where due(pending) {
                picked.append((pending.order, lease, index))
            }
        }
        guard !picked.isEmpty else { return [] }
        picked.sort { $0.order < $1.order }
        var actions: [WorkerAction] = []
        actions.reserveCapacity(picked.count)
        for item in picked {
            attempts[item.lease]!.unacknowledged[item.index].lastSent = now
            actions += send(WorkerMessage.update(attempts[item.lease]!.unacknowledged[item.index].update).frames, now: now)
        }
        return actions
    }

    /// When the oldest sent update becomes due for a resend.
    var earliestResend: ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for attempt in attempts.values {
            for pending in attempt.unacknowledged {
                guard let sent = pending.lastSent else { continue }
                if earliest == nil || sent < earliest! { earliest = sent }
            }
        }
        return earliest.map { $0 + config.resendInterval }
    }

    // MARK: - Forgetting

    /// Forgets the attempt when its process has exited and nothing about it awaits an ACK.
    mutating func forgetIfDone(_ lease: UInt64) {
        guard let attempt = attempts[lease], attempt.phase == .exited, attempt.unacknowledged.isEmpty, !attempt.isBusy else { return }
        forget(lease)
    }

    /// Forgets the attempt and anything still unacknowledged about it.
    mutating func forget(_ lease: UInt64) {
        guard let attempt = attempts.removeValue(forKey: lease) else { return }
        announcedExited.remove(lease)
        unacknowledgedReports -= attempt.unacknowledged.filter { $0.update.kind == .report }.count
        recentlyFinished.insert(lease)
    }

    mutating func takeSerial() -> UInt64 {
        defer { nextSerial += 1 }
        return nextSerial
    }
}
