/// Command bytes: frame 1 of every message, after the protocol frame.
///
/// Codes below 0x10 are shared by workers, clients and the broker where their meaning is the same
/// (HEARTBEAT, the four updates, DISCONNECT); 0x1x are broker→worker, 0x2x client↔broker.
public enum Command: UInt8, Sendable, CaseIterable {
    case ready = 0x01
    case heartbeat = 0x02
    case started = 0x03
    case report = 0x04
    case checkpoint = 0x05
    case final = 0x06
    case failed = 0x07
    case fetch = 0x08
    case chunk = 0x09
    case log = 0x0A
    case disconnect = 0x0F
    case welcome = 0x11
    case assign = 0x12
    case ack = 0x13
    case cancel = 0x14
    case error = 0x1F
    case hello = 0x21
    case submit = 0x22
    case cancelJobs = 0x23
    case query = 0x24
    case request = 0x25
    case submitted = 0x26
    case cancelled = 0x27
    case reply = 0x28
    case respond = 0x29
    case ended = 0x2A

    /// The upper-case name used in documentation, logs and errors.
    public var name: String {
        switch self {
        case .ready: "READY"
        case .heartbeat: "HEARTBEAT"
        case .started: "STARTED"
        case .report: "REPORT"
        case .checkpoint: "CHECKPOINT"
        case .final: "FINAL"
        case .failed: "FAILED"
        case .fetch: "FETCH"
        case .chunk: "CHUNK"
        case .log: "LOG"
        case .disconnect: "DISCONNECT"
        case .welcome: "WELCOME"
        case .assign: "ASSIGN"
        case .ack: "ACK"
        case .cancel: "CANCEL"
        case .error: "ERROR"
        case .hello: "HELLO"
        case .submit: "SUBMIT"
        case .cancelJobs: "CANCEL_JOBS"
        case .query: "QUERY"
        case .request: "REQUEST"
        case .respond: "RESPOND"
        case .submitted: "SUBMITTED"
        case .cancelled: "CANCELLED"
        case .reply: "REPLY"
        case .ended: "ENDED"
        }
    }
}

/// One attempt of one job, as every header names it.
///
/// `attempt` counts from 1 and only grows for a job; `lease` is the broker's unique id for this
/// attempt's lease. A message whose lease is not the job's current lease is *stale*: it is
/// acknowledged (so the sender forgets it) and recorded, never counted as a result.
public struct AttemptRef: Hashable, Sendable, CustomStringConvertible {
    public var job: String
    public var attempt: UInt32
    public var lease: UInt64

    public init(job: String, attempt: UInt32, lease: UInt64) {
        self.job = job
        self.attempt = attempt
        self.lease = lease
    }

    public var description: String { "\(job)#\(attempt)" }
}

/// The four kinds of update a worker sends about an attempt; their command bytes are shared with
/// the broker→client forward of the same update.
public enum UpdateKind: UInt8, Sendable, CaseIterable {
    /// An intermediate metric report.
    case report = 0x04
    /// The trial announced a checkpoint.
    case checkpoint = 0x05
    /// The attempt completed; the payload is its result. Terminal.
    case final = 0x06
    /// The attempt failed; the payload says why. Terminal for the attempt.
    case failed = 0x07

    public var command: Command { Command(rawValue: rawValue)! }
    /// Whether this update ends the attempt.
    public var isTerminal: Bool { self == .final || self == .failed }
}

/// An update about an attempt: frames `job, attempt, lease, seq, payload`.
///
/// `seq` numbers the updates of one attempt from 1, so (job, lease, seq) identifies an update
/// exactly and the receiver records it idempotently. The payload is opaque to the broker.
public struct Update: Equatable, Sendable {
    public var kind: UpdateKind
    public var attempt: AttemptRef
    public var seq: UInt64
    public var payload: Frame
    /// Who wrote a CHECKPOINT, as the broker relays it to the job's owner: the key of the worker
    /// holding the lease (`ROLE/NAME`), or `worker-id:ID` when the broker does not authenticate.
    /// Set by the broker only (a worker's own UPDATE has no such frame); nil otherwise.
    public var writer: String?

    public init(kind: UpdateKind, attempt: AttemptRef, seq: UInt64, payload: Frame, writer: String? = nil) {
        self.kind = kind
        self.attempt = attempt
        self.seq = seq
        self.payload = payload
        self.writer = writer
    }
}

/// What a job needs, in the fixed 20-byte requirements frame of SUBMIT.
public struct Requirements: Equatable, Sendable {
    /// CPU share in thousandths of a slot (1000 = one slot).
    public var cpuMilli: UInt32
    /// GPU share in thousandths of a device.
    public var gpuMilli: UInt32
    /// Most attempts the broker starts for this job when workers are lost; 0 means no limit.
    public var maxAttempts: UInt32
    /// The attempt number of the first attempt the broker starts (1 for a new job; a re-synced
    /// job passes one more than the highest attempt its client has seen).
    public var firstAttempt: UInt32
    /// Bit flags, see `Requirements.Flags`.
    public var flags: UInt32

