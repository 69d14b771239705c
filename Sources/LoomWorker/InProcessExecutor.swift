import Dispatch
import Foundation
import LoomRuntime
import LoomWire
import Synchronization

/// One attempt of a trial run by a Swift closure in this process.
///
/// **Threading.** The closure runs on a thread of its own and may call `report` from it; every
/// property may be read from any thread.
public final class InProcessTrial: Sendable {
    /// The job id (`<study>/<number>` for study trials).
    public let id: String
    public let attempt: Int
    /// The trial's hyperparameters.
    public let config: [String: JSONValue]
    /// A directory for checkpoints, shared by the job's attempts on this worker. Created when
    /// first asked for: most objectives never checkpoint, and a directory per trial would cost
    /// a fast study more than its trials.
    public var checkpointDirectory: String {
        directoryCreated.withLock { created in
            guard !created else { return }
            try? FileManager.default.createDirectory(atPath: checkpointPath, withIntermediateDirectories: true)
            created = true
        }
        return checkpointPath
    }
    let checkpointPath: String
    private let directoryCreated = Mutex<Bool>(false)
    let ref: AttemptRef
    let executor: InProcessExecutor.Shared
    let stopRequested = Atomic<Bool>(false)

    init(ref: AttemptRef, config: [String: JSONValue], checkpointDirectory: String, executor: InProcessExecutor.Shared) {
        id = ref.job
        attempt = Int(ref.attempt)
        self.ref = ref
        self.config = config
        checkpointPath = checkpointDirectory
        self.executor = executor
    }

    /// Whether the attempt was cancelled, timed out, or its worker is stopping: a long objective
    /// should check it between steps and return (or throw) soon after.
    public var isStopRequested: Bool { stopRequested.load(ordering: .acquiring) }

    /// Reports intermediate metrics, as a `@hyperloom {…}` line does for a process trial.
    public func report(_ metrics: [String: JSONValue], checkpoint: Bool = false) {
        executor.post(.metrics(ref, payload: JSONCoding.encode(JSONValue.object(metrics)), checkpoint: checkpoint))
    }
}

/// The objective of in-process trials: returns the final metrics (the study's metric among them);
/// a thrown error fails the attempt with its description.
public typealias InProcessObjective = @Sendable (InProcessTrial) throws -> [String: JSONValue]

/// Runs trials as Swift closures on threads of this process, for embedded studies and benchmarks:
/// the fabric (broker, leases, store) is the same as for process trials, without process start-up.
///
/// **Threading.** The `TrialExecutor` requirements are called from the agent's thread only.
/// Closures run on a concurrent queue and hand their events over through a lock and a self-pipe
/// whose read end the agent polls, so the agent wakes as soon as something happened.
/// **Limits.** A closure cannot be killed: stopping sets `isStopRequested`, and an attempt that
/// does not return is abandoned (reported failed) after its timeout or the stop's grace period.
/// GPU shares (`JobSpec.gpu`) are not placed: closures share this process, whose devices are
/// whatever it sees, so there is nothing to hand out per trial. Embedded studies offer no GPU.
public final class InProcessExecutor: TrialExecutor {
    /// What the closures' threads share with the agent's thread.
    final class Shared: Sendable {
        let events = Mutex<[TrialEvent]>([])
        let pipe = WakePipe()

        func post(_ event: TrialEvent) {
            events.withLock { $0.append(event) }
            pipe.wake()
        }
    }

    struct Running {
        let trial: InProcessTrial
        let started: ContinuousClock.Instant
        let deadline: ContinuousClock.Instant?
        var stopReason: String?
    }

    public let workDir: String
    let objective: InProcessObjective
    let shared = Shared()
    let queue = DispatchQueue(label: "hyperloom.inprocess", attributes: .concurrent)
    let stopGrace: Duration
    var running: [UInt64: Running] = [:]
    public private(set) var malformedMetricLines = 0
    /// Closures share the worker's process: nothing to contain.
    public var isolationName: String { "in-process" }

    public init(workDir: String, stopGrace: Duration = .seconds(5), objective: @escaping InProcessObjective) {
        self.workDir = workDir
        self.stopGrace = stopGrace
        self.objective = objective
    }

