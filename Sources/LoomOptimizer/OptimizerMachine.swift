import LoomCheckpoint
import LoomClient
import LoomModel
import LoomWire

/// The optimizer's logic as a value: events in (with `now`), actions out. It owns the running
/// studies (a `StudyDriver` each), the attempts of their unfinished trials, the report keys and
/// last metric each unfinished trial reported, and the checkpoint uploads in flight
/// (`CheckpointUploads`). `OptimizerService` is the thin loop around it: it feeds the machine what
/// the broker connection (`ClientEvent`), the feed and the clock deliver, applies the turn's
/// `OptimizerActions.writes` in ONE `store.batch`, and only after that commit sends `OptimizerActions.messages`
/// and performs `OptimizerActions.disk`.
///
/// **Threading.** A value type with no shared state: one owner mutates it at a time. It reads no
/// clock (every event takes `now`), does no I/O (store writes, messages and blob writes are
/// actions) and never waits for an answer (a cancel is a message; the broker's CANCELLED comes
/// back as a `.cancelled` event, which needs nothing more).
/// **Determinism.** The same records and the same events give the same actions: no `Date()`, no
/// unseeded randomness, and every iteration over a dictionary whose order could reach an action
/// goes through sorted keys.
/// **Restart.** `init(settings:restoring:)` rebuilds the machine from a `StoredState` (what the
/// store holds: `StoredState.read(from:)`, or a simulator's disk), then `start(now:)` submits
/// every unfinished trial again with the resync flag. A turn whose commit failed is dropped with
/// its messages and the machine is rebuilt the same way; so the machine never holds anything the
/// store does not, except uploads in flight (started over when the worker resends).
/// **Invariants.**
/// - A message announcing a write (ACK of an update, SUBMIT of a trial, RESPOND to a submit) is
///   emitted in the same `OptimizerActions` as that write, so it leaves only once the write is durable.
/// - ACKs come first in `messages`: a SUBMIT of a job whose last result this turn acknowledges
///   must reach the broker after that ACK (a promoted budget-style trial).
/// - Every trial of a running study is mirrored by its driver exactly as stored; an attempt row
///   is written only through `attempts`, which mirrors the store's rows of unfinished trials.
/// - A trial's result is written once (`recordResult`); attempts still running then are closed:
///   earlier ones `lost` (no result came from them), later ones `cancelled`.
public struct OptimizerMachine: Sendable {
    /// The moment of an event: a monotonic instant for timers (checkpoint transfers) and the wall
    /// time (seconds since the Unix epoch) that records carry.
    public struct Now: Sendable, Equatable {
        public var instant: ContinuousClock.Instant
        public var wall: Double

        public init(instant: ContinuousClock.Instant, wall: Double) {
            self.instant = instant
            self.wall = wall
        }
    }

    /// What the optimizer keeps of checkpoints.
    public struct Settings: Sendable {
        /// Whether a blob directory exists: without one, CHECKPOINT updates are stored as
        /// reports and nothing is uploaded.
        public var keepsCheckpoints: Bool
        /// Checkpoints kept per trial (`checkpoint_keep`).
        public var keep: Int
        /// A checkpoint larger than this is refused (recorded with `checkpoint_error`).
        public var maxBytes: Int64
        /// A checkpoint of more files is refused (recorded with `checkpoint_error`).
        public var maxFiles: Int
        public var transfer: ChunkTransfer.Config
        /// How long a result (FINAL or FAILED) may wait for its attempt's checkpoint upload before
        /// the upload is given up and the result recorded without it. A minute: fifteen tries of a
        /// chunk take 15 s, and a broker restart with its recovery window a few seconds more; a
        /// result held longer keeps a slot's trial from ending (issue 15).
        public var resultHold: Duration = .seconds(60)
        /// How long a paused trial waits for the checkpoint its attempt announced before it may
        /// resume without it (`OptimizerMachine+Pauses`). A minute, as `resultHold`: the worker
        /// resends an unacknowledged CHECKPOINT every 5 s, and a broker restart with its
        /// recovery window takes a few seconds more; a checkpoint lost for good must not hold a
        /// rung's promotion longer.
        public var pausedCheckpointWait: Duration = .seconds(60)
        /// How long a FINAL whose last line announced a checkpoint waits for that CHECKPOINT when
        /// it overtook it (`OptimizerMachine+HeldResults`): three of the worker's 5 s resend
        /// intervals. A worker that crashed took the CHECKPOINT with it: the result must not wait
        /// long for what will not come.
        public var overtakenCheckpointWait: Duration = .seconds(15)
        /// The budget a submitted spec must fit (specs already stored are read back under the
        /// default budget, which is never lower).
        public var specLimits = SpecBudget.Limits()
        /// The directory a submitted spec's relative paths resolve against when the request
        /// names none (the service's working directory).
        public var workingDirectory: String
        /// When set, each searcher's `suggest` is timed with it and the times are handed out
        /// (`OptimizerActions.suggestTimes`): the service sets the real clock when it exports
        /// metrics; nil (tests, the simulation) times nothing. The machine reads no clock itself.
        public var suggestClock: (@Sendable () -> ContinuousClock.Instant)?

