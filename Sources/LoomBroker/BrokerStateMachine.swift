import DequeModule
import LoomWire

/// Settings of the broker's state machine. Tunables are named with their rationale.
public struct BrokerConfig: Sendable {
    /// Id of this broker process, announced in WELCOME; a new id tells clients to re-sync.
    public var brokerID: String
    /// High 32 bits of every lease this process issues. Random per start, so a restarted broker
    /// never issues a lease that a worker still holds from the previous one.
    public var leaseEpoch: UInt32
    /// Heartbeat interval towards clients; workers propose their own in READY.
    public var clientHeartbeat: Duration
    /// Heartbeat intervals of silence after which a client is considered gone.
    public var liveness: Int
    /// After a start, re-synced jobs wait this long for a worker to say it still runs them
    /// before a new attempt is started.
    public var recoveryWindow: Duration
    /// Bounds on the heartbeat interval a worker may propose: below 50 ms heartbeats cost more
    /// than the work; above a minute a dead worker holds its jobs too long.
    public var heartbeatRange: ClosedRange<Duration>
    /// How often heartbeats are sent and expiries checked. 100 ms bounds the error of death
    /// detection and costs one pass over the peer tables ten times a second.
    public var sweepInterval: Duration
    /// A sweep this much later than `sweepInterval` means the broker itself did not run (SIGSTOP,
    /// a paused VM or container, swapping): that time is not counted as its peers' silence
    /// (`BrokerStateMachine+Pauses`). A loop turn takes milliseconds, so one second is a pause,
    /// not a busy turn. Nil: every gap counts (a manual clock that skips sweeps in tests).
    public var pauseThreshold: Duration?
    /// Finished jobs remembered so that late messages about them are recognised as stale.
    public var tombstoneCapacity: Int
    /// The broker software's version, reported in the status document.
    public var softwareVersion: String
    /// When attempts count as stalled or slow and workers as slow (Docs/stragglers.md).
    public var stragglers: StragglerPolicy
    /// The feed's last sequence number before this process (from the feed journal): the next
    /// event is published as `lastFeedSeq + 1`.
    public var lastFeedSeq: UInt64
    /// The feed's endpoints as bound, announced to clients in WELCOME; nil until bound.
    public var feedEndpoints: (feed: String, replay: String)?
    /// Most workers registered at once; a READY beyond it is refused with an ERROR. Each worker
    /// costs a few KiB of tables and a heartbeat per interval, so this bounds what a flood of
    /// READYs under fresh ids can take (10,000 workers: tens of MiB).
    public var maxWorkers: Int
    /// Most client records at once (connected, or away while they own jobs); a HELLO beyond it
    /// is refused with an ERROR. A client that leaves without owning a job is forgotten.
    public var maxClients: Int
    /// The secret lease capabilities are MACed with (`LeaseSecret`): kept in the broker's data
    /// directory so that leases survive a restart; random when there is none.
    public var leaseKey: [UInt8]

    public init(brokerID: String, leaseEpoch: UInt32, clientHeartbeat: Duration = .seconds(1), liveness: Int = 3,
                recoveryWindow: Duration = .seconds(5),
                heartbeatRange: ClosedRange<Duration> = .milliseconds(50) ... .seconds(60),
                sweepInterval: Duration = .milliseconds(100), pauseThreshold: Duration? = .seconds(1), tombstoneCapacity: Int = 65_536,
                softwareVersion: String = "unknown", stragglers: StragglerPolicy = StragglerPolicy(), lastFeedSeq: UInt64 = 0,
                maxWorkers: Int = 10_000, maxClients: Int = 10_000, leaseKey: [UInt8] = LeaseSecret.random()) {
        self.brokerID = brokerID
        self.leaseEpoch = leaseEpoch
        self.clientHeartbeat = clientHeartbeat
        self.liveness = liveness
        self.recoveryWindow = recoveryWindow
        self.heartbeatRange = heartbeatRange
        self.sweepInterval = sweepInterval
        self.pauseThreshold = pauseThreshold
        self.tombstoneCapacity = tombstoneCapacity
        self.softwareVersion = softwareVersion
        self.stragglers = stragglers
        self.lastFeedSeq = lastFeedSeq
        self.maxWorkers = maxWorkers
        self.maxClients = maxClients
        self.leaseKey = leaseKey
    }
}

/// What the I/O layer does for the broker state machine.
public enum BrokerAction: Equatable, Sendable {
    /// Send `frames` to the peer whose ROUTER identity is `identity`.
    case send(identity: Frame, frames: [Frame])
    /// Publish a feed event (`topic, seq, body[, payload]`); the service stamps the time.
    case publish([Frame])
}

