import LoomWire

extension DashboardState {
    /// Folds one feed event in (events arrive in seq order, each once: `FeedSubscriber`). An
    /// event whose body is not a `BrokerEvent` only moves the position.
    public mutating func apply(_ event: FeedEvent) {
        guard let typed = try? event.typed() else {
            position = max(position, event.seq)
            version += 1
            return
        }
        apply(typed)
    }

    /// Folds one decoded event in.
    public mutating func apply(_ typed: TypedFeedEvent) {
        position = max(position, typed.seq)
        version += 1
        let time = typed.time
        switch typed.event {
        case .workerJoined(let id, let host, _, let slots, let gpus, _, _, _):
            var w = workers[id] ?? Worker(id: id)
            w.host = host
            w.slots = slots
            w.gpus = gpus
            w.health = "alive"
            w.joinedAt = time
            workers[id] = w
        case .workerGone(let id, let left, _, _):
            workers[id, default: Worker(id: id)].health = left ? "left" : "lost"
            workers[id]?.running = []
        case .workerPace(let id, let slow, let lateness, _):
            workers[id, default: Worker(id: id)].health = slow ? "slow" : "alive"
            workers[id]?.latenessMs = lateness
        case .brokerStopping:
            break
        default:
            guard let job = typed.event.job, let (studyID, number) = Self.split(job) else { return }
            // Taken out and put back, not copied: a study of 10,000 trials copied per event made
            // catching up with a journal quadratic.
            var study = studies.removeValue(forKey: studyID) ?? newStudy(studyID)
            study.version = version
            study.firstTime = study.firstTime ?? time
            study.lastTime = time
            let existing = study.trials.removeValue(forKey: number)
            var trial = existing ?? Trial(number: number)
            let before = existing.map { (state: $0.state, value: value($0, metric: study.metric)) }
            applyJob(typed, job: job, trial: &trial, study: &study)
            study.trials[number] = trial
            track(&study, before: before, after: trial)
            if study.rangesStale {
                study.ranges = ParameterRanges(trials: study.trials)
                study.rangesStale = false
            }
            studies[studyID] = study
        }
    }

    private mutating func applyJob(_ typed: TypedFeedEvent, job: String, trial: inout Trial, study: inout Study) {
        let time = typed.time
        switch typed.event {
        case .queued(_, _, let attempt, _, _, _, _):
            if let payload = typed.payload, case .object(let spec)? = try? JSONValue(parsing: payload) {
                let old = trial.config
                trial.config = spec["config"]?.object ?? trial.config
                trial.budget = spec["budget"]?.double ?? trial.budget
                if trial.config != old {
                    // A first configuration widens the ranges; a changed one needs a walk.
                    if old.isEmpty { study.ranges.widen(with: trial.config) } else { study.rangesStale = true }
                }
            }
            trial.state = "waiting"
            trial.finishedAt = nil
            trial.reason = nil
            if !trial.attempts.contains(where: { $0.attempt == attempt }) {
                trial.attempts.append(Attempt(attempt: attempt, state: "queued"))
            }
            queue.insert(job)
        case .assigned(let ref, let worker, let backup):
            queue.remove(job)
            setAttempt(&trial, ref.attempt) {
                $0.lease = ref.lease
                $0.worker = worker
                $0.state = "assigned"
                $0.backup = backup
            }
            trial.state = "running"
            hold(ref, worker: worker)
        case .reclaimed(let ref, let worker, _):
            queue.remove(job)
            setAttempt(&trial, ref.attempt) {
                $0.lease = ref.lease
                $0.worker = worker
                if $0.state == "queued" || $0.state == "assigned" { $0.state = "running" }
            }
            trial.state = "running"
            hold(ref, worker: worker)
        case .started(let ref, let worker, _):
            setAttempt(&trial, ref.attempt) {
                $0.lease = ref.lease
                $0.worker = worker
                $0.state = "running"
                $0.startedAt = time
            }
            trial.state = "running"
        case .update(.report, let ref, _, _, _):
            if let metrics = Self.metrics(typed.payload) {
                trial.reports.append((time, ref.attempt, metrics))
                if trial.reports.count > Self.maxReports { trial.reports.removeFirst(trial.reports.count - Self.maxReports) }
            }
        case .update(.checkpoint, let ref, _, let updateSeq, _):
            let payload = typed.payload.flatMap { try? JSONValue(parsing: $0) }
            trial.checkpoints.append(Checkpoint(attempt: ref.attempt, updateSeq: updateSeq, time: time, payload: payload))
            if trial.checkpoints.count > Self.maxCheckpoints { trial.checkpoints.removeFirst() }
        case .update(.final, let ref, _, _, _):
            trial.result = Self.metrics(typed.payload)
            trial.state = "complete"
            trial.finishedAt = time
            study.finishTimes.append(time)
            end(&trial, ref, state: "finished", at: time)
        case .update(.failed, let ref, _, _, _):
            trial.state = "failed"
            trial.finishedAt = time
            if let payload = typed.payload, case .object(let o)? = try? JSONValue(parsing: payload) { trial.reason = o["error"]?.argument }
            study.finishTimes.append(time)
            end(&trial, ref, state: "failed", at: time)
        case .failedByBroker(let ref, let reason):
            trial.state = "failed"
            trial.finishedAt = time
            trial.reason = reason
            study.finishTimes.append(time)
            end(&trial, ref, state: "failed", at: time, detail: reason)
        case .requeued(_, let attempt, let next, _, let reason):
            if let lease = trial.attempts.first(where: { $0.attempt == attempt })?.lease {
                end(&trial, AttemptRef(job: job, attempt: attempt, lease: lease), state: "lost", at: time, detail: reason)
            }
            if let next, !trial.attempts.contains(where: { $0.attempt == next }) {
                trial.attempts.append(Attempt(attempt: next, state: "queued"))
            }
            trial.state = "waiting"
            queue.insert(job)
        case .fenced(let ref, _):
            end(&trial, ref, state: "fenced", at: time)
        case .superseded(let ref, _, _, _):
            end(&trial, ref, state: "superseded", at: time)
        case .copyLost(let ref, _, let reason, _):
            end(&trial, ref, state: "copy_lost", at: time, detail: reason)
        case .cancelled(_, _, let reason):
            queue.remove(job)
            // The optimizer's verdicts name what the scheduler did (Docs/protocol.md §8.1).
            let state = reason.map { $0.hasPrefix("paused") ? "paused" : $0.hasPrefix("pruned") ? "pruned" : "cancelled" } ?? "cancelled"
            if !["complete", "failed"].contains(trial.state) {
                trial.state = state
                trial.reason = reason
                trial.finishedAt = time
            }
            for a in trial.attempts where a.endedAt == nil && a.lease != nil {
                end(&trial, AttemptRef(job: job, attempt: a.attempt, lease: a.lease!), state: "cancelled", at: time)
            }
        case .stalled(let ref, let worker, let silent, _):
            record(Straggler(time: time, job: job, event: "stalled",
                             detail: "attempt \(ref.attempt) on \(worker) silent \(Self.seconds(silent))"))
        case .speculated(_, let attempt, let worker, let backup, let backupWorker, let ran, let median, _):
            record(Straggler(time: time, job: job, event: "speculated",
                             detail: "attempt \(attempt) on \(worker) ran \(Self.seconds(ran)) (peers' median \(Self.seconds(median))); "
                                 + "backup attempt \(backup.attempt) on \(backupWorker)"))
        case .log(let batch, _):
            for (i, text) in batch.lines.enumerated() {
                trial.logs.append(LogLine(seq: typed.seq, attempt: batch.attempt.attempt, stream: batch.stream.rawValue,
                                          line: batch.firstLine + UInt64(i), text: text))
            }
            trial.logCount += batch.lines.count
            if trial.logs.count > Self.maxLogLines { trial.logs.removeFirst(trial.logs.count - Self.maxLogLines) }
        case .stale, .workerJoined, .workerGone, .workerPace, .brokerStopping:
            break
        }
    }

