import LoomWire

/// Settings of a client link.
public struct ClientConfig: Sendable {
    /// Stable id: results of this client's jobs are routed to whichever connection said HELLO
    /// with it last.
    public var clientID: String
    /// Human-readable name, for the broker's logs.
    public var name: String
    /// Heartbeat interval used until the broker's WELCOME names one.
    public var heartbeat: Duration
    /// Intervals of silence after which the broker is considered dead.
    public var liveness: Int
    /// First reconnect delay; doubles per consecutive failure up to `backoffMax`.
    public var backoffInitial: Duration
    public var backoffMax: Duration

    /// Services this client provides through the broker (e.g. `optimizer`).
    public var services: [String]

    public init(clientID: String, name: String, services: [String] = [], heartbeat: Duration = .seconds(1), liveness: Int = 3,
                backoffInitial: Duration = .seconds(1), backoffMax: Duration = .seconds(32)) {
        self.clientID = clientID
        self.name = name
        self.services = services
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.backoffInitial = backoffInitial
        self.backoffMax = backoffMax
    }
}

/// What the I/O layer does for the client state machine.
public enum ClientAction: Equatable, Sendable {
    /// Close any socket, open a new DEALER and connect it to the broker.
    case connect
    /// Send a message to the broker.
    case send([Frame])
}

/// What the client state machine hands to the application.
public enum ClientEvent: Equatable, Sendable {
    /// The broker welcomed this client; `resynced` jobs were submitted again because the link
    /// was re-established (a restarted broker learns them back this way).
    case connected(WelcomeInfo, resynced: Int)
    case submitted(request: UInt64, accepted: UInt32)
    case cancelled(request: UInt64, count: UInt32)
    case reply(request: UInt64, body: Frame)
    /// A REQUEST for a service this client provides; answer with `respond(request:to:body:now:)`.
    /// `key`: the requester's key (`ROLE/NAME`) when the broker authenticates.
    case request(request: UInt64, from: String, body: Frame, key: String? = nil)
    /// An attempt started; `backup` when it is a speculative copy beside the job's attempt.
    case started(AttemptRef, worker: String, backup: Bool = false)
    /// An attempt ended without a result of its own (`EndedReason`): lost, stalled, superseded
    /// by the other copy, or a failed copy while the other goes on.
    case ended(AttemptRef, reason: String, detail: String)
    /// A report, checkpoint or terminal result, delivered once per (job, lease, seq). The
    /// application acknowledges it (after recording it durably) with `acknowledge(_:now:)`.
    case update(Update)
    /// A FETCH or CHUNK from the worker of one of this client's jobs (checkpoint transfers).
    case transfer(Transfer)
    case error(String)
}

/// The client side of the protocol, free of I/O and clocks.
///
/// **Exactly once.** Every submitted job stays *outstanding* until its first terminal update is
/// delivered; updates are de-duplicated by (job, lease, seq) and a job's later terminal updates
/// (a fenced attempt adopted by a restarted broker) are acknowledged without being delivered;
/// its REPORTs and CHECKPOINTs that arrive after its result still are (the application stores them idempotently).
/// Updates for jobs this client does not know are neither delivered nor acknowledged: a restarted
/// application submits its unfinished jobs again and receives them on the worker's next resend.
/// **Acknowledged means recorded.** A resend is acknowledged here only when the application
/// acknowledged the update already (its ACK was lost on the way). A resend of an update the
/// application holds unacknowledged — a checkpoint whose blobs are still being pulled, a result
/// waiting for that upload — is not acknowledged: a report or checkpoint is delivered again (the
/// application de-duplicates; one whose upload failed starts another), a terminal update is
/// dropped (the application acknowledges it when it has recorded it). Acknowledging such a
/// resend made the worker forget the update, and its checkpoint's blobs, before the application
/// had them (issue 15, failures 1 and 4; `LoomSimulationTests`).
///
/// A job submitted again after its result (a retry) is a new run: a resend of the previous
/// run's result is acknowledged, never delivered, and followed by the new run's SUBMIT again,
/// since the broker delivers it only while it holds it as the job's result and ends the job on
/// that ACK (a restarted broker answers a re-sync with the result it published). The result of
/// an attempt the application stopped (CANCEL_JOBS) that crosses the new run's SUBMIT — an
/// attempt numbered below the run's `firstAttempt` — is delivered, but never ends the new run.
///
/// **Re-sync.** Each WELCOME after the first re-submits every outstanding job with the resync
/// flag and `firstAttempt` one past the highest attempt seen, so a restarted broker learns the
/// jobs back without starting duplicates of attempts that workers still run.
///
/// **Liveness.** The broker is dead after `liveness` heartbeat intervals of silence; the client
/// then reconnects after a backoff of 1 s doubling to 32 s.
public struct ClientStateMachine: Sendable {
    /// Link states.
    enum Link: Equatable {
        /// `.connect` + HELLO sent at `since`, waiting for WELCOME.
        case connecting(since: ContinuousClock.Instant)
        /// WELCOME received.
        case registered
        /// Waiting to reconnect at `at`.
        case backingOff(until: ContinuousClock.Instant)
    }