        public init(keepsCheckpoints: Bool, keep: Int = 2, maxBytes: Int64 = 1 << 30, maxFiles: Int = CheckpointManifest.maxFiles,
                    transfer: ChunkTransfer.Config = ChunkTransfer.Config(), workingDirectory: String = "/") {
            self.keepsCheckpoints = keepsCheckpoints
            self.maxFiles = min(max(1, maxFiles), CheckpointManifest.maxFiles)
            self.workingDirectory = workingDirectory
            self.keep = max(1, keep)
            self.maxBytes = maxBytes
            self.transfer = transfer
        }

        public init(_ settings: CheckpointStoreSettings, workingDirectory: String) {
            self.init(keepsCheckpoints: settings.directory != nil, keep: settings.keep, maxBytes: settings.maxBytes,
                      maxFiles: settings.maxFiles, transfer: settings.transfer, workingDirectory: workingDirectory)
        }
    }

    /// A trial's identity within the machine.
    struct TrialKey: Hashable, Sendable, Comparable {
        var study: String
        var number: Int

        static func < (a: TrialKey, b: TrialKey) -> Bool { (a.study, a.number) < (b.study, b.number) }
    }

    /// A report's identity (`recordReport` is idempotent by it).
    struct ReportKey: Hashable, Sendable {
        var lease: UInt64
        var seq: UInt64
    }

    /// The last finite value of the study's metric a trial reported, with its metrics.
    struct LastMetric: Equatable, Sendable {
        var value: Double
        var metrics: JSONValue
        /// The seq of the update it came from, in its attempt (`lastMetric`'s key).
        var seq: UInt64
    }

    public let settings: Settings
    /// Every study, running or not (ids are unique; a new study's id counts the earlier ones).
    var studies: [String: StudyRecord] = [:]
    /// The running studies' drivers, mutated in place (`drivers[id]?.update(…)`): a copy of a
    /// driver alive while it changes would copy every one of its trials per event.
    var drivers: [String: StudyDriver] = [:]
    /// The highest trial number of each study that ended (while this machine ran, or before: read
    /// from the store at start): a late REPORT is stored only for a trial the store holds (a
    /// write naming another fails the whole turn).
    var endedTrialNumbers: [String: Int] = [:]
    /// Attempt rows of the unfinished trials of running studies, by attempt number.
    var attempts: [TrialKey: [Int: AttemptRecord]] = [:]
    /// Reports already stored for each unfinished trial: a resend is acknowledged, not replayed.
    var reportKeys: [TrialKey: Set<ReportKey>] = [:]
    /// The newest metric each attempt of an unfinished trial reported (by seq): a resumed attempt
    /// that finds its checkpoint at its end and reports nothing completes with one (`resumedFinal`).
    var lastMetric: [TrialKey: [Int: LastMetric]] = [:]
    /// Checkpoint uploads in flight, and the blobs the store holds.
    var uploads: CheckpointUploads
    /// Paused trials waiting for the checkpoint their attempt announced (`OptimizerMachine+Pauses`).
    var awaited: [TrialKey: AwaitedCheckpoint] = [:]
    /// FINALs waiting for the CHECKPOINT they overtook (`OptimizerMachine+HeldResults`).
    var overtaking: [UploadID: OvertakingResult] = [:]
    /// What the current event produced (`take()` hands it out).
    var out = OptimizerActions()
    /// Refusals of peers' messages by reason (`OptimizerMachine+Refusals`).
    public internal(set) var counters = OptimizerCounters()
    /// Refusals waiting to be logged, rate-limited per reason.
    var refusalLog = RefusalLog()