    /// Flag bits of `flags`.
    public enum Flags {
        /// The job is being re-submitted after a broker restart: it may still be running on a
        /// worker that has not re-registered yet, so the broker holds it back during its recovery
        /// window instead of starting a second attempt at once.
        public static let resync: UInt32 = 1 << 0
        /// Bits 8–15: the quarantine threshold (see `quarantineAfter`).
        public static let quarantineShift: UInt32 = 8
    }

    public init(cpuMilli: UInt32 = 1000, gpuMilli: UInt32 = 0, maxAttempts: UInt32 = 0,
                firstAttempt: UInt32 = 1, flags: UInt32 = 0) {
        self.cpuMilli = cpuMilli
        self.gpuMilli = gpuMilli
        self.maxAttempts = maxAttempts
        self.firstAttempt = firstAttempt
        self.flags = flags
    }

    public var isResync: Bool { flags & Flags.resync != 0 }

    /// How many different workers may be lost while running the job's attempts before the broker
    /// fails it as quarantined instead of starting another attempt; 0: never (flags bits 8–15).
    public var quarantineAfter: UInt32 {
        get { (flags >> Flags.quarantineShift) & 0xFF }
        set { flags = (flags & ~(0xFF << Flags.quarantineShift)) | ((min(newValue, 0xFF)) << Flags.quarantineShift) }
    }

    /// The 20-byte frame: five big-endian u32 in field order.
    public var frame: Frame {
        BigEndian.frame(cpuMilli) + BigEndian.frame(gpuMilli) + BigEndian.frame(maxAttempts)
            + BigEndian.frame(firstAttempt) + BigEndian.frame(flags)
    }

    /// Size of the requirements frame in bytes.
    public static let frameSize = 20

    /// Decodes the 20-byte frame; `nil` when the size is wrong.
    public init?(frame: Frame) {
        guard frame.count == Self.frameSize else { return nil }
        func word(_ i: Int) -> UInt32 { BigEndian.uint32(Array(frame[i * 4..<(i + 1) * 4]))! }
        self.init(cpuMilli: word(0), gpuMilli: word(1), maxAttempts: word(2),
                  firstAttempt: word(3), flags: word(4))
    }
}

/// One job in a SUBMIT: three frames `job id, requirements, payload`.
public struct JobSubmission: Equatable, Sendable {
    public var id: String
    public var requirements: Requirements
    /// The job spec (JSON, see `JobSpec`), opaque to the broker.
    public var payload: Frame

    public init(id: String, requirements: Requirements = Requirements(), payload: Frame) {
        self.id = id
        self.requirements = requirements
        self.payload = payload
    }
}

/// An attempt a worker still runs, listed in its READY.
public struct RunningAttempt: Codable, Hashable, Sendable {
    public var job: String
    public var attempt: UInt32
    public var lease: UInt64
    /// The lease's capability from its ASSIGN, as 64 lower-case hex digits (`LeaseToken`): a
    /// broker adopts an attempt it does not know (after a restart) only with a valid one.
    public var token: String?

    public init(_ ref: AttemptRef, token: Frame? = nil) {
        job = ref.job
        attempt = ref.attempt
        lease = ref.lease
        self.token = token.map(LeaseToken.hex)
    }

    public var ref: AttemptRef { AttemptRef(job: job, attempt: attempt, lease: lease) }
}

/// The capability frame of ASSIGN: HMAC-SHA256 under the broker's secret over the job, the
/// attempt, the lease and the key of the worker it was given to (Docs/protocol.md §3). A worker
/// keeps it with the attempt and lists it in READY; it cannot make one for an attempt it was not
/// given, so it cannot claim queued or unsubmitted jobs as running.
public enum LeaseToken {
    /// Size of a token in bytes.
    public static let size = 32

