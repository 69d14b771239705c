import LoomWire

/// What the dashboard shows, folded from the broker's feed (`BrokerEvent`s, in seq order) and the
/// optimizer's and broker's status documents. Pure: no clock, no I/O; times come from the events
/// and from the caller.
///
/// **Bounds.** Per trial it keeps at most `maxReports` reports, `maxLogLines` log lines (the
/// latest) and `maxCheckpoints` checkpoints; a study of 10,000 trials stays a few tens of MB.
///
/// **Versions.** `version` grows with every change, so the server pushes only when something
/// changed; `position` is the last feed seq applied.
public struct DashboardState: Sendable {
    public static let maxReports = 2_000
    public static let maxLogLines = 2_000
    public static let maxCheckpoints = 200
    /// Stragglers (stalled and speculated events) kept for the fabric page.
    public static let maxStragglers = 50

    public internal(set) var position: UInt64 = 0
    public internal(set) var version: UInt64 = 0
    public internal(set) var studies: [String: Study] = [:]
    public internal(set) var workers: [String: Worker] = [:]
    /// Leases held by running attempts, by lease.
    public internal(set) var leases: [UInt64: AttemptRef] = [:]
    /// Jobs queued and not yet assigned.
    public internal(set) var queue: Set<String> = []
    public internal(set) var stragglers: [Straggler] = []
    /// The broker's status document (workers, queue, leases), when the dashboard could ask.
    public internal(set) var brokerStatus: JSONValue?

    /// The objective of studies the optimizer does not describe (`--metric`, `--mode`: a feed
    /// without an optimizer to ask, as in `hyperloom bench dashboard`).
    public var defaultMetric: String?
    public var defaultMaximize = false

    public init(defaultMetric: String? = nil, maximize: Bool = false) {
        self.defaultMetric = defaultMetric
        self.defaultMaximize = maximize
    }

    /// A new study, with the default objective when there is one.
    func newStudy(_ id: String) -> Study {
        var study = Study(id: id)
        if let defaultMetric {
            study.summary["metric"] = .string(defaultMetric)
            study.summary["mode"] = .string(defaultMaximize ? "max" : "min")
        }
        return study
    }

    /// One study, from its jobs' events and the optimizer's summary.
    public struct Study: Sendable {
        public var id: String
        public var trials: [Int: Trial] = [:]
        /// From the optimizer's summary: `metric`, `mode`, `state`, `max_trials`, `rungs`, …
        public var summary: [String: JSONValue] = [:]
        /// Times of trial ends, in feed order (for trials/s).
        public var finishTimes: [Double] = []
        public var firstTime: Double?
        public var lastTime: Double?
        /// The study's own version: charts are drawn again only when it changed.
        public var version: UInt64 = 0
        /// Trials by state, as the feed tells them (`DashboardState+Aggregates.swift`).
        public internal(set) var stateCounts: [String: Int] = [:]
        /// The best complete trial by the study's metric and mode (ties: the lowest number).
        public internal(set) var best: (number: Int, value: Double)?
        /// The parameters' ranges over every trial's configuration.
        public internal(set) var ranges = ParameterRanges()
        /// A trial's configuration changed: `ranges` is walked again at the end of the fold.
        var rangesStale = false

        public var metric: String? { summary["metric"]?.argument }
        public var maximize: Bool { summary["mode"]?.argument == "max" }
    }

    /// One trial (a job `<study>/<number>`).
    public struct Trial: Sendable {
        public var number: Int
        /// `waiting`, `running`, `complete`, `failed`, `pruned`, `paused`, `cancelled`.
        public var state: String = "waiting"
        public var config: [String: JSONValue] = [:]
        public var budget: Double?
        public var attempts: [Attempt] = []
        /// Reports' metrics, in order, with their time (the newest `maxReports`).
        public var reports: [(time: Double, attempt: UInt32, metrics: [String: JSONValue])] = []
        public var result: [String: JSONValue]?
        public var checkpoints: [Checkpoint] = []
        public var logs: [LogLine] = []
        /// Lines received in all (`logs` keeps the latest).
        public var logCount = 0
        public var reason: String?
        public var finishedAt: Double?
    }

    /// One attempt of a trial on a worker.
    public struct Attempt: Sendable, Equatable {
        public var attempt: UInt32
        public var lease: UInt64?
        public var worker: String?
        /// `queued`, `assigned`, `running`, `finished`, `failed`, `lost`, `fenced`, `superseded`,
        /// `copy_lost`, `stalled`, `cancelled`.
        public var state: String
        public var backup = false
        public var startedAt: Double?
        public var endedAt: Double?
        public var detail: String?
    }

    /// A checkpoint a trial announced.
    public struct Checkpoint: Sendable, Equatable {
        public var attempt: UInt32
        public var updateSeq: UInt64
        public var time: Double
        public var payload: JSONValue?
    }

    /// One line a trial wrote.
    public struct LogLine: Sendable, Equatable {
        public var seq: UInt64
        public var attempt: UInt32
        public var stream: String
        public var line: UInt64
        public var text: String
    }

    /// A connected worker.
    public struct Worker: Sendable, Equatable {
        public var id: String
        public var host: String?
        /// `alive`, `slow`, `lost`, `left`.
        public var health = "alive"
        public var slots = 0
        public var gpus = 0
        public var latenessMs: Int?
        /// Leases it runs.
        public var running: Set<UInt64> = []
        public var joinedAt: Double?
    }

    /// A stalled attempt or a speculated copy.
    public struct Straggler: Sendable, Equatable {
        public var time: Double
        public var job: String
        public var event: String
        public var detail: String
    }
}

extension DashboardState {
    /// `(study, trial number)` of a job id `<study>/<number>`.
    static func split(_ job: String) -> (String, Int)? {
        guard let slash = job.lastIndex(of: "/"), let n = Int(job[job.index(after: slash)...]) else { return nil }
        return (String(job[..<slash]), n)
    }

    /// The object a report or result carries: its `metrics` when it has them, else itself.
    static func metrics(_ payload: Frame?) -> [String: JSONValue]? {
        guard let payload, case .object(let o)? = try? JSONValue(parsing: payload) else { return nil }
        return o["metrics"]?.object ?? o
    }
}