    public var fileDescriptors: [Int32] { [shared.pipe.fd] }
    public var runningCount: Int { running.count }
    public var reapsByPolling: Bool { false }
    public var nextDeadline: ContinuousClock.Instant? { running.values.compactMap(\.deadline).min() }

    public func start(_ ref: AttemptRef, payload: Frame, now: ContinuousClock.Instant) -> [TrialEvent] {
        let spec: JobSpec
        do {
            spec = try JobSpec.decode(payload)
        } catch {
            return [.exited(ref, kind: .failed, payload: Self.failure("the job spec is not valid: \(error)", duration: 0))]
        }
        let paths = AttemptPaths(workDir: workDir, ref: ref)
        let trial = InProcessTrial(ref: ref, config: spec.config, checkpointDirectory: paths.checkpointDir, executor: shared)
        running[ref.lease] = Running(trial: trial, started: now,
                                     deadline: spec.timeoutS.map { now + .milliseconds(Int64($0 * 1000)) })
        let objective = self.objective
        let shared = self.shared
        queue.async {
            let clock = ContinuousClock.now
            let event: TrialEvent
            do {
                let metrics = try objective(trial)
                let seconds = Self.seconds(clock.duration(to: .now))
                event = .exited(ref, kind: .final, payload: JSONCoding.encode(JSONValue.object([
                    "metrics": .object(metrics), "exit_code": .number(0), "duration_s": .number(seconds),
                ])))
            } catch {
                event = .exited(ref, kind: .failed, payload: Self.failure("\(error)", duration: Self.seconds(clock.duration(to: .now))))
            }
            shared.post(event)
        }
        return [.started(ref, pid: getpid())]
    }

    public func readable(fd: Int32, now: ContinuousClock.Instant) -> [TrialEvent] {
        shared.pipe.drain()
        let events = shared.events.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        var out: [TrialEvent] = []
        for event in events {
            switch event {
            case .exited(let ref, let kind, let payload):
                // An attempt abandoned earlier (timeout, stop) already had its exit reported.
                guard let entry = running.removeValue(forKey: ref.lease) else { continue }
                if let reason = entry.stopReason {
                    out.append(.exited(ref, kind: .failed, payload: Self.failure("cancelled: \(reason)", duration: Self.seconds(entry.started.duration(to: now)))))
                } else {
                    out.append(.exited(ref, kind: kind, payload: payload))
                }
            case .metrics(let ref, _, _):
                if running[ref.lease] != nil { out.append(event) }
            case .started, .log:
                out.append(event)
            }
        }
        return out
    }

    public func reap(now: ContinuousClock.Instant) -> [TrialEvent] { [] }

    public func enforceDeadlines(now: ContinuousClock.Instant) -> [TrialEvent] {
        var out: [TrialEvent] = []
        for (lease, entry) in running {
            guard let deadline = entry.deadline, now >= deadline else { continue }
            entry.trial.stopRequested.store(true, ordering: .releasing)
            running[lease] = nil
            let seconds = Self.seconds(entry.started.duration(to: now))
            out.append(.exited(entry.trial.ref, kind: .failed,
                               payload: Self.failure("timed out after \(Int(seconds.rounded()))s", duration: seconds)))
        }
        return out
    }

    public func stop(lease: UInt64, reason: String, now: ContinuousClock.Instant) {
        guard running[lease] != nil else { return }
        running[lease]?.stopReason = reason
        running[lease]?.trial.stopRequested.store(true, ordering: .releasing)
    }

    public func stopAll(now: ContinuousClock.Instant) {
        for lease in running.keys { stop(lease: lease, reason: "shutdown", now: now) }
        let deadline = ContinuousClock.now + stopGrace
        while !running.isEmpty && ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: shared.pipe.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 50)
            _ = readable(fd: shared.pipe.fd, now: .now)
        }
    }

    static func failure(_ message: String, duration: Double) -> Frame {
        JSONCoding.encode(JSONValue.object(["error": .string(message), "message": .string(message), "duration_s": .number(duration)]))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