    struct Outstanding {
        var submission: JobSubmission
        var highestAttempt: UInt32 = 0
        /// Followed, not submitted (`follow(_:)`): never re-synced, replaced by a SUBMIT.
        var following = false
        /// Updates delivered to the application, each with whether it acknowledged it.
        var delivered: [UpdateKey: Bool] = [:]
        /// Results of attempts stopped before this run (they crossed its CANCEL_JOBS) delivered
        /// to the application, each with whether it acknowledged it: none ends this run.
        var stoppedResults: [UpdateKey: Bool] = [:]
    }

    /// A job whose terminal update was delivered. Until the application acknowledges that
    /// update, the job's deliveries stay known (a checkpoint of the same attempt may still be
    /// uploading); once it has, only the terminal update's key is kept.
    struct Finished {
        var terminal: UpdateKey
        /// Updates of the terminal update's attempt delivered, with whether each was acknowledged.
        var delivered: [UpdateKey: Bool]
        var acknowledged: Bool { delivered.isEmpty }
    }

    struct UpdateKey: Hashable {
        var lease: UInt64
        var seq: UInt64
    }

    public let config: ClientConfig
    private(set) var link: Link
    private var heartbeat: Duration
    private var liveness: Int
    private var lastHeard: ContinuousClock.Instant
    private var lastSent: ContinuousClock.Instant
    private var backoff: Duration
    private var welcomes = 0
    /// HELLOs sent since the last WELCOME: more than one means what was sent before the last
    /// went with a connection that closed, or drew a DISCONNECT.
    private var hellosSinceWelcome = 0
    private var nextRequest: UInt64 = 1
    private var outstanding: [String: Outstanding] = [:]
    private var finished: [String: Finished] = [:]
    /// The broker that welcomed this client last.
    public private(set) var broker: WelcomeInfo?
    /// Messages that did not decode.
    public private(set) var malformed = 0

    public init(config: ClientConfig, now: ContinuousClock.Instant) {
        self.config = config
        heartbeat = config.heartbeat
        liveness = config.liveness
        lastHeard = now
        lastSent = now
        backoff = config.backoffInitial
        link = .backingOff(until: now)
    }

    /// Jobs submitted whose terminal result has not been delivered yet.
    public var outstandingCount: Int { outstanding.count }
    /// Whether the broker has welcomed this client on the current link.
    public var isConnected: Bool { link == .registered }

    /// Opens the link.
    public mutating func start(now: ContinuousClock.Instant) -> [ClientAction] { reconnect(now: now) }

    /// Submits jobs; they stay outstanding until their terminal result is delivered.
    public mutating func submit(_ jobs: [JobSubmission], now: ContinuousClock.Instant) -> (requests: [UInt64], actions: [ClientAction]) {
        var requests: [UInt64] = []
        var actions: [ClientAction] = []
        var fresh: [JobSubmission] = []
        for job in jobs {
            if var known = outstanding[job.id], !known.following {
                // A re-sync of a job still outstanding: the application rebuilt its state from
                // its store (it restarted, or a commit failed), so what it was handed and did not
                // store must be handed again: resends are delivered, not acknowledged here.
                if job.requirements.isResync {
                    known.delivered = [:]
                    outstanding[job.id] = known
                }
                continue
            }
            // A job submitted again after its result (a retry) is a new run of the same id. The
            // previous run's result stays known, so a resend of it (its ACK was lost) is
            // acknowledged again rather than delivered as news of the new run.
            var record = Outstanding(submission: job)
            if let done = finished.removeValue(forKey: job.id) {
                record.delivered = done.acknowledged ? [done.terminal: true] : done.delivered
            }
            outstanding[job.id] = record
            fresh.append(job)
        }
        for start in stride(from: 0, to: fresh.count, by: Wire.maxBatch) {
            let chunk = Array(fresh[start..<min(start + Wire.maxBatch, fresh.count)])
            let request = takeRequestID()
            requests.append(request)
            actions += send(ClientMessage.submit(request: request, jobs: chunk).frames, now: now)
        }
        return (requests, actions)
    }

