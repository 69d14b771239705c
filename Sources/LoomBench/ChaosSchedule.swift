import LoomSearch

/// A process of the chaos bench's fabric that a fault can hit.
public enum ChaosTarget: Hashable, Sendable, CustomStringConvertible {
    case broker
    case optimizer
    case logger
    /// The worker `w<n>` (1-based).
    case worker(Int)

    public var description: String {
        switch self {
        case .broker: "broker"
        case .optimizer: "optimizer"
        case .logger: "logger"
        case .worker(let n): "w\(n)"
        }
    }
}

/// One fault of a chaos schedule: what is done to which processes, when, and for how long.
public struct ChaosFault: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// SIGKILL, then the process is started again (same arguments, same data directory)
        /// `down` seconds later.
        case kill(down: Double)
        /// SIGSTOP, then SIGCONT `seconds` later.
        case freeze(seconds: Double)
    }

    /// Seconds after the schedule starts.
    public var at: Double
    /// Hit together (one to three of them).
    public var targets: [ChaosTarget]
    public var kind: Kind
    /// True: at `at`, wait (at most `ChaosSchedule.uploadWait`) for the next `checkpoint` event
    /// on the feed and strike right after it, while that checkpoint's upload is in flight.
    public var duringUpload: Bool

    /// How long the targets stay down or frozen.
    public var duration: Double {
        switch kind {
        case .kill(let down): down
        case .freeze(let seconds): seconds
        }
    }

    public var description: String {
        let what = switch kind {
        case .kill(let down): "SIGKILL, restart after \(Self.seconds(down))"
        case .freeze(let seconds): "SIGSTOP, SIGCONT after \(Self.seconds(seconds))"
        }
        return "\(Self.seconds(at)) \(targets.map(\.description).joined(separator: "+")): \(what)"
            + (duringUpload ? " (during a checkpoint upload)" : "")
    }

    static func seconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)s"
    }
}

/// The faults of one chaos run, drawn from a seed: the same seed, duration and worker count give
/// the same faults at the same offsets on the same targets (the processes' own timing is real).
///
/// **Shape.** A fault every 1.5–4.5 s: a single SIGKILL + restart (down 0.2–2 s), a freeze
/// (SIGSTOP 1–8 s, then SIGCONT), two or three processes killed at once, or a kill timed right
/// after a checkpoint event (its upload in flight). A process is never hit again before it is
/// back (restarted or thawed, plus a second), so every fault is a clean kill or freeze of a
/// running process; the last fault ends by `duration`.
public struct ChaosSchedule: Equatable, Sendable {
    public var seed: UInt64
    public var duration: Double
    public var workers: Int
    public private(set) var faults: [ChaosFault] = []

    /// The longest a fault timed on an upload waits for a checkpoint event before it strikes anyway.
    public static let uploadWait = 2.0

    public init(seed: UInt64, duration: Double, workers: Int) {
        precondition(workers >= 1 && duration > 0, "at least one worker and a positive duration")
        self.seed = seed
        self.duration = duration
        self.workers = workers
        var random = Xoshiro256StarStar(seed: seed)
        func uniform(_ low: Double, _ high: Double) -> Double {
            low + (high - low) * Double(random.next() >> 11) / Double(1 << 53)
        }
        let everyone: [ChaosTarget] = [.broker, .optimizer, .logger] + (1...workers).map { .worker($0) }
        var busyUntil: [ChaosTarget: Double] = [:]
        var t = uniform(1.0, 2.5)
        while t < duration {
            let free = everyone.filter { (busyUntil[$0] ?? 0) <= t }
            let roll = uniform(0, 1)
            let kind: ChaosFault.Kind = roll < 0.25 ? .freeze(seconds: uniform(1, 8)) : .kill(down: uniform(0.2, 2))
            var count = 1
            var duringUpload = false
            if case .kill = kind {
                if roll < 0.5 { count = 1 } else if roll < 0.65 { duringUpload = true } else { count = roll < 0.85 ? 2 : 3 }
            }
            var pool = free
            // A frozen logger or optimizer is no different from a slow one; freezes go to the
            // processes whose silence the others must notice: workers and the broker.
            if case .freeze = kind { pool = pool.filter { $0 != .logger && $0 != .optimizer } }
            // An upload runs between a worker, the broker and the optimizer.
            if duringUpload { pool = pool.filter { $0 != .logger } }
            var targets: [ChaosTarget] = []
            while targets.count < count, !pool.isEmpty {
                targets.append(pool.remove(at: Int(random.next() % UInt64(pool.count))))
            }
            let fault = ChaosFault(at: t, targets: targets, kind: kind, duringUpload: duringUpload)
            let end = t + fault.duration + (duringUpload ? Self.uploadWait : 0)
            if !targets.isEmpty, end <= duration {
                faults.append(fault)
                for target in targets { busyUntil[target] = end + 1 }
            }
            t += uniform(1.5, 4.5)
        }
    }

    /// Faults that hit more than one process at once.
    public var multiple: Int { faults.filter { $0.targets.count > 1 }.count }
}
