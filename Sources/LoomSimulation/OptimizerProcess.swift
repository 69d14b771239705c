import Foundation
import LoomCheckpoint
import LoomClient
import LoomModel
import LoomOptimizer
import LoomStore
import LoomWire

/// The optimizer's slot in the simulation: a pure machine that talks to the broker as a client
/// and keeps its durable state on an `OptimizerDisk` (which survives its crashes; the machine
/// does not).
protocol SimulatedOptimizer {
    /// Opens the link (a fresh start, or a restart over what the disk holds).
    mutating func start(now: ContinuousClock.Instant) -> [ClientAction]
    /// A message from the broker.
    mutating func received(_ frames: [Frame], now: ContinuousClock.Instant) -> [ClientAction]
    /// Heartbeats, reconnects, checkpoint transfers, new trials; call at `nextDeadline`.
    mutating func tick(now: ContinuousClock.Instant) -> [ClientAction]
    var nextDeadline: ContinuousClock.Instant { get }
}

/// The optimizer's disk: its store (the real `InMemoryStore`, which the machine's `StoreWrite`s
/// are committed to as `OptimizerService` commits them to SQLite: one batch per turn, before the
/// turn's messages leave) and its blob directory. What was committed survives a crash of the
/// process; a turn is committed whole or not at all (a crash falls between events).
final class OptimizerDisk {
    let store = InMemoryStore()
    let blobs = SimulatedBlobs()
    /// The checker's view of the store, kept from the committed writes (`SimulatedStore.mirror`).
    let view = SimulatedStore()

    /// The study the schedule runs, created as `hyperloom submit` creates one before the
    /// optimizer drives it: `trials` trials of a FIFO random search, `concurrent` at once, each
    /// retried up to `retries` times, stalled after 5 s of silence (shorter than the longest
    /// snapshot a FINAL may wait for: `TrialPlan.drawDiskTime`).
    func createStudy(trials: Int, concurrent: Int, retries: Int, now: Double) throws {
        let spec = """
            name: \(Simulation.studyID)
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: {type: random, seed: 1}
            scheduler: fifo
            trial: {command: [simulated-trial], max_retries: \(retries), stall_timeout: 5s}
            budget: {max_trials: \(trials), max_concurrent: \(concurrent)}
            """
        _ = try SpecParser.parse(spec, file: "\(Simulation.studyID).yaml")
        try store.createStudy(StudyRecord(id: Simulation.studyID, name: Simulation.studyID, specText: spec, baseDirectory: "/sim",
                                          createdAt: now))
    }
}

/// The optimizer's blob directory as a simulated disk. Blob bytes and hashing are not modelled:
/// a partial becomes the blob it is committed as.
final class SimulatedBlobs: CheckpointBlobs {
    private(set) var stored: Set<String> = []
    private var partials: [String: Int64] = [:]

    func contains(_ sha256: String) -> Bool { stored.contains(sha256) }

    func read(_ sha256: String, offset: Int64, length: Int) throws(CheckpointError) -> [UInt8] {
        [UInt8](repeating: 0, count: length)
    }

    func write(_ bytes: [UInt8], at offset: Int64, intoPartialNamed name: String) throws(CheckpointError) {
        partials[name] = max(partials[name] ?? 0, offset + Int64(bytes.count))
    }

    func commit(partialNamed name: String, sha256: String) throws(CheckpointError) {
        partials[name] = nil
        stored.insert(sha256)
    }

    func discard(partialNamed name: String) { partials[name] = nil }

    func remove(_ sha256: String) { stored.remove(sha256) }

    func allBlobs() -> [String] { stored.sorted() }
}

/// The real optimizer in the slot: `OptimizerMachine` over the real `ClientStateMachine`, carried
/// out as `OptimizerService.perform` does it. Each turn's writes are committed to the disk's
/// store in one batch; only then are its messages sent (ACKs first), its FETCHes answered from
/// the committed checkpoint index (`CheckpointServer`), its blob writes performed and their
/// outcomes handed back. A restart rebuilds the machine from the disk (`StoredState.read`).
struct RealOptimizer: SimulatedOptimizer {
    var client: ClientStateMachine
    var machine: OptimizerMachine
    let disk: OptimizerDisk
    /// Simulated time zero, and the wall time (seconds) the records carry at it.
    let base: ContinuousClock.Instant
    let epoch: Double
    /// When the machine was last ticked.
    private var lastTick: ContinuousClock.Instant
    /// Called for every update the optimizer acknowledged, after its turn committed.
    var onAcknowledge: ((Update) -> Void)?
    /// Called with each note the machine logs (for the trace).
    var onNote: ((OptimizerNote) -> Void)?
    /// Set when a turn could not be committed (the service then rebuilds from its store).
    private(set) var failure: String?