    /// Delivers the updates of jobs this client did not submit in this run (a restarted
    /// application still needs what an attempt it stopped sends: the checkpoint a paused trial
    /// announced before the restart). Nothing is sent: the broker already routes the job's updates
    /// to this client id. A followed job is never re-synced; a SUBMIT of it is a new run; it is
    /// forgotten like a submitted one (its result delivered, or a CANCEL_JOBS).
    public mutating func follow(_ ids: [String]) {
        for id in ids where outstanding[id] == nil && finished[id] == nil {
            outstanding[id] = Outstanding(submission: JobSubmission(id: id, requirements: Requirements(), payload: []), following: true)
        }
    }

    /// `follow(_:)` as an expression: no actions.
    public mutating func followed(_ ids: [String]) -> [ClientAction] {
        follow(ids)
        return []
    }

    /// Cancels jobs; returns the request id to match the CANCELLED reply.
    public mutating func cancel(_ ids: [String], reason: String? = nil, now: ContinuousClock.Instant) -> (request: UInt64, actions: [ClientAction]) {
        for id in ids { outstanding[id] = nil }
        let request = takeRequestID()
        return (request, send(ClientMessage.cancel(request: request, jobs: ids, reason: reason).frames, now: now))
    }

    /// Sends a QUERY; returns the request id to match the REPLY.
    public mutating func query(_ body: Frame, now: ContinuousClock.Instant) -> (request: UInt64, actions: [ClientAction]) {
        let request = takeRequestID()
        return (request, send(ClientMessage.query(request: request, body: body).frames, now: now))
    }

    /// Sends a REQUEST to the client that provides `service`; returns the id to match the REPLY.
    public mutating func request(service: String, body: Frame, now: ContinuousClock.Instant) -> (request: UInt64, actions: [ClientAction]) {
        let request = takeRequestID()
        return (request, send(ClientMessage.request(request: request, service: service, body: body).frames, now: now))
    }

    /// Answers a REQUEST this client received.
    public mutating func respond(request: UInt64, to client: String, body: Frame, now: ContinuousClock.Instant) -> [ClientAction] {
        send(ClientMessage.respond(request: request, to: client, body: body).frames, now: now)
    }

    /// Acknowledges an update once the application has recorded it.
    public mutating func acknowledge(_ update: Update, now: ContinuousClock.Instant) -> [ClientAction] {
        let job = update.attempt.job
        let key = UpdateKey(lease: update.attempt.lease, seq: update.seq)
        if outstanding[job]?.delivered[key] != nil { outstanding[job]!.delivered[key] = true }
        if outstanding[job]?.stoppedResults[key] != nil { outstanding[job]!.stoppedResults[key] = true }
        if let done = finished[job], done.delivered[key] != nil {
            // The result is recorded: forget the attempt's other deliveries (bounded memory).
            finished[job]!.delivered = key == done.terminal ? [:] : done.delivered.merging([key: true]) { _, new in new }
        }
        return send(ClientMessage.ack(job: update.attempt.job, lease: update.attempt.lease, seq: update.seq).frames, now: now)
    }

    /// Sends a FETCH or CHUNK to the worker of a job (through the broker).
    public mutating func transfer(_ transfer: Transfer, now: ContinuousClock.Instant) -> [ClientAction] {
        send(ClientMessage.transfer(transfer).frames, now: now)
    }