    /// Takes `metric`, `mode`, `state`, `max_trials`, `rungs`, `best`, counts from the optimizer's
    /// `studies` document (`{"studies": [summary…]}`).
    public mutating func applyStudies(_ doc: JSONValue) {
        guard case .array(let list)? = doc.object?["studies"] else { return }
        for case .object(let summary) in list {
            guard let id = summary["id"]?.argument else { continue }
            var study = studies[id] ?? newStudy(id)
            var summary = summary
            if summary["metric"] == nil, let metric = study.summary["metric"] {
                summary["metric"] = metric
                summary["mode"] = study.summary["mode"]
            }
            if study.summary != summary {
                let objective = (study.metric, study.maximize)
                study.summary = summary
                if objective != (study.metric, study.maximize) { study.best = scannedBest(study) }
                version += 1
                study.version = version
            }
            studies[id] = study
        }
    }

    /// Keeps the broker's status document for the fabric page.
    public mutating func applyBrokerStatus(_ doc: JSONValue) {
        guard doc != brokerStatus else { return }
        brokerStatus = doc
        version += 1
    }

    private mutating func hold(_ ref: AttemptRef, worker: String) {
        leases[ref.lease] = ref
        workers[worker, default: Worker(id: worker)].running.insert(ref.lease)
    }

    /// Ends the attempt holding `ref.lease` and releases the lease.
    private mutating func end(_ trial: inout Trial, _ ref: AttemptRef, state: String, at time: Double, detail: String? = nil) {
        setAttempt(&trial, ref.attempt) {
            $0.state = state
            $0.endedAt = time
            $0.detail = detail ?? $0.detail
        }
        if leases.removeValue(forKey: ref.lease) != nil {
            for id in workers.keys where workers[id]!.running.contains(ref.lease) { workers[id]!.running.remove(ref.lease) }
        }
    }

    private func setAttempt(_ trial: inout Trial, _ attempt: UInt32, _ change: (inout Attempt) -> Void) {
        if let i = trial.attempts.lastIndex(where: { $0.attempt == attempt }) {
            change(&trial.attempts[i])
        } else {
            var a = Attempt(attempt: attempt, state: "queued")
            change(&a)
            trial.attempts.append(a)
            trial.attempts.sort { $0.attempt < $1.attempt }
        }
    }

    private mutating func record(_ straggler: Straggler) {
        stragglers.append(straggler)
        if stragglers.count > Self.maxStragglers { stragglers.removeFirst() }
    }

    static func seconds(_ s: Double) -> String { s.rounded() == s ? "\(Int(s))s" : "\((s * 10).rounded() / 10)s" }
}