    static let clientID = "optimizer"
    static let settings = OptimizerMachine.Settings(keepsCheckpoints: true, workingDirectory: "/sim")
    /// The service ticks the machine every loop turn, at most this far apart.
    static let tickInterval: Duration = .milliseconds(100)

    init(disk: OptimizerDisk, base: ContinuousClock.Instant, epoch: Double, now: ContinuousClock.Instant) throws {
        client = ClientStateMachine(config: ClientConfig(clientID: Self.clientID, name: "optimizer",
                                                         services: [ServiceName.optimizer, ServiceName.checkpoints]), now: now)
        machine = OptimizerMachine(settings: Self.settings, restoring: try StoredState.read(from: disk.store, blobs: disk.blobs.allBlobs()))
        self.disk = disk
        self.base = base
        self.epoch = epoch
        lastTick = now
    }

    var nextDeadline: ContinuousClock.Instant {
        min(client.nextDeadline, machine.nextDeadline ?? client.nextDeadline, lastTick + Self.tickInterval)
    }

    func wall(_ now: ContinuousClock.Instant) -> OptimizerMachine.Now {
        OptimizerMachine.Now(instant: now, wall: epoch + Double(SimTime.of(base.duration(to: now))) / 1e9)
    }

    mutating func start(now: ContinuousClock.Instant) -> [ClientAction] {
        var actions = client.start(now: now)
        actions += perform(machine.start(now: wall(now)), now: now)
        return actions
    }

    mutating func tick(now: ContinuousClock.Instant) -> [ClientAction] {
        var actions = client.tick(now: now)
        if now >= lastTick + Self.tickInterval || (machine.nextDeadline.map { now >= $0 } ?? false) {
            lastTick = now
            actions += perform(machine.tick(now: wall(now)), now: now)
        }
        return actions
    }

    mutating func received(_ frames: [Frame], now: ContinuousClock.Instant) -> [ClientAction] {
        let (events, actions) = client.received(frames, now: now)
        var out = actions
        for event in events { out += perform(machine.handle(event, now: wall(now)), now: now) }
        return out
    }

    /// `OptimizerService.perform`: commit, then send, answer and write blobs, until nothing
    /// follows. A turn that cannot be committed sends nothing and stops the process (`failure`).
    mutating func perform(_ first: OptimizerActions, now: ContinuousClock.Instant) -> [ClientAction] {
        var actions = first
        var out: [ClientAction] = []
        while !actions.isEmpty, failure == nil {
            let garbage: [String]
            do {
                garbage = try StoreWrite.commit(actions.writes, to: disk.store).garbage
            } catch {
                failure = "cannot commit the turn: \(error)"
                return out
            }
            disk.view.mirror(actions.writes)
            for note in actions.notes { onNote?(note) }
            for message in actions.orderedMessages {
                switch message {
                case .acknowledge(let update):
                    onAcknowledge?(update)
                    out += client.acknowledge(update, now: now)
                case .submit(let jobs):
                    out += client.submit(jobs, now: now).actions
                case .cancel(let jobs, let reason):
                    out += client.cancel(jobs, reason: reason, now: now).actions
                case .follow(let jobs):
                    client.follow(jobs)
                case .respond(let request, let to, let body):
                    out += client.respond(request: request, to: to, body: body, now: now)
                case .transfer(let transfer):
                    out += client.transfer(transfer, now: now)
                }
            }
            for fetch in actions.fetches {
                out += client.transfer(CheckpointServer.answer(fetch, index: disk.store, blobs: disk.blobs), now: now)
            }
            var outcomes: [DiskOutcome] = []
            for action in actions.disk { if let outcome = action.perform(on: disk.blobs) { outcomes.append(outcome) } }
            actions = OptimizerActions()
            if !garbage.isEmpty { actions.append(machine.unreferenced(garbage)) }
            if !outcomes.isEmpty { actions.append(machine.diskDone(outcomes, now: wall(now))) }
        }
        return out
    }
}