    /// A message from the broker.
    public mutating func received(_ frames: [Frame], now: ContinuousClock.Instant) -> (events: [ClientEvent], actions: [ClientAction]) {
        let message: BrokerToClient
        do {
            message = try WireDecoder.brokerToClient(frames)
        } catch {
            malformed += 1
            return ([], [])
        }
        lastHeard = now
        switch message {
        case .welcome(let info):
            return welcomed(info, now: now)
        case .heartbeat:
            return ([], [])
        case .submitted(let request, let accepted):
            return ([.submitted(request: request, accepted: accepted)], [])
        case .cancelled(let request, let count):
            return ([.cancelled(request: request, count: count)], [])
        case .reply(let request, let body):
            return ([.reply(request: request, body: body)], [])
        case .request(let request, let from, let body, let key):
            return ([.request(request: request, from: from, body: body, key: key)], [])
        case .started(let ref, let worker, let backup):
            if var job = outstanding[ref.job] {
                job.highestAttempt = max(job.highestAttempt, ref.attempt)
                outstanding[ref.job] = job
            }
            return ([.started(ref, worker: worker, backup: backup)], [])
        case .ended(let ref, let reason, let detail):
            return ([.ended(ref, reason: reason, detail: detail)], [])
        case .update(let update):
            return deliver(update, now: now)
        case .transfer(let transfer):
            return ([.transfer(transfer)], [])
        case .error(let text):
            return ([.error(text)], [])
        case .disconnect(let reason):
            if reason == DisconnectReason.reregister {
                link = .connecting(since: now)
                hellosSinceWelcome += 1
                return ([], send(ClientMessage.hello(hello).frames, now: now))
            }
            return ([.error("broker disconnected this client: \(reason)")], [])
        }
    }

    /// Heartbeats and broker-death detection; call at `nextDeadline` and after every event.
    public mutating func tick(now: ContinuousClock.Instant) -> [ClientAction] {
        switch link {
        case .backingOff(let until):
            return now >= until ? reconnect(now: now) : []
        case .connecting(let since):
            if now >= since + heartbeat * liveness { return fail(now: now) }
            return []
        case .registered:
            if now >= lastHeard + heartbeat * liveness { return fail(now: now) }
            if now >= lastSent + heartbeat { return send(ClientMessage.heartbeat.frames, now: now) }
            return []
        }
    }

    /// The earliest instant at which `tick(now:)` has something to do.
    public var nextDeadline: ContinuousClock.Instant {
        switch link {
        case .backingOff(let until): return until
        case .connecting(let since): return since + heartbeat * liveness
        case .registered: return min(lastHeard + heartbeat * liveness, lastSent + heartbeat)
        }
    }

    // MARK: - Private

    private var hello: HelloInfo {
        HelloInfo(client: config.clientID, name: config.name, services: config.services.isEmpty ? nil : config.services)
    }

    private mutating func takeRequestID() -> UInt64 {
        defer { nextRequest += 1 }
        return nextRequest
    }

    private mutating func send(_ frames: [Frame], now: ContinuousClock.Instant) -> [ClientAction] {
        lastSent = now
        return [.send(frames)]
    }

    private mutating func reconnect(now: ContinuousClock.Instant) -> [ClientAction] {
        link = .connecting(since: now)
        lastHeard = now
        hellosSinceWelcome += 1
        return [.connect] + send(ClientMessage.hello(hello).frames, now: now)
    }

    private mutating func fail(now: ContinuousClock.Instant) -> [ClientAction] {
        link = .backingOff(until: now + backoff)
        backoff = min(backoff * 2, config.backoffMax)
        return []
    }

    private mutating func welcomed(_ info: WelcomeInfo, now: ContinuousClock.Instant) -> (events: [ClientEvent], actions: [ClientAction]) {
        link = .registered
        heartbeat = .milliseconds(info.heartbeatMs)
        liveness = info.liveness
        backoff = config.backoffInitial
        broker = info
        welcomes += 1
        // Re-sync after a broker's restart, and also on a first WELCOME that came on another
        // connection than the SUBMITs sent before it (they may be lost: simulation seed 5481).
        let lostSince = hellosSinceWelcome > 1
        hellosSinceWelcome = 0
        guard welcomes > 1 || lostSince, !outstanding.isEmpty else { return ([.connected(info, resynced: 0)], []) }
        let jobs = outstanding.values.filter { !$0.following }.map { job -> JobSubmission in
            var submission = job.submission
            submission.requirements.flags |= Requirements.Flags.resync
            submission.requirements.firstAttempt = max(submission.requirements.firstAttempt, job.highestAttempt + 1)
            return submission
        }.sorted { $0.id < $1.id }
        var actions: [ClientAction] = []
        for start in stride(from: 0, to: jobs.count, by: Wire.maxBatch) {
            let chunk = Array(jobs[start..<min(start + Wire.maxBatch, jobs.count)])
            actions += send(ClientMessage.submit(request: takeRequestID(), jobs: chunk).frames, now: now)
        }
        return ([.connected(info, resynced: jobs.count)], actions)
    }