/// Counters the broker keeps for `status` and tests.
public struct BrokerCounters: Equatable, Sendable {
    /// Messages received on the public port, whatever became of them.
    public var received = 0
    /// Well-formed messages from connections that never said READY or HELLO (or were forgotten):
    /// answered with DISCONNECT "reregister" (nothing for a DISCONNECT).
    public var unregistered = 0
    /// Messages rejected by the decoder, by `WireError.category`.
    public var rejected: [String: Int] = [:]
    /// Updates about attempts that are no longer current, acknowledged and recorded, never counted.
    public var stale = 0
    /// Attempts a returning worker still ran after they had been given to another: cancelled.
    public var fenced = 0
    /// Attempts a returning worker still ran while their job waited in the queue: taken back.
    public var reclaimed = 0
    /// Attempts started (ASSIGN sent).
    public var assigned = 0
    /// Attempts requeued because their worker was lost or left.
    public var requeued = 0
    /// Jobs finished with FINAL, FAILED, and failed by the broker (attempts exhausted).
    public var finished = 0
    public var failed = 0
    /// Workers declared dead (missed heartbeats or unreachable).
    public var workersLost = 0
    /// Sweeps that found the broker itself had been paused (`BrokerConfig.pauseThreshold`).
    public var pauses = 0
    /// Acknowledgements that matched no current update.
    public var unmatchedAcks = 0
    /// FETCH/CHUNK messages dropped: unknown job or lease, or the other end not connected.
    public var unroutedTransfers = 0
    /// Trial output lines received in LOG messages and published on `log/` topics.
    public var logLines = 0
    /// Messages refused because the sender's key lacks the role (or was revoked), or because the
    /// broker's tables are full (`capacity`), by reason.
    public var refused: [String: Int] = [:]
    /// Attempts cancelled because they reported nothing within their stall timeout.
    public var stalled = 0
    /// Backup attempts started for slow attempts.
    public var speculated = 0
    /// Copies cancelled because the other copy of their job delivered the result first.
    public var superseded = 0
    /// Copies that ended without a result (failed, lost, stalled) while the other copy went on.
    public var copiesLost = 0
    /// Times a worker was marked slow (late heartbeats).
    public var slowWorkers = 0
    /// Heartbeat intervals that passed without a word from a registered worker, counted in the
    /// sweep (`sweepWorkers`): a worker silent for 2.5 intervals missed 2; one declared dead
    /// missed `liveness`.
    public var heartbeatsMissed = 0

    public init() {}
}

