import LoomWire

/// The worker side of the protocol, free of I/O and clocks: every event comes in with the current
/// time and the actions to carry out come back.
///
/// **Threading.** A value type; the agent's loop owns it and calls it from one thread.
///
/// **Ownership.** The machine *holds* an attempt from its ASSIGN until its process has exited and
/// every update about it has been acknowledged; READY lists every held attempt, so a restarted
/// broker learns them back. Updates are numbered per attempt from 1 and kept until their ACK;
/// while the link is down they are queued, after each WELCOME all of them are sent again in the
/// order they were made, and while registered any left unacknowledged for `resendInterval` is
/// sent again. Only REPORT updates are ever dropped, the oldest first, beyond
/// `maxUnacknowledged`.
///
/// **Liveness.** Any message counts as a sign of life in both directions. While registered the
/// worker sends HEARTBEAT when it has sent nothing for one interval, and declares the broker
/// dead after `liveness` intervals without hearing anything; a READY unanswered for as long also
/// counts as a failure. After a failure it reconnects after a backoff of 1 s doubling to 32 s,
/// reset by the next WELCOME. The heartbeat interval and liveness are the broker's (WELCOME).
///
/// **Shutdown.** `shutdown(now:)` (SIGTERM, or DISCONNECT "shutdown" from the broker) stops
/// taking jobs, stops every running trial with reason "shutdown", and waits until nothing is held
/// or `drainTimeout` has passed; then it says DISCONNECT and asks to exit. Attempts stopped for
/// the shutdown are forgotten once their process exits, without a FAILED: the broker requeues
/// them on DISCONNECT.
public struct WorkerStateMachine: Sendable {
    /// States of the link to the broker.
    enum Link: Equatable {
        /// `.connect` (or a re-registration) and READY sent at `since`; waiting for WELCOME.
        case connecting(since: ContinuousClock.Instant)
        /// WELCOME received; updates flow.
        case registered
        /// The broker was found dead; reconnect at `until`.
        case backingOff(until: ContinuousClock.Instant)
    }

    /// Whether the worker takes jobs.
    enum Lifecycle: Equatable {
        /// Taking jobs.
        case serving
        /// Stopping: no new jobs; exit once nothing is held or at `deadline`.
        case draining(deadline: ContinuousClock.Instant)
        /// DISCONNECT and `.exit` were returned; every later event is ignored.
        case exited
    }

    /// The settings the machine was made with (the heartbeat in use may be the broker's).
    public let config: WorkerConfig
    private(set) var link: Link
    var lifecycle: Lifecycle = .serving
    /// Heartbeat interval in use: the proposal until a WELCOME names the broker's.
    private(set) var heartbeat: Duration
    /// Liveness in use: the proposal until a WELCOME names the broker's.
    private(set) var liveness: Int
    var lastHeard: ContinuousClock.Instant
    var lastSent: ContinuousClock.Instant
    private var backoff: Duration
    /// Held attempts by lease.
    var attempts: [UInt64: HeldAttempt] = [:]
    /// Hands out `HeldAttempt.serial` and `PendingUpdate.order`: READY lists and resends follow
    /// them, so output never depends on dictionary order.
    var nextSerial: UInt64 = 1
    /// Leases forgotten recently, so a late duplicate ASSIGN cannot run a finished attempt again.
    var recentlyFinished = RecentLeases(capacity: 1024)
    /// Unacknowledged REPORT updates over all attempts (the cap applies to this count).
    var unacknowledgedReports = 0
    /// Exited leases told to the broker since its last WELCOME (`announceExited`).
    var announcedExited: Set<UInt64> = []

