import LoomClient
import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// An `OptimizerMachine` run by hand on a manual clock, with an in-memory store as its disk:
/// what `OptimizerService` does, without sockets. Every turn's writes are committed before its
/// messages are kept in `sent`, as the service sends them.
struct MachineHarness {
    var machine: OptimizerMachine
    let store: InMemoryStore
    let settings: OptimizerMachine.Settings
    let t0 = ContinuousClock.now
    /// Seconds since the harness started (the wall clock reads 1,000 + this).
    var seconds = 0.0
    /// Every message sent, in order.
    var sent: [OptimizerMessage] = []
    /// Every blob write performed, in order.
    var disk: [DiskAction] = []
    var nextRequest: UInt64 = 100

    init(store: InMemoryStore = InMemoryStore(), settings: OptimizerMachine.Settings = .init(keepsCheckpoints: false, workingDirectory: "/w")) throws {
        self.store = store
        self.settings = settings
        machine = OptimizerMachine(settings: settings, restoring: try StoredState.read(from: store))
        try apply(machine.start(now: now))
    }

    var now: OptimizerMachine.Now {
        OptimizerMachine.Now(instant: t0 + .milliseconds(Int((seconds * 1000).rounded())), wall: 1_000 + seconds)
    }

    mutating func advance(_ s: Double) { seconds += s }

    /// Commits the writes, then keeps the messages (in sending order) and blob writes.
    @discardableResult
    mutating func apply(_ actions: OptimizerActions) throws -> OptimizerActions {
        let (garbage, _) = try StoreWrite.commit(actions.writes, to: store)
        sent += actions.orderedMessages
        disk += actions.disk
        if !garbage.isEmpty { try apply(machine.unreferenced(garbage)) }
        return actions
    }

    @discardableResult
    mutating func event(_ event: ClientEvent) throws -> OptimizerActions { try apply(machine.handle(event, now: now)) }

    @discardableResult
    mutating func tick() throws -> OptimizerActions { try apply(machine.tick(now: now)) }

    /// A machine rebuilt from the store, as after a crash of the optimizer; returns `start`'s actions.
    @discardableResult
    mutating func restart() throws -> OptimizerActions {
        machine = OptimizerMachine(settings: settings, restoring: try StoredState.read(from: store, blobs: machine.uploads.blobs.sorted()))
        sent = []
        return try apply(machine.start(now: now))
    }

    /// Submits a spec through a REQUEST (from `key`, when the broker authenticates); returns the
    /// study id it answered.
    mutating func submit(_ spec: String, key: String? = nil) throws -> String {
        let actions = try request(OptimizerRequest(op: "submit", spec: spec, baseDirectory: "/w"), key: key)
        let body = try #require(actions.messages.compactMap { message -> Frame? in
            if case .respond(_, _, let body) = message { body } else { nil }
        }.first)
        return try #require(try JSONValue(parsing: body).object?["study"]?.argument)
    }

    @discardableResult
    mutating func request(_ body: OptimizerRequest, key: String? = nil) throws -> OptimizerActions {
        nextRequest += 1
        return try event(.request(request: nextRequest, from: "cli", body: body.body, key: key))
    }

    // MARK: - Worker side

    @discardableResult
    mutating func start(_ job: String, attempt: UInt32 = 1, lease: UInt64? = nil, worker: String = "w1") throws -> OptimizerActions {
        try event(.started(AttemptRef(job: job, attempt: attempt, lease: lease ?? UInt64(attempt) * 10), worker: worker))
    }

    static func update(_ kind: UpdateKind, _ job: String, attempt: UInt32 = 1, lease: UInt64? = nil, seq: UInt64, _ payload: JSONValue) -> Update {
        Update(kind: kind, attempt: AttemptRef(job: job, attempt: attempt, lease: lease ?? UInt64(attempt) * 10), seq: seq,
               payload: JSONCoding.encode(payload))
    }

    @discardableResult
    mutating func report(_ job: String, attempt: UInt32 = 1, seq: UInt64, _ metrics: [String: Double]) throws -> OptimizerActions {
        try event(.update(Self.update(.report, job, attempt: attempt, seq: seq, .object(metrics.mapValues(JSONValue.number)))))
    }

    @discardableResult
    mutating func final(_ job: String, attempt: UInt32 = 1, seq: UInt64, _ metrics: [String: Double], reports: Int = 1,
                        resumedFrom checkpoint: (attempt: Int, seq: Int)? = nil) throws -> OptimizerActions {
        var body: [String: JSONValue] = ["metrics": .object(metrics.mapValues(JSONValue.number)), "reports": .number(Double(reports))]
        if let checkpoint {
            body["resumed_checkpoint"] = .object(["attempt": .number(Double(checkpoint.attempt)), "seq": .number(Double(checkpoint.seq))])
        }
        return try event(.update(Self.update(.final, job, attempt: attempt, seq: seq, .object(body))))
    }

    // MARK: - Reading

    func trial(_ study: String, _ number: Int) throws -> TrialRecord { try #require(try store.trial(study: study, number: number)) }

    func attempts(_ study: String, _ number: Int) throws -> [AttemptRecord] { try store.attempts(study: study, trial: number) }

    /// The submitted job ids, in order.
    var submittedJobs: [String] {
        sent.flatMap { message -> [String] in if case .submit(let jobs) = message { jobs.map(\.id) } else { [] } }
    }

    var cancelledJobs: [String] {
        sent.flatMap { message -> [String] in if case .cancel(let jobs, _) = message { jobs } else { [] } }
    }

    var acknowledged: [UInt64] {
        sent.compactMap { message -> UInt64? in if case .acknowledge(let update) = message { update.seq } else { nil } }
    }

    static func spec(trials: Int = 2, concurrent: Int = 2, scheduler: String = "fifo", retries: Int = 2) -> String {
        """
        name: m
        metric: loss
        mode: min
        space:
          x: {uniform: [0.0, 1.0]}
        searcher: {type: random, seed: 3}
        scheduler: \(scheduler)
        trial: {command: [t], max_retries: \(retries)}
        budget: {max_trials: \(trials), max_concurrent: \(concurrent)}
        """
    }
}