    /// Rebuilds the machine from what the store holds. Studies whose spec no longer parses stay
    /// as they are (not driven), with an error note in the first `start(now:)`'s actions.
    public init(settings: Settings, restoring state: StoredState) {
        self.settings = settings
        uploads = CheckpointUploads(settings: settings, blobs: state.blobs)
        for study in state.studies { studies[study.id] = study }
        endedTrialNumbers = state.endedTrialCounts
        var trialsByStudy: [String: [TrialRecord]] = [:]
        for trial in state.trials { trialsByStudy[trial.study, default: []].append(trial) }
        var reportsByStudy: [String: [ReportRecord]] = [:]
        for report in state.reports { reportsByStudy[report.study, default: []].append(report) }
        for study in state.studies where study.state == .running {
            let spec: StudySpec
            do {
                spec = try SpecParser.parse(study.specText, file: "\(study.id).yaml")
            } catch {
                out.notes.append(.error("cannot resume study", ["study.name": study.id, "error": "\(error)"]))
                continue
            }
            let trials = trialsByStudy[study.id] ?? []
            let reports = (reportsByStudy[study.id] ?? []).sorted { ($0.trial, $0.attempt, $0.seq, $0.lease) < ($1.trial, $1.attempt, $1.seq, $1.lease) }
            // The driver replays only its scheduler's trials (not `ask` ones).
            let replayed = spec.scheduler.kind == .fifo ? [] : reports
            drivers[study.id] = StudyDriver(studyID: study.id, spec: spec, createdAt: study.createdAt, trials: trials, reports: replayed)
            drivers[study.id]!.suggestClock = settings.suggestClock
            for trial in trials where !trial.state.isFinished {
                let key = TrialKey(study: study.id, number: trial.number)
                attempts[key] = [:]
            }
            for report in reports {
                let key = TrialKey(study: study.id, number: report.trial)
                guard attempts[key] != nil else { continue }
                reportKeys[key, default: []].insert(ReportKey(lease: report.lease, seq: report.seq))
                noteMetric(report.metrics, kind: report.kind, of: key, attempt: report.attempt, seq: report.seq, spec: spec)
            }
        }
        for attempt in state.attempts {
            let key = TrialKey(study: attempt.study, number: attempt.trial)
            guard attempts[key] != nil else { continue }
            attempts[key]![attempt.attempt] = attempt
        }
        let unfinished = state.trials.filter { attempts[TrialKey(study: $0.study, number: $0.number)] != nil }
        restoreAwaited(unfinished, reports: state.reports, attemptRows: state.attempts)
    }

    /// A machine with no studies (a new store).
    public init(settings: Settings) {
        self.init(settings: settings, restoring: StoredState())
    }

    /// Starts serving: every unfinished trial of a running study is submitted again with the
    /// resync flag (the broker, which may still run it, only learns the new owner connection).
    public mutating func start(now: Now) -> OptimizerActions {
        for id in drivers.keys.sorted() {
            guard let driver = drivers[id], let study = studies[id] else { continue }
            // A promoted trial whose paused attempt still owes its checkpoint is followed, not
            // submitted (`startAwaited`).
            let unfinished = driver.trials.filter {
                !$0.state.isFinished && $0.state != .paused && $0.source != "ask" && awaited[TrialKey(study: id, number: $0.number)] == nil
            }
            // A trial the scheduler resumed (a promotion, a PBT restart) whose new run may not have
            // reached the broker (this optimizer died between the commit and the send): the job
            // there may still be the stopped attempt's, whose result a re-sync would take for the
            // new run's (the study waited for good). So it is cancelled and submitted anew, as
            // the turn that resumed it does.
            let resumed = unfinished.filter { trial in
                trial.state == .waiting && trial.attempts > 0
                    && attempts[TrialKey(study: id, number: trial.number)]?[trial.attempts]?.state == .complete
            }
            let resumedNumbers = Set(resumed.map(\.number))
            submit(unfinished.filter { !resumedNumbers.contains($0.number) }, of: study, resync: true)
            if !resumed.isEmpty {
                out.messages.append(.cancel(jobs: resumed.map(\.jobID), reason: "resumed by the scheduler; submitted again after a restart"))
                submit(resumed, of: study, resync: false)
            }
            out.notes.append(.info("study resumed", ["study.name": id, "study.unfinished": "\(unfinished.count)"]))
        }
        startAwaited(now: now)
        return take()
    }

    /// The passing of time: checkpoint transfers that went unanswered are asked again (or fail),
    /// and every running study is advanced (new trials in free slots, wall-clock budgets).
    /// The service calls it once per loop turn, after the turn's other events.
    public mutating func tick(now: Now) -> OptimizerActions {
        checkpointProgress(uploads.expire(now: now.instant), now: now)
        expireAwaited(now: now)
        expireOvertaking(now: now)
        for id in drivers.keys.sorted() { advance(id, now: now) }
        return take()
    }

    /// The earliest instant at which `tick(now:)` must run for a checkpoint transfer or a paused
    /// trial's wait for its checkpoint (nil: none waits). Wall-clock budgets (`max_wallclock`) and
    /// new trials need ticks too: the service ticks every loop turn (at most 100 ms apart); a
    /// simulator should do the same.
    public var nextDeadline: ContinuousClock.Instant? {
        [uploads.nextDeadline, awaitedDeadline, overtakingDeadline].compactMap { $0 }.min()
    }