    /// The broker that welcomed this worker last.
    public private(set) var broker: WelcomeInfo?
    /// The broker said this worker's key was revoked (the agent exits with an error).
    public private(set) var revoked = false
    /// Messages from the broker that did not decode.
    public internal(set) var malformed = 0
    /// ERROR messages received from the broker.
    public internal(set) var brokerErrors = 0
    /// The text of the last ERROR from the broker.
    public internal(set) var lastBrokerError: String?
    /// REPORT updates dropped unacknowledged because of `maxUnacknowledged`.
    public internal(set) var droppedReports = 0
    /// Trial output lines not sent because the broker was not reachable (LOG is fire-and-forget).
    public internal(set) var unsentLogLines = 0
    /// ACKs for an update this worker does not hold (already acknowledged, dropped, or unknown).
    public internal(set) var staleAcks = 0
    /// ASSIGNs ignored because the lease was already held or recently finished.
    public internal(set) var duplicateAssignments = 0
    /// Checkpoint announcements never snapshotted: a newer one of the same attempt came while
    /// they waited for the snapshot before them.
    public internal(set) var supersededSnapshots = 0

    /// A machine with no link yet: `start(now:)` opens it.
    public init(config: WorkerConfig, now: ContinuousClock.Instant) {
        self.config = config
        heartbeat = config.heartbeat
        liveness = max(config.liveness, 1)
        lastHeard = now
        lastSent = now
        backoff = config.backoffInitial
        link = .backingOff(until: now)
    }

    /// Whether the broker has welcomed this worker on the current link.
    public var isRegistered: Bool { link == .registered }
    /// Whether `shutdown(now:)` was called (or the broker said DISCONNECT "shutdown").
    public var isStopping: Bool { lifecycle != .serving }
    /// Whether the machine returned `.exit`.
    public var hasExited: Bool { lifecycle == .exited }
    /// The attempts the worker holds, in the order they were assigned: the `running` list of READY.
    public var heldAttempts: [AttemptRef] { attempts.values.sorted { $0.serial < $1.serial }.map(\.ref) }
    /// Updates not yet acknowledged, over all attempts.
    public var unacknowledgedCount: Int { attempts.values.reduce(0) { $0 + $1.unacknowledged.count } }

    // MARK: - Events

    /// Opens the link: connect and say READY.
    public mutating func start(now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited else { return [] }
        return reconnect(now: now)
    }

    /// A message from the broker.
    public mutating func received(_ frames: [Frame], now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited else { return [] }
        let message: BrokerToWorker
        do {
            message = try WireDecoder.brokerToWorker(frames)
        } catch {
            malformed += 1
            return []
        }
        lastHeard = now
        switch message {
        case .welcome(let info):
            return welcomed(info, now: now)
        case .heartbeat:
            return []
        case .assign(let ref, let payload, let token):
            return assigned(ref, payload: payload, token: token)
        case .ack(let job, let lease, let seq):
            return acknowledged(job: job, lease: lease, seq: seq, now: now)
        case .cancel(let job, let lease, let reason):
            return cancelled(job: job, lease: lease, reason: reason)
        case .transfer(let transfer):
            return [.transfer(transfer)]
        case .disconnect(let reason):
            if reason == DisconnectReason.shutdown { return shutdown(now: now) }
            if reason == DisconnectReason.revoked {
                // The broker no longer accepts this worker's key: reconnecting cannot help.
                revoked = true
                return shutdown(now: now)
            }
            // "reregister" (and, defensively, any reason this build does not know): the broker
            // does not know this worker; READY again on the same socket, which is still good.
            // The broker answers every message of an unknown connection so, after a broker
            // restart, one DISCONNECT arrives per message the worker had in flight: a READY sent
            // less than a heartbeat ago answers them all (one READY each made a re-registration
            // storm: a WELCOME, a `joined` event and a resend of every unacknowledged update per
            // READY). A READY that was lost is sent again after a heartbeat, or after the silence
            // limit at the latest.
            if case .connecting(let since) = link, now < since + heartbeat { return [] }
            link = .connecting(since: now)
            return send(WorkerMessage.ready(readyInfo).frames, now: now)
        case .error(let text):
            brokerErrors += 1
            lastBrokerError = text
            return []
        }
    }