/// The broker: tables of workers, clients, jobs and leases, free of I/O and clocks.
///
/// **Events.** Every input (a message, the passing of time, an unreachable peer, shutdown) is a
/// `mutating func` taking `now` and returning the `BrokerAction`s to carry out, in order.
/// **Leases.** Each attempt of a job runs under a lease (`leaseEpoch << 32 | counter`). Only the
/// job's current lease may report; anything under another lease is *stale*: acknowledged to its
/// worker so it forgets it, published, counted, and never delivered as a result.
/// **Liveness.** A worker is dead after `liveness` of its own heartbeat intervals of silence; its
/// active attempts are requeued as new attempts. A client is gone after `liveness` client
/// intervals; its jobs keep running and their results wait for it to say HELLO again.
/// **Exactly once.** Workers keep every update until the client's ACK reaches them through the
/// broker; a terminal update is also kept here until the client acknowledges it, so a client
/// that reconnects gets it again, and a job leaves the tables only on that acknowledgement.
/// **Recovery.** A re-synced job this broker did not know waits up to `recoveryWindow` after the
/// broker's start for a worker to announce in READY that it still runs it. Results an earlier
/// process published (`PublishedResults`, from the feed journal) are known: a returning worker's
/// attempt of such a job is held for the client when it is the published one (never published
/// again), acknowledged when its job was submitted anew since, and fenced otherwise.
public struct BrokerStateMachine: Sendable {
    public internal(set) var config: BrokerConfig
    let startedAt: ContinuousClock.Instant
    var workers: [String: WorkerRecord] = [:]
    /// Registration order, for round-robin dispatch.
    var workerOrder: [String] = []
    var roundRobin = 0
    var clients: [String: ClientRecord] = [:]
    /// Clients whose connection went since the last sweep: forgotten then unless they own jobs.
    var departed: [String] = []
    /// Service name → ids of the clients that provide it, in the order they said HELLO.
    var services: [String: [String]] = [:]
    /// ROUTER identity → the peer it belongs to.
    var peers: [Frame: Peer] = [:]
    var jobs: [String: JobRecord] = [:]
    /// Jobs waiting for a worker, oldest first. Entries whose job is no longer `.queued` are
    /// skipped when reached (cheaper than removing them from the middle).
    var queue: Deque<String> = []
    /// Re-synced jobs waiting for the recovery window to close.
    var held: [String] = []
    var leases: [UInt64: Lease] = [:]
    var leaseCounter: UInt32 = 0
    var tombstones = Tombstones()
    /// Results published per job, across restarts (rebuilt from the feed journal at start).
    var results: PublishedResults
    var feedSeq: UInt64 = 0
    var lastSweep: ContinuousClock.Instant
    var stopping = false
    /// Recent durations of completed attempts per peer group, for slow-attempt detection.
    var peerDurations: [PeerGroup: [Duration]] = [:]
    /// Peer groups in the order they were first seen, oldest dropped first past capacity.
    var peerGroupOrder: Deque<PeerGroup> = []
    /// The user ids (`ROLE/NAME`) allowed to speak, when the broker authenticates its peers; nil
    /// when it does not (loopback development, `--insecure`).
    var allowedUsers: Set<String>?
    public internal(set) var counters = BrokerCounters()
    /// How long jobs waited in the queue before their attempt was assigned, oldest first, until
    /// the service takes them (`takeDispatchWaits`); bounded by `dispatchWaitCapacity`.
    var dispatchWaits: [Duration] = []
    /// Refusals waiting to be logged, rate-limited per reason (`BrokerStateMachine+Refusals`).
    var refusalLog = RefusalLog()
    /// The key of the connection whose message `receive` is handling (nil: none, or the broker
    /// does not authenticate): refusal lines name it.
    var sender: String?

    /// `results` is what earlier processes published (`FeedJournal.publishedResults()`): a
    /// returning worker's attempt of a job finished before this start is then recognised.
    public init(config: BrokerConfig, results: PublishedResults = PublishedResults(), now: ContinuousClock.Instant) {
        self.config = config
        self.results = results
        startedAt = now
        lastSweep = now
        tombstones.capacity = config.tombstoneCapacity
        feedSeq = config.lastFeedSeq
    }

    /// The broker id announced in WELCOME.
    public var brokerID: String { config.brokerID }

    /// The earliest instant at which `expire(now:)` has work to do.
    public var nextDeadline: ContinuousClock.Instant { lastSweep + config.sweepInterval }

    /// The end of the recovery window.
    var recoveryEnds: ContinuousClock.Instant { startedAt + config.recoveryWindow }

    /// A message arrived from the peer with ROUTER identity `identity`.
    ///
    /// `userID` is the ZAP user id of the connection (`ROLE/NAME`) when the broker authenticates
    /// its peers; see `authorize(_:now:)`.
    public mutating func receive<C: Collection<Frame>>(from identity: Frame, frames: C, userID: String? = nil,
                                                       now: ContinuousClock.Instant) -> [BrokerAction]
    where C.Index == Int {
        counters.received += 1
        sender = userID
        defer { sender = nil }
        let message: Inbound
        do {
            message = try WireDecoder.inbound(frames)
        } catch {
            reject(error, from: identity, frames: frames, now: now)
            let header = frames.first.map { $0.starts(with: Array("HLC".utf8)) } == true ? Wire.clientHeader : Wire.workerHeader
            return [.send(identity: identity, frames: [header, [Command.error.rawValue], Array(error.description.utf8)])]
        }
        if let refusal = refusal(of: message, userID: userID) {
            refuse(refusal.category, from: identity, message: frames.dropFirst().first?.first.flatMap(Command.init(rawValue:))?.name ?? "unknown",
                   detail: refusal.text, now: now)
            let header = if case .worker = message { Wire.workerHeader } else { Wire.clientHeader }
            var actions: [BrokerAction] = [.send(identity: identity, frames: [header, [Command.error.rawValue], Array(refusal.text.utf8)])]
            if refusal.category == "revoked" {
                // Told once per message, the peer stops instead of retrying forever.
                actions.append(.send(identity: identity, frames: [header, [Command.disconnect.rawValue], Array(DisconnectReason.revoked.utf8)]))
            }
            return actions
        }
        switch message {
        case .worker(let m):
            return workerMessage(m, from: identity, userID: userID, now: now)
        case .client(let m):
            let actions = clientMessage(m, from: identity, now: now)
            if case .hello(let info) = m { clients[info.client]?.userID = userID }
            return actions
        }
    }