    /// Lower-case hex of `token`.
    public static func hex(_ token: Frame) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(token.count * 2)
        for byte in token {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a hex token; nil unless it is `2 × size` hex digits.
    public static func bytes(hex: String) -> Frame? {
        let utf8 = Array(hex.utf8)
        guard utf8.count == size * 2 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out = Frame()
        out.reserveCapacity(size)
        for i in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }

    /// The bytes the MAC covers: `job`, a zero byte, attempt (u32), lease (u64), `holder`.
    public static func message(job: String, attempt: UInt32, lease: UInt64, holder: String) -> Frame {
        Array(job.utf8) + [0] + BigEndian.frame(attempt) + BigEndian.frame(lease) + Array(holder.utf8)
    }
}

/// Body of a worker's READY (JSON).
public struct ReadyInfo: Codable, Equatable, Sendable {
    /// Stable id of the worker process, kept across reconnects.
    public var worker: String
    /// Job slots (CPU units) the worker offers.
    public var slots: Int
    /// GPUs the worker offers (whole devices).
    public var gpus: Int
    /// Heartbeat interval the worker proposes, in milliseconds.
    public var heartbeatMs: Int
    /// Missed heartbeats after which the worker considers the broker dead.
    public var liveness: Int
    public var host: String
    public var pid: Int32
    /// Version of the worker software (informational).
    public var version: String
    /// Attempts the worker is still running (after a reconnect or a broker restart).
    public var running: [RunningAttempt]
    /// The worker's pool labels (`--labels`): a job whose spec names `worker_labels` runs only on
    /// workers that carry every one of them. Absent: none.
    public var labels: [String]?
    /// How the worker contains each attempt's processes (`cgroup2`, `cgroup1-freezer` or
    /// `process-group`), shown per worker by `hyperloom status`. Absent: an older worker.
    public var isolation: String?

    public init(worker: String, slots: Int, gpus: Int = 0, heartbeatMs: Int, liveness: Int,
                host: String, pid: Int32, version: String, running: [RunningAttempt] = [], labels: [String]? = nil,
                isolation: String? = nil) {
        self.worker = worker
        self.slots = slots
        self.gpus = gpus
        self.heartbeatMs = heartbeatMs
        self.liveness = liveness
        self.host = host
        self.pid = pid
        self.version = version
        self.running = running
        self.labels = labels
        self.isolation = isolation
    }

    enum CodingKeys: String, CodingKey {
        case worker, slots, gpus, host, pid, version, running, liveness, labels, isolation
        case heartbeatMs = "heartbeat_ms"
    }
}

/// Body of the broker's WELCOME (JSON): the negotiated heartbeat and the broker's identity.
public struct WelcomeInfo: Codable, Equatable, Sendable {
    /// Id of this broker process; a new id after a restart tells a client to re-sync.
    public var broker: String
    /// Heartbeat interval both sides use from now on, in milliseconds.
    public var heartbeatMs: Int
    /// Heartbeats a side may miss before the other is declared dead.
    public var liveness: Int
    /// Protocol version.
    public var version: Int
    /// The feed's PUB and replay endpoints as the broker bound them (a wildcard host such as
    /// `0.0.0.0` means the broker's own host: `FeedEndpoints.resolve`); absent from older brokers.
    public var feed: String?
    public var replay: String?
    /// To a worker: this broker reads the exited leases of a HEARTBEAT (`WorkerMessage.exited`);
    /// absent from older brokers, to which a worker sends plain HEARTBEATs.
    public var exited: Bool?

    public init(broker: String, heartbeatMs: Int, liveness: Int, version: Int = Int(Wire.version), feed: String? = nil,
                replay: String? = nil, exited: Bool? = nil) {
        self.exited = exited
        self.broker = broker
        self.heartbeatMs = heartbeatMs
        self.liveness = liveness
        self.version = version
        self.feed = feed
        self.replay = replay
    }

    enum CodingKeys: String, CodingKey {
        case broker, liveness, version, feed, replay, exited
        case heartbeatMs = "heartbeat_ms"
    }
}

/// Body of a client's HELLO (JSON).
public struct HelloInfo: Codable, Equatable, Sendable {
    /// Stable id of the client: results of its jobs are routed to whichever connection last said
    /// HELLO with this id.
    public var client: String
    /// Human-readable name for logs.
    public var name: String
    /// Services this client provides to other clients through the broker (e.g. `optimizer`):
    /// REQUESTs naming one of them are forwarded to it.
    public var services: [String]?

