@testable import LoomWorker
import LoomWire

/// Frames in, messages out: helpers shared by the state machine tests.
enum WorkerTest {
    static let config = WorkerConfig(workerID: "w-1", slots: 2, gpus: 1, heartbeat: .seconds(1), liveness: 3,
                                     host: "host-a", pid: 42, version: "test")

    static func ref(_ job: String, attempt: UInt32 = 1, lease: UInt64) -> AttemptRef {
        AttemptRef(job: job, attempt: attempt, lease: lease)
    }

    static func welcome(heartbeatMs: Int = 1000, liveness: Int = 3, broker: String = "b-1") -> [Frame] {
        BrokerToWorker.welcome(WelcomeInfo(broker: broker, heartbeatMs: heartbeatMs, liveness: liveness)).frames
    }

    static func assign(_ ref: AttemptRef) -> [Frame] {
        BrokerToWorker.assign(ref, payload: payload, token: token(ref)).frames
    }

    static func ack(_ ref: AttemptRef, seq: UInt64) -> [Frame] {
        BrokerToWorker.ack(job: ref.job, lease: ref.lease, seq: seq).frames
    }

    static let payload = JobSpec(command: ["true"]).payload

    /// A stand-in lease capability for `ref` (the worker keeps it and lists it; only the broker checks it).
    static func token(_ ref: AttemptRef) -> Frame { Array(repeating: UInt8(truncatingIfNeeded: ref.lease), count: LeaseToken.size) }

    static func metrics(_ n: Int) -> Frame { Array("{\"n\":\(n)}".utf8) }

    /// The messages among `actions`, decoded as the broker would.
    static func sent(_ actions: [WorkerAction]) -> [WorkerMessage] {
        actions.compactMap { action in
            guard case .send(let frames) = action, case .worker(let message)? = try? WireDecoder.inbound(frames) else {
                return nil
            }
            return message
        }
    }

    /// The updates among `actions` as `(kind, job, seq)`.
    static func updates(_ actions: [WorkerAction]) -> [Sent] {
        sent(actions).compactMap { message in
            guard case .update(let u) = message else { return nil }
            return Sent(kind: u.kind, job: u.attempt.job, seq: u.seq)
        }
    }

    struct Sent: Equatable, CustomStringConvertible {
        var kind: UpdateKind
        var job: String
        var seq: UInt64
        init(kind: UpdateKind, job: String, seq: UInt64) {
            self.kind = kind
            self.job = job
            self.seq = seq
        }
        init(_ kind: UpdateKind, _ job: String, _ seq: UInt64) { self.init(kind: kind, job: job, seq: seq) }
        var description: String { "\(kind) \(job)#\(seq)" }
    }

    /// A machine that has connected and been welcomed at `now`.
    static func registered(at now: ContinuousClock.Instant, config: WorkerConfig = config) -> WorkerStateMachine {
        var machine = WorkerStateMachine(config: config, now: now)
        _ = machine.start(now: now)
        _ = machine.received(welcome(), now: now)
        return machine
    }

    /// A registered machine running `ref`'s trial.
    static func running(_ refs: [AttemptRef], at now: ContinuousClock.Instant,
                        config: WorkerConfig = config) -> WorkerStateMachine {
        var machine = registered(at: now, config: config)
        for ref in refs {
            _ = machine.received(assign(ref), now: now)
            _ = machine.trialStarted(ref, now: now)
        }
        return machine
    }

    /// The READY among `actions`.
    static func ready(_ actions: [WorkerAction]) -> ReadyInfo? {
        for message in sent(actions) { if case .ready(let info) = message { return info } }
        return nil
    }
}