    /// Heartbeats, expiries and the end of the recovery window; call at `nextDeadline` (early
    /// calls return at once).
    public mutating func expire(now: ContinuousClock.Instant) -> [BrokerAction] {
        guard now >= nextDeadline else { return [] }
        discountPause(until: now)
        lastSweep = now
        var actions: [BrokerAction] = []
        if !held.isEmpty && now >= recoveryEnds { actions += releaseHeld(now: now) }
        actions += sweepWorkers(now: now)
        actions += sweepClients(now: now)
        actions += sweepStragglers(now: now)
        return actions
    }

    /// Sending to `identity` failed because its connection is gone (ROUTER_MANDATORY).
    public mutating func peerUnreachable(_ identity: Frame, now: ContinuousClock.Instant) -> [BrokerAction] {
        switch peers[identity] {
        case .worker(let id)?: return workerLost(id, reason: "unreachable", now: now)
        case .client(let id)?:
            peers[identity] = nil
            if clients[id]?.identity == identity { clientLeft(id) }
            return []
        case nil: return []
        }
    }

    /// Stops dispatching; with `shutdownWorkers` also tells every worker to shut down.
    public mutating func shutdown(shutdownWorkers: Bool, now: ContinuousClock.Instant) -> [BrokerAction] {
        stopping = true
        let brokerID = config.brokerID
        var actions = [publish(.brokerStopping(broker: brokerID, shutdownWorkers: shutdownWorkers))]
        if shutdownWorkers {
            for id in workerOrder {
                guard let worker = workers[id] else { continue }
                actions.append(.send(identity: worker.identity,
                                     frames: BrokerToWorker.disconnect(reason: DisconnectReason.shutdown).frames))
            }
        }
        return actions
    }

    // MARK: - Shared helpers

    mutating func nextLease() -> UInt64 {
        leaseCounter &+= 1
        return UInt64(config.leaseEpoch) << 32 | UInt64(leaseCounter)
    }

    /// A feed event, numbered with the next feed seq (its topic and body: `BrokerEvent`).
    mutating func publish(_ event: BrokerEvent, payload: Frame? = nil) -> BrokerAction {
        feedSeq += 1
        return .publish(FeedEvent(seq: feedSeq, event: event, payload: payload).frames)
    }
}

/// Which peer a ROUTER identity belongs to.
enum Peer: Equatable, Sendable {
    case worker(String)
    case client(String)
}

/// A registered worker.
struct WorkerRecord: Sendable {
    let id: String
    var identity: Frame
    var info: ReadyInfo
    var heartbeat: Duration
    var liveness: Int
    var lastHeard: ContinuousClock.Instant
    /// Not heard from since a pause of the broker itself (`BrokerStateMachine+Pauses`): lost
    /// now, it is not counted against its jobs' quarantine.
    var unheardSincePause = false
    var lastSent: ContinuousClock.Instant
    let joinedAt: ContinuousClock.Instant
    /// CPU and GPU capacity in thousandths.
    var cpuCapacity: UInt64
    var gpuCapacity: UInt64
    var cpuUsed: UInt64 = 0
    var gpuUsed: UInt64 = 0
    /// Leases this worker holds whose terminal update has not arrived (active, cancelling, fenced).
    var leases: Set<UInt64> = []
    /// The ZAP user id of its connection, when peers are authenticated.
    var userID: String?
    /// Moving average of how late its messages arrive past its heartbeat interval, in seconds.
    var lateness: Double = 0
    /// Whether its heartbeats are late enough that it gets no new jobs (it still runs its own).
    var slow = false
    /// Heartbeat intervals of its current silence already counted in `heartbeatsMissed`.
    var missedCounted = 0
    /// Its pool labels (READY `labels`): it takes only jobs whose `worker_labels` it all carries.
    var labels: Set<String> = []

    func fits(_ r: Requirements) -> Bool {
        cpuUsed + UInt64(r.cpuMilli) <= cpuCapacity && gpuUsed + UInt64(r.gpuMilli) <= gpuCapacity
    }

    /// Whether any capacity is free.
    var hasRoom: Bool { cpuUsed < cpuCapacity || gpuUsed < gpuCapacity }

    /// Whether the job could ever run here.
    func couldHold(_ r: Requirements) -> Bool {
        UInt64(r.cpuMilli) <= cpuCapacity && UInt64(r.gpuMilli) <= gpuCapacity
    }
}

