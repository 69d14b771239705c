import Foundation
import LoomModel
import LoomWire

/// Studies: creating one, filling its free slots, ending it, and the jobs its trials become.
extension OptimizerMachine {
    /// Creates a study from a spec's text; returns its id (`<name>-<n>`, n one past the studies
    /// of that name, skipping ids taken). `owner`: the submitting key (`StudyRecord.owner`).
    mutating func createStudy(specText: String, file: String, baseDirectory: String, owner: String? = nil, now: Now) throws -> String {
        let spec = try SpecParser.parse(specText, file: file, limits: settings.specLimits)
        var n = studies.values.filter { $0.name == spec.name }.count + 1
        while studies["\(spec.name)-\(n)"] != nil { n += 1 }
        let id = "\(spec.name)-\(n)"
        let study = StudyRecord(id: id, name: spec.name, specText: specText, baseDirectory: baseDirectory, createdAt: now.wall,
                                owner: owner)
        studies[id] = study
        out.writes.append(.createStudy(study))
        drivers[id] = StudyDriver(studyID: id, spec: spec, createdAt: now.wall, trials: [])
        drivers[id]!.suggestClock = settings.suggestClock
        out.notes.append(.info("study created", ["study.name": id]))
        advance(id, now: now)
        return id
    }

    /// Creates, resumes and submits the trials the study may start now, or finishes it.
    mutating func advance(_ id: String, now: Now) {
        guard drivers[id] != nil, let study = studies[id] else { return }
        if let expired = drivers[id]?.expireLeases(now: now.wall) { recordExpired(expired, now: now) }
        if let (state, reason) = drivers[id]?.hardStopReason(now: now.wall) {
            return finish(id, state: state, reason: reason, now: now)
        }
        guard let plan = drivers[id]?.fillSlots(now: now.wall) else { return }
        for trial in plan.created {
            out.writes.append(.insertTrial(trial))
            attempts[TrialKey(study: id, number: trial.number)] = [:]
        }
        for trial in plan.resumed { out.writes.append(.updateTrial(trial)) }
        // A promoted trial whose paused attempt still owes its checkpoint is stored `waiting`;
        // its SUBMIT waits for the checkpoint (`OptimizerMachine+Pauses`).
        let resumed = plan.resumed.filter { !holdsPromotion(TrialKey(study: id, number: $0.number)) }
        for trial in plan.pruned {
            out.writes.append(.recordResult(trial, nil))
            forget(TrialKey(study: id, number: trial.number))
        }
        submit(plan.created + resumed, of: study, resync: false)
        if let (state, reason) = drivers[id]?.stopReason(now: now.wall) { finish(id, state: state, reason: reason, now: now) }
    }

    /// Ends a study: its active trials are cancelled at the broker (a message: the answer needs
    /// nothing more) and in the store, paused ones pruned.
    mutating func finish(_ id: String, state: StudyState, reason: String, now: Now) {
        guard var study = studies[id], let active = drivers[id]?.active else { return }
        if !active.isEmpty {
            // Trials from `ask` run outside the fabric: only the others are jobs to cancel (and an
            // empty CANCEL_JOBS is malformed).
            let jobs = active.filter { $0.source != "ask" }.map(\.jobID)
            if !jobs.isEmpty { out.messages.append(.cancel(jobs: jobs, reason: "the study ended: \(reason)")) }
            for var trial in active {
                trial.state = .cancelled
                trial.error = "the study ended: \(reason)"
                trial.finishedAt = now.wall
                recordResult(trial, attempt: nil, now: now)
            }
        }
        if let paused = drivers[id]?.abandonPaused(now: now.wall, reason: reason) {
            for trial in paused {
                out.writes.append(.recordResult(trial, nil))
                forget(TrialKey(study: id, number: trial.number))
            }
        }
        for key in attempts.keys where key.study == id { forget(key) }
        endedTrialNumbers[id] = drivers[id]?.trials.map(\.number).max() ?? 0
        drivers[id] = nil
        study.state = state
        study.reason = reason
        study.finishedAt = now.wall
        studies[id] = study
        out.writes.append(.updateStudy(study))
        out.notes.append(.info("study finished", ["study.name": id, "study.state": state.rawValue, "study.reason": reason]))
    }

