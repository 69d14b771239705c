import LoomModel

/// A `StudyStore` in dictionaries: for tests and for studies run in-process without a file.
///
/// Same semantics as `SQLiteStore`, row for row and error for error (the contract suite runs
/// against both); only durability differs: everything is gone with the instance.
///
/// **Threading.** Not thread-safe: one thread (or one actor) at a time, as `StudyStore` says.
public final class InMemoryStore: StudyStore {
    /// A trial's identity, the parent of its attempts and reports.
    private struct TrialKey: Hashable {
        var study: String
        var number: Int
    }

    /// A report's identity: recording it twice is a no-op.
    private struct ReportKey: Hashable {
        var lease: UInt64
        var seq: UInt64
    }

    /// Studies by id, and the order they were created in (ties in `createdAt` keep it).
    private var studyRows: [String: StudyRecord] = [:]
    private var studyIDs: [String] = []
    private var trialRows: [String: [Int: TrialRecord]] = [:]
    private var attemptRows: [TrialKey: [Int: AttemptRecord]] = [:]
    private var reportRows: [TrialKey: [ReportKey: ReportRecord]] = [:]
    private var events: [WorkerEventRecord] = []
    /// Checkpoints per trial (`study NUL number`), newest first (`InMemoryStore+Checkpoints`).
    var checkpointRows: [String: [CheckpointRecord]] = [:]
    /// Trial output per trial (`study NUL number`), keyed by `attempt NUL stream NUL line`
    /// (`InMemoryStore+Logs`).
    var logRows: [String: [String: LogLineRecord]] = [:]

    public init() {}

    /// Everything at once: a batch that throws puts it back, as SQLite's rollback would.
    public func batch<T>(_ body: () throws -> T) throws -> T {
        let saved = (studyRows, studyIDs, trialRows, attemptRows, reportRows, events, checkpointRows, logRows)
        do {
            return try body()
        } catch {
            (studyRows, studyIDs, trialRows, attemptRows, reportRows, events, checkpointRows, logRows) = saved
            throw error
        }
    }

    // MARK: Studies

    public func createStudy(_ study: StudyRecord) throws(StoreError) {
        guard studyRows[study.id] == nil else { throw .conflict(Storable.studyKey(study.id)) }
        studyRows[study.id] = study
        studyIDs.append(study.id)
    }

    public func study(_ id: String) throws(StoreError) -> StudyRecord? { studyRows[id] }

    public func studies() throws(StoreError) -> [StudyRecord] {
        studyIDs.enumerated()
            .map { (order: $0.offset, study: studyRows[$0.element]!) }
            .sorted { ($0.study.createdAt, $0.order) < ($1.study.createdAt, $1.order) }
            .map(\.study)
    }

    public func updateStudy(_ study: StudyRecord) throws(StoreError) {
        guard studyRows[study.id] != nil else { throw .notFound(Storable.studyKey(study.id)) }
        studyRows[study.id] = study
    }

    // MARK: Trials

    public func insertTrial(_ trial: TrialRecord) throws(StoreError) {
        _ = try Storable.trialJSON(trial, operation: "insertTrial(\(Storable.trialKey(trial.study, trial.number)))")
        guard studyRows[trial.study] != nil else { throw .notFound(Storable.studyKey(trial.study)) }
        guard trialRows[trial.study]?[trial.number] == nil else {
            throw .conflict(Storable.trialKey(trial.study, trial.number))
        }
        trialRows[trial.study, default: [:]][trial.number] = trial
    }

    public func updateTrial(_ trial: TrialRecord) throws(StoreError) {
        _ = try Storable.trialJSON(trial, operation: "updateTrial(\(Storable.trialKey(trial.study, trial.number)))")
        try requireTrial(trial.study, trial.number)
        trialRows[trial.study]![trial.number] = trial
    }

    public func trial(study: String, number: Int) throws(StoreError) -> TrialRecord? { trialRows[study]?[number] }

    public func trials(study: String) throws(StoreError) -> [TrialRecord] {
        (trialRows[study] ?? [:]).values.sorted { $0.number < $1.number }
    }

    // MARK: Attempts and reports

    public func recordAttempt(_ attempt: AttemptRecord) throws(StoreError) {
        try requireTrial(attempt.study, attempt.trial)
        let key = TrialKey(study: attempt.study, number: attempt.trial)
        attemptRows[key, default: [:]][attempt.attempt] = keepingStart(attempt, key: key)
    }

    /// `attempt` with the start time of its first record (see `StudyStore.recordAttempt`).
    private func keepingStart(_ attempt: AttemptRecord, key: TrialKey) -> AttemptRecord {
        var attempt = attempt
        if let first = attemptRows[key]?[attempt.attempt] { attempt.startedAt = first.startedAt }
        return attempt
    }

    public func attempts(study: String, trial: Int) throws(StoreError) -> [AttemptRecord] {
        (attemptRows[TrialKey(study: study, number: trial)] ?? [:]).values.sorted { $0.attempt < $1.attempt }
    }

    @discardableResult
    public func recordReport(_ report: ReportRecord) throws(StoreError) -> Bool {
        let operation = "recordReport(\(Storable.trialKey(report.study, report.trial)), lease \(report.lease), seq \(report.seq))"
        _ = try Storable.json(report.metrics, operation: operation, field: "metrics")
        try requireTrial(report.study, report.trial)
        let trialKey = TrialKey(study: report.study, number: report.trial)
        let key = ReportKey(lease: report.lease, seq: report.seq)
        guard reportRows[trialKey]?[key] == nil else { return false }
        reportRows[trialKey, default: [:]][key] = report
        return true
    }

    public func reports(study: String, trial: Int) throws(StoreError) -> [ReportRecord] {
        (reportRows[TrialKey(study: study, number: trial)] ?? [:]).values
            .sorted { ($0.attempt, $0.seq, $0.lease) < ($1.attempt, $1.seq, $1.lease) }
    }

    @discardableResult
    public func recordResult(trial: TrialRecord, attempt: AttemptRecord?) throws(StoreError) -> Bool {
        Storable.checkResult(trial: trial, attempt: attempt)
        _ = try Storable.trialJSON(trial, operation: "recordResult(\(Storable.trialKey(trial.study, trial.number)))")
        try requireTrial(trial.study, trial.number)
        guard !trialRows[trial.study]![trial.number]!.state.isFinished else { return false }
        trialRows[trial.study]![trial.number] = trial
        let key = TrialKey(study: trial.study, number: trial.number)
        if let attempt { attemptRows[key, default: [:]][attempt.attempt] = keepingStart(attempt, key: key) }
        // Attempts still running end with the trial (the broker cancels them).
        for (number, running) in attemptRows[key] ?? [:] where running.state == .running && number != attempt?.attempt {
            attemptRows[key]![number] = running.closed(by: trial)
        }
        return true
    }

    // MARK: Worker events

    public func recordWorkerEvent(_ event: WorkerEventRecord) throws(StoreError) {
        events.append(event)
    }

    public func workerEvents(limit: Int) throws(StoreError) -> [WorkerEventRecord] {
        guard limit > 0 else { return [] }
        let ordered = events.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }
        return ordered.suffix(limit).map(\.element)
    }

    // MARK: Helpers

    /// Throws `.notFound` naming the trial when it does not exist.
    private func requireTrial(_ study: String, _ number: Int) throws(StoreError) {
        guard trialRows[study]?[number] != nil else { throw .notFound(Storable.trialKey(study, number)) }
    }
}