/// A client id and the connection that said HELLO with it last.
struct ClientRecord: Sendable {
    let id: String
    var name: String
    /// Nil while the client is disconnected; its jobs go on.
    var identity: Frame?
    var lastHeard: ContinuousClock.Instant
    var lastSent: ContinuousClock.Instant
    /// The ZAP user id of its connection, when peers are authenticated.
    var userID: String? = nil
}

/// A job and its current attempt.
struct JobRecord: Sendable {
    /// One line per state.
    enum State: Equatable, Sendable {
        /// Re-synced during the recovery window: waits for a worker to claim it.
        case held
        /// Waiting for a worker.
        case queued
        /// The current attempt runs under `lease` on `worker`; `started` once STARTED arrived.
        case running(started: Bool)
        /// Known only from a worker's READY (this broker never saw its SUBMIT): runs, but cannot
        /// be restarted until its client re-submits it.
        case orphaned
        /// Its terminal update arrived and waits for the client's acknowledgement.
        case delivering(Update)
        /// Lost its attempt while orphaned: waits for its client to re-submit the spec.
        case awaitingSpec
    }

    let id: String
    var owner: String?
    var requirements: Requirements
    /// The job spec, opaque; empty for orphans until their client re-submits.
    var payload: Frame
    var state: State
    /// The current (or last) attempt's number, lease and worker.
    var attempt: UInt32 = 0
    var lease: UInt64?
    var worker: String?
    /// The attempt number the next start uses.
    var nextAttempt: UInt32
    /// Attempts this broker started (for `maxAttempts`).
    var started: UInt32 = 0
    /// Workers that lost an attempt of this job: avoided when another worker can take it.
    var lostOn: Set<String> = []
    /// What the spec says about stalls and peers (read once, at SUBMIT).
    var hints = StragglerHints()
    /// Report intervals of the job's current attempts, newest last (bounded).
    var reportIntervals: [Duration] = []
    /// The lease of a speculative backup copy running beside the current attempt.
    var backup: UInt64?
    /// The pool labels a worker must carry to run it (the spec's `worker_labels`, read at SUBMIT).
    var labels: Set<String> = []
    /// When it last entered the queue (nil once assigned): its dispatch wait is measured from here.
    var queuedAt: ContinuousClock.Instant?
}

/// One lease: an attempt that a worker runs or ran, until its terminal update arrives.
struct Lease: Sendable {
    enum Status: Sendable {
        /// The job's current attempt.
        case active
        /// Cancelled by a client; the worker was told to stop it.
        case cancelling
        /// Superseded: the worker was told to stop it and its updates are stale.
        case fenced
        /// Reported nothing within its stall timeout: told to stop, its updates are stale.
        case stalled
        /// The other copy of its job delivered the result first: told to stop, updates stale.
        case superseded
    }

    let job: String
    let attempt: UInt32
    let worker: String
    let cpu: UInt64
    let gpu: UInt64
    var status: Status
    /// Highest update sequence number published to the feed (resends are not published twice).
    var publishedSeq: UInt64 = 0
    /// When STARTED arrived, and when the last REPORT or CHECKPOINT did (for stalls and speed).
    var startedAt: ContinuousClock.Instant?
    var lastReportAt: ContinuousClock.Instant?
    /// How long the broker itself was paused since `lastReportAt ?? startedAt`: not the
    /// attempt's silence (`BrokerStateMachine+Pauses`).
    var pausedSinceReport: Duration = .zero
    /// When its worker said the attempt's process exited (its result waits for a snapshot): the
    /// stall clock stops, bounded by `StragglerPolicy.exitedResultTimeout`.
    var exitedAt: ContinuousClock.Instant?
    /// Blobs its worker may FETCH: those of the checkpoint manifests relayed to it in answer to
    /// its FETCH `latest` (at most `maxFetchableBlobs`).
    var fetchable: Set<String> = []
}

/// Recently finished job ids, bounded, oldest forgotten first.
struct Tombstones: Sendable {
    var capacity = 65_536
    private var order: Deque<String> = []
    private var members: Set<String> = []

    func contains(_ job: String) -> Bool { members.contains(job) }

    mutating func insert(_ job: String) {
        guard members.insert(job).inserted else { return }
        order.append(job)
        while order.count > capacity, let oldest = order.popFirst() { members.remove(oldest) }
    }

    mutating func remove(_ job: String) {
        if members.remove(job) != nil, let i = order.firstIndex(of: job) { order.remove(at: i) }
    }
}