    /// Submits trials as jobs: spec, resources, and the attempts left.
    mutating func submit(_ trials: [TrialRecord], of study: StudyRecord, resync: Bool) {
        guard let spec = drivers[study.id]?.spec, !trials.isEmpty else { return }
        out.messages.append(.submit(trials.map { Self.job(for: $0, spec: spec, study: study, resync: resync) }))
    }

    /// The broker job of a trial.
    static func job(for trial: TrialRecord, spec: StudySpec, study: StudyRecord, resync: Bool) -> JobSubmission {
        let cwd = spec.trial.cwd.map { URL(fileURLWithPath: $0, relativeTo: URL(fileURLWithPath: study.baseDirectory, isDirectory: true)).standardizedFileURL.path }
            ?? study.baseDirectory
        let payload = JobSpec(command: spec.trial.command, config: trial.config, env: spec.trial.env, cwd: cwd,
                              timeoutS: spec.trial.timeoutSeconds, stallTimeoutS: spec.trial.stallTimeoutSeconds,
                              gpu: spec.trial.gpu > 0 ? spec.trial.gpu : nil,
                              budget: trial.budget, restoreFrom: trial.restoreFrom.map { "\(study.id)/\($0)" },
                              workerLabels: spec.trial.workerLabels.isEmpty ? nil : spec.trial.workerLabels).payload
        let allowed = UInt32(1 + spec.trial.maxRetries)
        let first = UInt32(trial.attempts + 1)
        var requirements = Requirements(
            cpuMilli: UInt32((spec.trial.cpu * 1000).rounded()), gpuMilli: UInt32((spec.trial.gpu * 1000).rounded()),
            maxAttempts: allowed > UInt32(trial.attempts) ? allowed - UInt32(trial.attempts) : 1, firstAttempt: first,
            flags: resync ? Requirements.Flags.resync : 0)
        requirements.quarantineAfter = UInt32(spec.trial.quarantineAfter)
        return JobSubmission(id: trial.jobID, requirements: requirements, payload: payload)
    }

    // MARK: - The feed

    /// A `worker/<id>/<event>` event of the broker's feed: recorded (best effort).
    public mutating func workerEvent(_ event: FeedEvent, now: Now) -> OptimizerActions {
        guard let typed = try? event.typed(), let worker = typed.event.worker, event.topic.hasPrefix("worker/") else {
            out.notes.append(.warning("ignored a malformed worker event", ["feed.topic": event.topic, "feed.seq": "\(event.seq)"]))
            return take()
        }
        let detail: String? = switch typed.event {
        case .workerGone(_, _, let reason, _): reason
        case .workerJoined(_, let host, _, _, _, _, _, _): "host \(host)"
        default: nil
        }
        out.writes.append(.recordWorkerEvent(WorkerEventRecord(time: typed.time > 0 ? typed.time : now.wall, worker: worker,
                                                               event: typed.event.name, detail: detail)))
        return take()
    }

    /// A `log/…` event of the broker's feed: its lines are recorded (best effort).
    public mutating func logEvent(_ event: FeedEvent, now: Now) -> OptimizerActions {
        if let lines = Self.logLines(event) {
            out.writes.append(.recordLogLines(lines))
        } else {
            out.notes.append(.warning("ignored a malformed log event", ["feed.topic": event.topic, "feed.seq": "\(event.seq)"]))
        }
        return take()
    }

    /// The store rows of a `log` feed event; nil when it is not one.
    static func logLines(_ event: FeedEvent) -> [LogLineRecord]? {
        guard case .log(let batch, _)? = try? event.typed().event, let (study, trial) = parseJobID(batch.attempt.job) else {
            return nil
        }
        var records: [LogLineRecord] = []
        records.reserveCapacity(batch.lines.count)
        for (i, text) in batch.lines.enumerated() {
            records.append(LogLineRecord(study: study, trial: trial, attempt: Int(batch.attempt.attempt), stream: batch.stream.rawValue,
                                         line: Int(batch.firstLine) + i, text: text, feedSeq: event.seq))
        }
        return records
    }
}