    /// One event from the broker connection (`ClientStateMachine`).
    public mutating func handle(_ event: ClientEvent, now: Now) -> OptimizerActions {
        switch event {
        case .started(let ref, let worker, let backup): started(ref, worker: worker, backup: backup, now: now)
        case .ended(let ref, let reason, let detail): ended(ref, reason: reason, detail: detail, now: now)
        case .update(let update): updated(update, now: now)
        case .transfer(let transfer): transferArrived(transfer, now: now)
        case .request(let request, let from, let body, let key): answer(request, from: from, body: body, requester: key, now: now)
        case .connected(let info, let resynced):
            out.notes.append(.info("connected to broker", ["broker.id": info.broker, "optimizer.resynced": "\(resynced)"]))
            checkpointProgress(uploads.retryAll(now: now.instant), now: now)
        case .error(let text):
            out.notes.append(.warning("broker error", ["error": text]))
        case .cancelled(let request, let count):
            out.notes.append(.debug("broker cancelled jobs", ["optimizer.request": "\(request)", "optimizer.cancelled": "\(count)"]))
        case .submitted, .reply:
            break
        }
        return take()
    }

    /// Hands out what the current event produced.
    mutating func take() -> OptimizerActions {
        defer { out = OptimizerActions() }
        out.notes += refusalLog.take().map { .warning("message refused", $0.metadata) }
        if settings.suggestClock != nil {
            for id in drivers.keys.sorted() where !drivers[id]!.suggestTimes.isEmpty {
                let searcher = drivers[id]!.spec.searcher.kind.rawValue
                out.suggestTimes += drivers[id]!.suggestTimes.map { SuggestTime(searcher: searcher, duration: $0) }
                drivers[id]!.suggestTimes.removeAll()
            }
        }
        return out
    }

    /// A running study's trials (the driver's mirror of the store), for read-only answers.
    public func driver(_ study: String) -> StudyDriver? { drivers[study] }

    /// Every study the machine knows, oldest first.
    public var studyRecords: [StudyRecord] {
        studies.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// Records `metrics` as `key`'s last metric when it holds a finite value of the spec's metric
    /// (`final` reports keep theirs under `metrics`) and comes from a later update than the one
    /// kept: updates arrive out of order (resends, checkpoints behind their uploads).
    mutating func noteMetric(_ metrics: JSONValue, kind: String, of key: TrialKey, attempt: Int, seq: UInt64, spec: StudySpec) {
        guard let value = metrics.object?[spec.metric]?.double, value.isFinite else { return }
        if let kept = lastMetric[key]?[attempt], kept.seq > seq { return }
        lastMetric[key, default: [:]][attempt] = LastMetric(value: value, metrics: metrics, seq: seq)
    }

    /// The newest metric the trial reported in any attempt, by (attempt, seq).
    func newestMetric(_ key: TrialKey) -> LastMetric? {
        Self.newest(lastMetric[key] ?? [:])
    }

    /// The newest of `byAttempt` (attempt number → its newest metric), by (attempt, seq).
    static func newest(_ byAttempt: [Int: LastMetric]) -> LastMetric? {
        byAttempt.max { ($0.key, $0.value.seq) < ($1.key, $1.value.seq) }?.value
    }

    /// Drops what the machine keeps of an unfinished trial (it finished).
    mutating func forget(_ key: TrialKey) {
        dropWait(key)
        dropOvertaking(key)
        attempts[key] = nil
        reportKeys[key] = nil
        lastMetric[key] = nil
    }

    /// `<study>/<number>` → its parts.
    public static func parseJobID(_ job: String) -> (study: String, number: Int)? {
        guard let slash = job.lastIndex(of: "/"), let n = Int(job[job.index(after: slash)...]) else { return nil }
        return (String(job[..<slash]), n)
    }
}

/// What the store holds that the machine is rebuilt from.
public struct StoredState: Sendable {
    /// Every study.
    public var studies: [StudyRecord]
    /// The trials of the running studies.
    public var trials: [TrialRecord]
    /// The attempt rows of the running studies' unfinished trials.
    public var attempts: [AttemptRecord]
    /// Reports of the running studies: of every trial when the scheduler is not FIFO (it is
    /// replayed), else of the unfinished trials.
    public var reports: [ReportRecord]
    /// The blobs the checkpoint directory holds.
    public var blobs: [String]
    /// How many trials each study that no longer runs holds (its trials are numbered 1…n): a
    /// late REPORT of such a study is stored when it names one of them.
    public var endedTrialCounts: [String: Int]

    public init(studies: [StudyRecord] = [], trials: [TrialRecord] = [], attempts: [AttemptRecord] = [],
                reports: [ReportRecord] = [], blobs: [String] = [], endedTrialCounts: [String: Int] = [:]) {
        self.studies = studies
        self.trials = trials
        self.attempts = attempts
        self.reports = reports
        self.blobs = blobs
        self.endedTrialCounts = endedTrialCounts
    }
}
