import Foundation
import LoomWire

/// When an attempt counts as stalled or slow and a worker as slow (Docs/stragglers.md).
/// Each tunable says why it has its default.
public struct StragglerPolicy: Equatable, Sendable {
    /// A derived stall timeout is this many median report intervals: a trial that reports every
    /// 30 s and then says nothing for five minutes has stopped; one slow epoch now and then has not.
    public var stallIntervalFactor: Double
    /// A derived stall timeout is never shorter than this: a trial that prints every second may
    /// still pause for an evaluation, a garbage collection or a checkpoint upload.
    public var minimumStallTimeout: Duration
    /// How long an attempt whose process exited (its worker said so in a HEARTBEAT) may take to
    /// deliver its result — the snapshots its FINAL waits for — before it is cancelled as stalled,
    /// when its stall timeout is shorter: ten minutes, several gigabytes' snapshot on a slow disk.
    /// The worker's liveness still guards the attempt meanwhile.
    public var exitedResultTimeout: Duration = .seconds(600)
    /// Report intervals the job must have shown before a derived timeout applies. With fewer the
    /// median says nothing about the trial's rhythm, so a trial that reports only at its end is
    /// never stalled unless its spec sets `stall_timeout`.
    public var stallMinimumIntervals: Int
    /// An attempt is slow once it has run more than this many medians of its completed peers.
    public var slowAttemptFactor: Double
    /// Completed peers needed before any attempt of the group can be called slow.
    public var slowAttemptMinimumPeers: Int
    /// An attempt is never backed up before it has run this long: for short trials a second copy
    /// costs more than it can save.
    public var slowAttemptMinimumRuntime: Duration
    /// Completed durations kept per peer group, newest: the median follows a study whose trials
    /// get longer as it goes.
    public var peerWindow: Int
    /// Peer groups remembered, oldest forgotten first, so memory stays bounded over many studies.
    public var peerGroupCapacity: Int
    /// Weight of the newest sample in a worker's moving average of heartbeat lateness.
    public var latenessSmoothing: Double
    /// A worker is slow while its average lateness exceeds this fraction of its heartbeat
    /// interval: one hiccup cannot get there, heartbeats that are steadily late do.
    public var slowWorkerLateness: Double
    /// A slow worker recovers when its average lateness falls below this fraction (lower than
    /// `slowWorkerLateness`, so a worker near the threshold does not flap).
    public var recoveredWorkerLateness: Double

    public init(stallIntervalFactor: Double = 10, minimumStallTimeout: Duration = .seconds(60),
                stallMinimumIntervals: Int = 2, slowAttemptFactor: Double = 2, slowAttemptMinimumPeers: Int = 5,
                slowAttemptMinimumRuntime: Duration = .seconds(5), peerWindow: Int = 64, peerGroupCapacity: Int = 1_024,
                latenessSmoothing: Double = 0.2, slowWorkerLateness: Double = 0.5, recoveredWorkerLateness: Double = 0.2) {
        self.stallIntervalFactor = stallIntervalFactor
        self.minimumStallTimeout = minimumStallTimeout
        self.stallMinimumIntervals = stallMinimumIntervals
        self.slowAttemptFactor = slowAttemptFactor
        self.slowAttemptMinimumPeers = slowAttemptMinimumPeers
        self.slowAttemptMinimumRuntime = slowAttemptMinimumRuntime
        self.peerWindow = peerWindow
        self.peerGroupCapacity = peerGroupCapacity
        self.latenessSmoothing = latenessSmoothing
        self.slowWorkerLateness = slowWorkerLateness
        self.recoveredWorkerLateness = recoveredWorkerLateness
    }

    /// Report intervals kept per job for the median (the newest).
    static let reportIntervalWindow = 32
}

/// Jobs whose completed durations are compared: the same study (the job id up to its last `/`,
/// as the optimizer names jobs `<study>/<n>`) and the same job-spec `budget` (or none).
struct PeerGroup: Hashable, Sendable {
    var study: Substring
    var budget: Double?
}

/// What the broker reads from a job spec, once, when the job is submitted: the rest of the spec
/// stays opaque to it.
struct StragglerHints: Sendable {
    /// The spec's `stall_timeout_s`; nil: derived from the report interval.
    var stallTimeout: Duration?
    var peers = PeerGroup(study: "", budget: nil)

    init() {}

    /// Reads `stall_timeout_s` and `budget` from `spec`; a spec without them (or that is not a
    /// JSON object) gets the defaults, since the worker is the one that validates specs.
    init(job: String, spec: Frame) {
        struct Fields: Decodable {
            var stallTimeoutS: Double?
            var budget: Double?
            enum CodingKeys: String, CodingKey {
                case budget
                case stallTimeoutS = "stall_timeout_s"
            }
        }
        let fields = try? JSONDecoder().decode(Fields.self, from: Data(spec))
        if let seconds = fields?.stallTimeoutS, seconds.isFinite, seconds > 0 {
            stallTimeout = .milliseconds(Int64((min(seconds, 1e9) * 1000).rounded(.up)))
        }
        let study = job.lastIndex(of: "/").map { job[..<$0] } ?? ""
        peers = PeerGroup(study: study, budget: fields?.budget.flatMap { $0.isFinite ? $0 : nil })
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    /// The median of `durations` (the mean of the middle two for an even count); nil when empty.
    static func median(_ durations: [Duration]) -> Duration? {
        guard !durations.isEmpty else { return nil }
        let sorted = durations.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
