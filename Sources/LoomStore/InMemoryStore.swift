import LoomModel

/// A `StudyStore` in dictionaries: for tests, for studies run in-process without a file, and as
/// the simulated disk of a simulation.
///
/// Same semantics as `SQLiteStore`, row for row and error for error (the contract suite runs
/// against both); only durability differs: everything is gone with the instance.
///
/// **Cost.** Every per-trial operation (insert, update, read one trial; record an attempt, a
/// report, a result, a checkpoint, log lines) is O(1) in the number of trials, attempts and
/// reports the store holds: rows are indexed by study and trial, a batch keeps an undo log of
/// the rows it changed instead of a copy of every table, blob references are counted, and the
/// log feed position is kept as lines arrive. Listing reads (`trials(study:)`, `reports`) sort
/// what they return.
/// **Threading.** Not thread-safe: one thread (or one actor) at a time, as `StudyStore` says.
public final class InMemoryStore: StudyStore {
    /// A trial's identity, the parent of its attempts and reports.
    struct TrialKey: Hashable {
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
    /// Checkpoints per trial, newest first (`InMemoryStore+Checkpoints`).
    var checkpointRows: [TrialKey: [CheckpointRecord]] = [:]
    /// How many stored checkpoints reference each blob (absent: none).
    var blobReferences: [String: Int] = [:]
    /// Trial output per trial, keyed by `attempt NUL stream NUL line` (`InMemoryStore+Logs`).
    var logRows: [TrialKey: [String: LogLineRecord]] = [:]
    /// The highest feed sequence number of a stored line.
    var logPosition: UInt64 = 0
    /// Inside `batch`: how to put back each change made so far, in order.
    private var undoLog: [() -> Void]?

    public init() {}

    /// Everything at once: a batch that throws puts back every row it changed, newest change
    /// first, as SQLite's rollback would.
    public func batch<T>(_ body: () throws -> T) throws -> T {
        precondition(undoLog == nil, "InMemoryStore.batch is not reentrant")
        undoLog = []
        do {
            let result = try body()
            undoLog = nil
            return result
        } catch {
            let undo = undoLog ?? []
            undoLog = nil
            for step in undo.reversed() { step() }
            throw error
        }
    }

    /// Inside a batch, records how to undo the change about to be made.
    func remember(_ undo: @escaping () -> Void) {
        undoLog?.append(undo)
    }

    // MARK: Studies

    public func createStudy(_ study: StudyRecord) throws(StoreError) {
        guard studyRows[study.id] == nil else { throw .conflict(Storable.studyKey(study.id)) }
        studyRows[study.id] = study
        studyIDs.append(study.id)
        remember { [unowned self] in
            studyRows[study.id] = nil
            studyIDs.removeLast()
        }
    }

    public func study(_ id: String) throws(StoreError) -> StudyRecord? { studyRows[id] }

    public func studies() throws(StoreError) -> [StudyRecord] {
        studyIDs.enumerated()
            .map { (order: $0.offset, study: studyRows[$0.element]!) }
            .sorted { ($0.study.createdAt, $0.order) < ($1.study.createdAt, $1.order) }
            .map(\.study)
    }

    public func updateStudy(_ study: StudyRecord) throws(StoreError) {
        guard let old = studyRows[study.id] else { throw .notFound(Storable.studyKey(study.id)) }
        studyRows[study.id] = study
        remember { [unowned self] in studyRows[study.id] = old }
    }

    // MARK: Trials

    public func insertTrial(_ trial: TrialRecord) throws(StoreError) {
        _ = try Storable.trialJSON(trial, operation: "insertTrial(\(Storable.trialKey(trial.study, trial.number)))")
        guard studyRows[trial.study] != nil else { throw .notFound(Storable.studyKey(trial.study)) }
        guard trialRows[trial.study]?[trial.number] == nil else {
            throw .conflict(Storable.trialKey(trial.study, trial.number))
        }
        trialRows[trial.study, default: [:]][trial.number] = trial
        remember { [unowned self] in trialRows[trial.study]?[trial.number] = nil }
    }

    public func updateTrial(_ trial: TrialRecord) throws(StoreError) {
        _ = try Storable.trialJSON(trial, operation: "updateTrial(\(Storable.trialKey(trial.study, trial.number)))")
        try requireTrial(trial.study, trial.number)
        setTrial(trial)
    }

    public func trial(study: String, number: Int) throws(StoreError) -> TrialRecord? { trialRows[study]?[number] }

    public func trials(study: String) throws(StoreError) -> [TrialRecord] {
        (trialRows[study] ?? [:]).values.sorted { $0.number < $1.number }
    }

    // MARK: Attempts and reports

    public func recordAttempt(_ attempt: AttemptRecord) throws(StoreError) {
        try requireTrial(attempt.study, attempt.trial)
        setAttempt(attempt)
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
        remember { [unowned self] in reportRows[trialKey]?[key] = nil }
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
        setTrial(trial)
        if let attempt { setAttempt(attempt) }
        // Attempts still running end with the trial (the broker cancels them).
        let key = TrialKey(study: trial.study, number: trial.number)
        for (number, running) in attemptRows[key] ?? [:] where running.state == .running && number != attempt?.attempt {
            setAttempt(running.closed(by: trial))
        }
        return true
    }

    // MARK: Worker events

    public func recordWorkerEvent(_ event: WorkerEventRecord) throws(StoreError) {
        events.append(event)
        remember { [unowned self] in events.removeLast() }
    }

    public func workerEvents(limit: Int) throws(StoreError) -> [WorkerEventRecord] {
        guard limit > 0 else { return [] }
        let ordered = events.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }
        return ordered.suffix(limit).map(\.element)
    }

    // MARK: Helpers

    /// Throws `.notFound` naming the trial when it does not exist.
    func requireTrial(_ study: String, _ number: Int) throws(StoreError) {
        guard trialRows[study]?[number] != nil else { throw .notFound(Storable.trialKey(study, number)) }
    }

    /// Replaces an existing trial's row (undoably).
    private func setTrial(_ trial: TrialRecord) {
        let old = trialRows[trial.study]![trial.number]!
        trialRows[trial.study]![trial.number] = trial
        remember { [unowned self] in trialRows[trial.study]![trial.number] = old }
    }

    /// Inserts or replaces an attempt's row (undoably).
    private func setAttempt(_ attempt: AttemptRecord) {
        let key = TrialKey(study: attempt.study, number: attempt.trial)
        let old = attemptRows[key]?[attempt.attempt]
        attemptRows[key, default: [:]][attempt.attempt] = attempt
        remember { [unowned self] in attemptRows[key, default: [:]][attempt.attempt] = old }
    }
}