    private mutating func deliver(_ update: Update, now: ContinuousClock.Instant) -> (events: [ClientEvent], actions: [ClientAction]) {
        let job = update.attempt.job
        let key = UpdateKey(lease: update.attempt.lease, seq: update.seq)
        guard var record = outstanding[job] else {
            guard var done = finished[job] else {
                // Not known to this client (yet): a restarted application re-submits its
                // outstanding jobs first. Unacknowledged, the worker sends it again later.
                return ([], [])
            }
            guard key.lease == done.terminal.lease, !done.acknowledged else {
                // A REPORT that arrives after its job's result (a resend crossing a redelivered
                // FINAL) is still the application's to store: delivered, the application stores
                // it idempotently by (job, lease, seq) and acknowledges it.
                if update.kind == .report { return ([.update(update)], []) }
                // A later attempt's result for a job whose result was delivered (a fenced
                // attempt adopted by a restarted broker), or anything else after the result was
                // recorded: acknowledged so the worker forgets it, never delivered.
                return ([], sendAck(update, now: now))
            }
            switch done.delivered[key] {
            case true?: return ([], sendAck(update, now: now))
            case false?:
                // Still with the application: a checkpoint is delivered again, the result not.
                return key == done.terminal ? ([], []) : ([.update(update)], [])
            case nil:
                // A report or checkpoint of the result's attempt that arrives after it (the result
                // overtook it: a broker hands a result it holds over at once, the worker resends
                // the updates before it later): delivered, so it is recorded rather than
                // acknowledged and dropped — the application may hold the result until it has the
                // checkpoint. Not acknowledged here: the worker would forget it while the
                // application may still need its attempt (simulation seed 268).
                guard update.kind == .report || update.kind == .checkpoint else { return ([], []) }
                done.delivered[key] = false
                finished[job] = done
                return ([.update(update)], [])
            }
        }
        if update.kind.isTerminal, update.attempt.attempt < record.submission.requirements.firstAttempt,
           !record.submission.requirements.isResync, record.delivered[key] == nil {
            // A result of an attempt before this run's first that this run has not seen as the
            // previous run's result: the application stopped that attempt (a scheduler's pause
            // or restart: CANCEL_JOBS, then this SUBMIT in the same turn) and the result left the
            // broker before the CANCEL reached it. It is the application's to store or drop, but
            // not this run's result: taken as one, it ended the run here and the new attempt's
            // checkpoints and result were acknowledged unseen (a hung study; issue 15).
            switch record.stoppedResults[key] {
            case true?: return ([], sendAck(update, now: now))
            case false?: return ([], [])
            case nil:
                record.stoppedResults[key] = false
                outstanding[job] = record
                return ([.update(update)], [])
            }
        }
        if let acknowledged = record.delivered[key] {
            if acknowledged && update.kind.isTerminal {
                // The previous run's result, which the broker delivers only as the job's result:
                // a restarted broker that knew the job's published result but not the SUBMIT of
                // this run (lost with it) answered the re-sync with it. It ends the job on this
                // ACK, so this run's SUBMIT follows (the same connection keeps the order).
                var submission = record.submission
                submission.requirements.flags &= ~Requirements.Flags.resync
                submission.requirements.firstAttempt = max(submission.requirements.firstAttempt, record.highestAttempt + 1)
                return ([], sendAck(update, now: now) + send(ClientMessage.submit(request: takeRequestID(), jobs: [submission]).frames, now: now))
            }
            // A resend whose first acknowledgement was lost: the application already has it.
            // One the application has not acknowledged is delivered again (see the type's doc).
            return acknowledged ? ([], sendAck(update, now: now)) : ([.update(update)], [])
        }
        if update.kind.isTerminal {
            outstanding[job] = nil
            let attempt = record.delivered.filter { $0.key.lease == key.lease }
            finished[job] = Finished(terminal: key, delivered: attempt.merging([key: false]) { _, new in new })
        } else {
            record.delivered[key] = false
            record.highestAttempt = max(record.highestAttempt, update.attempt.attempt)
            outstanding[job] = record
        }
        return ([.update(update)], [])
    }

    /// An ACK the application does not need to make (a duplicate it recorded already, or an
    /// update it will never see).
    private mutating func sendAck(_ update: Update, now: ContinuousClock.Instant) -> [ClientAction] {
        send(ClientMessage.ack(job: update.attempt.job, lease: update.attempt.lease, seq: update.seq).frames, now: now)
    }
}