    public init(client: String, name: String, services: [String]? = nil) {
        self.client = client
        self.name = name
        self.services = services
    }
}

/// A message from a worker to the broker (protocol frame `HLW1`).
public enum WorkerMessage: Equatable, Sendable {
    case ready(ReadyInfo)
    case heartbeat
    /// A HEARTBEAT with frame 2: the leases of attempts the worker holds whose process has exited
    /// while their result waits for a checkpoint snapshot (at most `Wire.maxRunningPerReady`,
    /// at least one). Sent only to a broker whose WELCOME says `exited: true`.
    case exited([UInt64])
    case started(AttemptRef)
    case update(Update)
    /// FETCH or CHUNK for the job's owner client (checkpoint transfers).
    case transfer(Transfer)
    /// Lines of a trial's stdout or stderr (fire-and-forget, never acknowledged).
    case log(LogBatch)
    case disconnect
}

/// A message from the broker to a worker.
public enum BrokerToWorker: Equatable, Sendable {
    case welcome(WelcomeInfo)
    case heartbeat
    /// `token`: the lease's capability (`LeaseToken`), kept by the worker for its READY.
    case assign(AttemptRef, payload: Frame, token: Frame)
    case ack(job: String, lease: UInt64, seq: UInt64)
    case cancel(job: String, lease: UInt64, reason: String)
    /// FETCH or CHUNK from the job's owner client (checkpoint transfers).
    case transfer(Transfer)
    case disconnect(reason: String)
    case error(String)
}

/// A message from a client to the broker (protocol frame `HLC1`).
public enum ClientMessage: Equatable, Sendable {
    case hello(HelloInfo)
    case heartbeat
    case submit(request: UInt64, jobs: [JobSubmission])
    /// CANCEL_JOBS; `reason` (optional) says why, e.g. the scheduler's verdict: the broker puts it on
    /// the feed's `cancelled` events.
    case cancel(request: UInt64, jobs: [String], reason: String? = nil)
    case query(request: UInt64, body: Frame)
    /// A request for the client that provides `service`; answered with REPLY.
    case request(request: UInt64, service: String, body: Frame)
    /// A service provider's answer to the REQUEST `request` of client `to`.
    case respond(request: UInt64, to: String, body: Frame)
    case ack(job: String, lease: UInt64, seq: UInt64)
    /// FETCH or CHUNK for the worker that runs (or ran) the lease (checkpoint transfers).
    case transfer(Transfer)
    case disconnect
}

/// A message from the broker to a client.
public enum BrokerToClient: Equatable, Sendable {
    case welcome(WelcomeInfo)
    case heartbeat
    case submitted(request: UInt64, accepted: UInt32)
    case cancelled(request: UInt64, count: UInt32)
    case reply(request: UInt64, body: Frame)
    /// A REQUEST from client `from` for a service this client provides; `key` is the key the
    /// requester authenticated with (`ROLE/NAME`), nil when the broker does not authenticate.
    case request(request: UInt64, from: String, body: Frame, key: String? = nil)
    /// `backup`: the attempt is a speculative copy running beside the job's current attempt
    /// (which goes on), not a retry that replaces it.
    case started(AttemptRef, worker: String, backup: Bool = false)
    /// An attempt of one of this client's jobs ended without a result of its own: `reason` is
    /// one of `EndedReason`, `detail` says what happened in words (may be empty).
    case ended(AttemptRef, reason: String, detail: String)
    case update(Update)
    /// FETCH or CHUNK from the worker of one of this client's jobs (checkpoint transfers).
    case transfer(Transfer)
    case error(String)
    case disconnect(reason: String)
}

/// What the broker decoded from a peer: the role is told by the protocol frame.
public enum Inbound: Equatable, Sendable {
    case worker(WorkerMessage)
    case client(ClientMessage)
}

/// Reasons carried by DISCONNECT.
public enum DisconnectReason {
    /// The broker does not know this peer (restarted, or declared it dead): send READY/HELLO again.
    public static let reregister = "reregister"
    /// The broker is shutting down its workers: stop trials and exit.
    public static let shutdown = "shutdown"
    /// The peer's key is no longer allowed: stop, do not reconnect.
    public static let revoked = "revoked"
}

/// Reasons carried by ENDED: why an attempt ended without a result of its own.
public enum EndedReason {
    /// Its worker was lost or left; the job gets another attempt (or fails).
    public static let lost = "lost"
    /// It reported nothing for its stall timeout and was cancelled.
    public static let stalled = "stalled"
    /// The other copy of a speculatively backed-up job finished first.
    public static let superseded = "superseded"
    /// A speculative copy failed while the other copy goes on; `detail` is its error.
    public static let failed = "failed"
    public static let all: Set<String> = [lost, stalled, superseded, failed]
}

/// Well-known service names for REQUEST.
public enum ServiceName {
    /// The optimizer: studies, trials, ask-and-tell.
    public static let optimizer = "optimizer"
    /// A client that keeps its jobs' checkpoints and answers their workers' FETCHes. The broker
    /// answers a worker's FETCH about a job whose owner does not provide it at once: nothing
    /// stored (`latest`) or an error, so a retried attempt never waits for a client that does
    /// not speak FETCH.
    public static let checkpoints = "checkpoints"
}

/// Reasons carried by CANCEL.
public enum CancelReason {
    /// A client cancelled the job.
    public static let cancelled = "cancelled"
    /// The attempt was superseded by a newer attempt: its results will be recorded as stale.
    public static let fenced = "fenced"
    /// The attempt reported nothing within its stall timeout; the next attempt runs elsewhere.
    public static let stalled = "stalled"
    /// The other copy of the job (a speculative backup, or the attempt it backed up) delivered
    /// the result first.
    public static let superseded = "superseded"
    /// The worker listed the attempt in READY, but its lease capability did not verify: the
    /// broker never gave it this attempt (or gave it to another key).
    public static let unverified = "unverified"
}
