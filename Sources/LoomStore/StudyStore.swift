import LoomModel

/// Where studies, trials, attempts, reports and worker events are kept.
///
/// **Invariants** (checked by the contract suite `StoreContract` against every implementation):
/// - study ids are unique; a trial's `(study, number)` is unique; an attempt's
///   `(study, trial, attempt)` is unique (recording it again replaces it);
/// - `recordReport` is idempotent by `(study, trial, lease, seq)`;
/// - `recordResult` writes the trial row and its attempt row in one transaction, and only once:
///   a second result for a trial that is already finished changes nothing and returns false;
/// - everything a call wrote is durable when it returns (a result is persisted before it is
///   acknowledged to the broker) — or, inside `batch`, when the batch returns;
/// - reads return rows in a stable order: studies by creation, trials by number, attempts by
///   number, reports by (attempt, seq).
/// - rows hang off their parent: a trial needs its study, an attempt or report its trial, and a
///   write that names a missing parent fails with `.notFound(parent)` (`study s`, `trial s/3`);
/// - what is read back equals what was written: configs and metrics are stored as JSON, so a
///   number that JSON cannot hold (NaN, ±infinity) is refused with `.database`, as is a NaN `value`.
///
/// **Keys in errors.** `.conflict` and `.notFound` name the row as `study <id>` or
/// `trial <study>/<number>` (the trial's job id).
///
/// **Threading.** An instance is used from one thread at a time.
public protocol StudyStore: AnyObject {
    func createStudy(_ study: StudyRecord) throws(StoreError)
    func study(_ id: String) throws(StoreError) -> StudyRecord?
    /// Every study, oldest first.
    func studies() throws(StoreError) -> [StudyRecord]
    func updateStudy(_ study: StudyRecord) throws(StoreError)

    /// Inserts a new trial; `.conflict` when its number is taken.
    func insertTrial(_ trial: TrialRecord) throws(StoreError)
    /// Replaces a trial's row; `.notFound` when it does not exist.
    func updateTrial(_ trial: TrialRecord) throws(StoreError)
    func trial(study: String, number: Int) throws(StoreError) -> TrialRecord?
    func trials(study: String) throws(StoreError) -> [TrialRecord]

    /// Inserts or replaces an attempt. An attempt's `startedAt` is the one of its first record:
    /// a later record of the same attempt (its result, its end) keeps it.
    func recordAttempt(_ attempt: AttemptRecord) throws(StoreError)
    func attempts(study: String, trial: Int) throws(StoreError) -> [AttemptRecord]

    /// Records a report; returns false when it was already recorded.
    @discardableResult
    func recordReport(_ report: ReportRecord) throws(StoreError) -> Bool
    func reports(study: String, trial: Int) throws(StoreError) -> [ReportRecord]

    /// Records a trial's terminal state (`trial.state.isFinished`) with its attempt, atomically.
    /// Returns false, writing nothing, when the stored trial is already finished.
    /// A state that is not terminal, or an attempt of another trial, is a caller bug: it traps.
    @discardableResult
    func recordResult(trial: TrialRecord, attempt: AttemptRecord?) throws(StoreError) -> Bool

    func recordWorkerEvent(_ event: WorkerEventRecord) throws(StoreError)
    /// The latest `limit` events, oldest first (like `tail`); ties in time keep recording order.
    func workerEvents(limit: Int) throws(StoreError) -> [WorkerEventRecord]

    /// Runs `body` so that every write it makes commits together, once, when it returns: one
    /// sync for many calls (group commit). Inside, each call keeps its own all-or-nothing
    /// semantics (a call that throws undoes only its own writes) and reads see the writes made
    /// so far; nothing is durable until `batch` returns, and when `body` or the commit throws,
    /// every write of the batch is undone. Not reentrant.
    func batch<T>(_ body: () throws -> T) throws -> T

    /// A study's trials in `state`, by number (a restarted optimizer asks for `running` ones).
    func trials(study: String, state: TrialState) throws(StoreError) -> [TrialRecord]
    /// How many of a study's trials are in each state; states without trials are absent.
    func trialCounts(study: String) throws(StoreError) -> [TrialState: Int]
}

/// Why a store call failed.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A unique key is taken (names the key).
    case conflict(String)
    /// The row to update does not exist.
    case notFound(String)
    /// The database failed (names the operation and the database's message).
    case database(String)
    /// The file's schema is newer than this build understands.
    case schemaTooNew(found: Int, supported: Int)

    public var description: String {
        switch self {
        case .conflict(let what): "already exists: \(what)"
        case .notFound(let what): "not found: \(what)"
        case .database(let message): "database error: \(message)"
        case .schemaTooNew(let found, let supported):
            "the store's schema version \(found) is newer than this hyperloom understands (\(supported)); upgrade hyperloom"
        }
    }
}