    /// Heartbeats, broker-death detection, reconnects, resends and the drain bound; call at
    /// `nextDeadline` and after every event.
    public mutating func tick(now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle != .exited else { return [] }
        var actions: [WorkerAction] = []
        switch link {
        case .backingOff(let until):
            if now >= until { actions += reconnect(now: now) }
        case .connecting(let since):
            if now >= since + silenceLimit { fail(now: now) }
        case .registered:
            if now >= lastHeard + silenceLimit {
                fail(now: now)
            } else {
                actions += resendOverdue(now: now)
                if now >= lastSent + heartbeat { actions += send(WorkerMessage.heartbeat.frames, now: now) }
            }
        }
        return actions + finishIfDrained(now: now)
    }

    /// The earliest instant at which `tick(now:)` has something to do.
    public var nextDeadline: ContinuousClock.Instant {
        var deadline: ContinuousClock.Instant
        switch link {
        case .backingOff(let until): deadline = until
        case .connecting(let since): deadline = since + silenceLimit
        case .registered:
            deadline = min(lastHeard + silenceLimit, lastSent + heartbeat)
            if let resend = earliestResend { deadline = min(deadline, resend) }
        }
        switch lifecycle {
        case .serving: return deadline
        case .draining(let drainDeadline): return min(deadline, drainDeadline)
        // Nothing is left to do; the agent leaves its loop on `.exit`.
        case .exited: return lastHeard + .seconds(86_400)
        }
    }

    // MARK: - Link

    /// Silence after which the broker is dead: `liveness` heartbeat intervals.
    private var silenceLimit: Duration { heartbeat * liveness }

    var readyInfo: ReadyInfo {
        // A stopping worker re-registers only to have its results acknowledged: it offers no
        // capacity, so the broker does not assign it jobs it would refuse.
        let offering = lifecycle == .serving
        return ReadyInfo(worker: config.workerID, slots: offering ? config.slots : 0,
                         gpus: offering ? config.gpus : 0,
                         heartbeatMs: Self.milliseconds(config.heartbeat), liveness: max(config.liveness, 1),
                         host: config.host, pid: config.pid, version: config.version,
                         running: attempts.values.sorted { $0.serial < $1.serial }.map { RunningAttempt($0.ref, token: $0.token) },
                         labels: config.labels.isEmpty ? nil : config.labels, isolation: config.isolation)
    }

    mutating func send(_ frames: [Frame], now: ContinuousClock.Instant) -> [WorkerAction] {
        lastSent = now
        return [.send(frames)]
    }

    private mutating func reconnect(now: ContinuousClock.Instant) -> [WorkerAction] {
        link = .connecting(since: now)
        lastHeard = now
        return [.connect] + send(WorkerMessage.ready(readyInfo).frames, now: now)
    }

    /// The broker is dead (or never answered): wait, then reconnect.
    private mutating func fail(now: ContinuousClock.Instant) {
        link = .backingOff(until: now + backoff)
        backoff = min(backoff * 2, config.backoffMax)
    }

    private mutating func welcomed(_ info: WelcomeInfo, now: ContinuousClock.Instant) -> [WorkerAction] {
        link = .registered
        // A WELCOME with a nonsensical interval keeps the one in use rather than spinning.
        if info.heartbeatMs > 0 { heartbeat = .milliseconds(info.heartbeatMs) }
        if info.liveness > 0 { liveness = info.liveness }
        backoff = config.backoffInitial
        broker = info
        announcedExited = []
        return resendAll(now: now) + announceExited(now: now) + finishIfDrained(now: now)
    }

    static func milliseconds(_ d: Duration) -> Int {
        let (seconds, attoseconds) = d.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}

/// A bounded memory of leases, oldest forgotten first.
struct RecentLeases: Sendable {
    let capacity: Int
    private var members: Set<UInt64> = []
    private var ring: [UInt64] = []
    private var next = 0

    init(capacity: Int) { self.capacity = capacity }

    func contains(_ lease: UInt64) -> Bool { members.contains(lease) }

    mutating func insert(_ lease: UInt64) {
        guard !members.contains(lease) else { return }
        if ring.count < capacity {
            ring.append(lease)
        } else {
            members.remove(ring[next])
            ring[next] = lease
            next = (next + 1) % capacity
        }
        members.insert(lease)
    }
}
