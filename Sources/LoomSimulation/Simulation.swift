import Foundation
import LoomBroker
import LoomClient
import LoomWorker
import LoomWire

/// One deterministic schedule of the whole fabric: the real `BrokerStateMachine` and
/// `WorkerStateMachine`s and an optimizer slot (`SimulatedOptimizer`) run against a simulated
/// network, clock and disks; every choice — sizes, trial behaviour, latencies, faults — is drawn
/// from one seed, so a seed replays exactly.
///
/// **Time.** `now` is simulated nanoseconds since the start; the machines see
/// `base + now` as their `ContinuousClock.Instant`. Events run in (time, insertion) order.
/// **Processes.** Each has an incarnation, bumped by a crash: events of an earlier incarnation
/// are ignored. A frozen process's events wait until it thaws, in order.
/// **Invariants** are checked as events happen and when the study ends (`InvariantChecker`).
public final class Simulation {
    enum Event {
        /// Deliver what has arrived on a session's channel (`up`: towards the broker).
        case pump(session: Int, up: Bool)
        case timer(ProcessID, incarnation: Int)
        /// The next step (or the exit) of a trial process.
        case trialStep(worker: Int, incarnation: Int, lease: UInt64)
        /// A killed trial's process has exited.
        case trialKilled(worker: Int, incarnation: Int, lease: UInt64, reason: String)
        /// A restore's FETCH went unanswered: ask again.
        case restoreRetry(worker: Int, incarnation: Int, lease: UInt64, request: UInt64)
        /// The worker's background thread finished a snapshot, or a restored directory's rebuild.
        case snapshotTaken(worker: Int, incarnation: Int, ref: AttemptRef, metrics: Frame)
        case restoreRebuilt(worker: Int, incarnation: Int, lease: UInt64, origin: SimulatedWorker.LocalCheckpoint)
        /// A DEALER socket's TCP connection is established.
        case connected(socket: Int)
        case faultStarts(Int)
        case faultEnds(Int)
    }

    public let config: SimulationConfig
    var random: SimulationRandom
    let base: ContinuousClock.Instant
    var now: SimTime = 0
    var queue = EventQueue<Event>()
    var events = 0

    // Processes
    var incarnation: [ProcessID: Int] = [:]
    var alive: Set<ProcessID> = []
    var frozen: Set<ProcessID> = []
    var deferred: [ProcessID: [Event]] = [:]
    var timerAt: [ProcessID: SimTime] = [:]

    // Broker
    var broker: BrokerStateMachine?
    var brokerStarts = 0
    /// The broker's lease secret: on its disk (`lease.secret` beside the journal), so it is the
    /// same across restarts and a worker's leases verify after one. Drawn from the seed once.
    var leaseSecret: [UInt8]?
    /// The feed journal (a simulated disk): the last seq written. The service writes an event
    /// before it publishes it, so a crash of the process loses nothing published.
    var journalSeq: UInt64 = 0
    /// The journal's job events (the rest is not read back at start): a starting broker rebuilds
    /// its `PublishedResults` from them, as `BrokerService` does from its journal.
    var journalJobEvents: [FeedEvent] = []

    // Workers and optimizer
    var workers: [SimulatedWorker] = []
    var optimizer: RealOptimizer?
    /// The optimizer's store and blob directory (survive its crashes).
    let disk = OptimizerDisk()
    /// The checker's view of that store.
    var store: SimulatedStore { disk.view }
    /// The id of the one study every schedule runs; its trials' jobs are `<id>/<number>`.
    static let studyID = "sim"
    let plans: [String: TrialPlan]
    let jobs: [String]

    // Network
    var network = SimulatedNetwork()

    // Faults
    let faults: [Fault]
    var activeFaults = 0
    var lastHeal: SimTime = 0

    var checker = InvariantChecker()
    /// Lines of the trace, when it is kept.
    var trace: [String]?

    /// A schedule drawn from `config.seed`; `trace` keeps a readable line per event.
    public init(config: SimulationConfig, trace: Bool = false) {
        self.config = config
        var random = SimulationRandom(seed: config.seed)
        base = ContinuousClock.now
        self.trace = trace ? [] : nil
        var planRandom = random.split()
        var plans: [String: TrialPlan] = [:]
        var jobs: [String] = []
        for i in 0..<config.trials {
            let job = "\(Self.studyID)/\(i + 1)"
            jobs.append(job)
            plans[job] = TrialPlan.draw(job: job, index: i, random: &planRandom)
        }
        self.plans = plans
        self.jobs = jobs
        var faultRandom = random.split()
        faults = Fault.draw(count: config.faults, workers: config.workers, window: config.faultWindow, random: &faultRandom)
        network.random = random.split()
        self.random = random
        for i in 0..<config.workers { workers.append(SimulatedWorker(index: i)) }
    }

    var instant: ContinuousClock.Instant { base + .nanoseconds(now) }

    func instant(_ t: SimTime) -> ContinuousClock.Instant { base + .nanoseconds(t) }

    func time(_ i: ContinuousClock.Instant) -> SimTime { SimTime.of(base.duration(to: i)) }

    func schedule(_ event: Event, at time: SimTime) { queue.schedule(event, at: max(time, now)) }

    func note(_ line: @autoclosure () -> String) {
        guard trace != nil else { return }
        let t = Double(now / 1_000_000) / 1000
        trace!.append("[\(String(format: "%9.3f", t))] \(line())")
    }

    /// Runs the schedule to its end: the study finished and its workers hold nothing more (or
    /// `drainBound` passed since it finished), or the live bound passed (L1), or an invariant
    /// broke. The run goes on after the study's end while a worker still holds an attempt:
    /// late updates (a resend crossing the last result), and the faults still to come, meet an
    /// optimizer that no longer drives the study.
    public func run() -> SimulationResult {
        for (i, fault) in faults.enumerated() { schedule(.faultStarts(i), at: fault.start) }
        lastHeal = faults.map(\.end).max() ?? 0
        start(.broker)
        for i in workers.indices { start(.worker(i)) }
        start(.optimizer)
        let deadline = max(lastHeal, SimTime.of(config.faultWindow)) + SimTime.of(config.liveBound)
        var drainEnds: SimTime?
        while checker.violations.isEmpty, let (time, event) = queue.pop() {
            if store.studyFinished {
                let ends = drainEnds ?? now + SimTime.of(config.drainBound)
                drainEnds = ends
                if time > ends || workers.allSatisfy({ $0.machine?.heldAttempts.isEmpty ?? true }) { break }
            } else if time > deadline {
                now = deadline
                checker.fail("L1", "the study did not finish within \(config.liveBound) of the last fault's end: \(unfinishedSummary())", at: now)
                break
            }
            now = time
            events += 1
            handle(event)
        }
        if checker.violations.isEmpty && store.studyFinished {
            if !store.allTerminal || store.order.count != config.trials {
                checker.fail("L1", "the study ended with \(store.order.count) of \(config.trials) trials, not all finished: \(unfinishedSummary())", at: now)
            } else {
                checker.finish(store: store, plans: plans, at: now)
            }
        }
        return SimulationResult(seed: config.seed, config: config, faults: faults, events: events, simulatedSeconds: Double(now) / 1e9,
                                violations: checker.violations, trials: store.order.count,
                                complete: store.trials.values.filter { if case .complete = $0.state { true } else { false } }.count,
                                trace: trace)
    }

    func handle(_ event: Event) {
        switch event {
        case .pump(let session, let up): pump(session: session, up: up)
        case .timer(let process, let inc):
            guard incarnation[process] == inc, alive.contains(process) else { return }
            if frozen.contains(process) { return postpone(event, for: process) }
            guard timerAt[process] == now else { return }
            timerAt[process] = nil
            tick(process)
        case .trialStep(let w, let inc, let lease):
            guard incarnation[.worker(w)] == inc, alive.contains(.worker(w)) else { return }
            if frozen.contains(.worker(w)) { return postpone(event, for: .worker(w)) }
            trialStep(worker: w, lease: lease)
        case .trialKilled(let w, let inc, let lease, let reason):
            guard incarnation[.worker(w)] == inc, alive.contains(.worker(w)) else { return }
            if frozen.contains(.worker(w)) { return postpone(event, for: .worker(w)) }
            trialKilled(worker: w, lease: lease, reason: reason)
        case .restoreRetry(let w, let inc, let lease, let request):
            guard incarnation[.worker(w)] == inc, alive.contains(.worker(w)) else { return }
            if frozen.contains(.worker(w)) { return postpone(event, for: .worker(w)) }
            restoreRetry(worker: w, lease: lease, request: request)
        case .snapshotTaken(let w, let inc, let ref, let metrics):
            guard incarnation[.worker(w)] == inc, alive.contains(.worker(w)) else { return }
            if frozen.contains(.worker(w)) { return postpone(event, for: .worker(w)) }
            snapshotTaken(worker: w, ref: ref, metrics: metrics)
        case .restoreRebuilt(let w, let inc, let lease, let origin):
            guard incarnation[.worker(w)] == inc, alive.contains(.worker(w)) else { return }
            if frozen.contains(.worker(w)) { return postpone(event, for: .worker(w)) }
            restoreRebuilt(worker: w, lease: lease, origin: origin)
        case .connected(let socket): established(socket: socket)
        case .faultStarts(let i): faultStarts(faults[i], index: i)
        case .faultEnds(let i): faultEnds(faults[i])
        }
    }

    func postpone(_ event: Event, for process: ProcessID) { deferred[process, default: []].append(event) }

    // MARK: - Process lifecycle

    func start(_ process: ProcessID) {
        incarnation[process, default: 0] += 1
        alive.insert(process)
        switch process {
        case .broker: startBroker()
        case .optimizer: startOptimizer()
        case .worker(let i): startWorker(i)
        }
    }

    func crash(_ process: ProcessID) {
        guard alive.contains(process) else { return }
        note("✗ \(process) crashes (SIGKILL)")
        alive.remove(process)
        frozen.remove(process)
        deferred[process] = nil
        timerAt[process] = nil
        incarnation[process, default: 0] += 1
        switch process {
        case .broker:
            broker = nil
            dropAllSessions()
        case .optimizer:
            optimizer = nil
            closeSocket(of: .optimizer)
        case .worker(let i):
            crashWorker(i)
            closeSocket(of: .worker(i))
        }
    }

    func thaw(_ process: ProcessID) {
        guard frozen.remove(process) != nil else { return }
        note("▶ \(process) thawed (SIGCONT)")
        let waiting = deferred.removeValue(forKey: process) ?? []
        for event in waiting { schedule(event, at: now) }
        if let inc = incarnation[process] { schedule(.timer(process, incarnation: inc), at: now); timerAt[process] = now }
        pumpChannels(towards: process)
    }

    /// Calls the process's machine at its deadline.
    func tick(_ process: ProcessID) {
        switch process {
        case .broker:
            guard broker != nil else { return }
            performBroker(broker!.expire(now: instant))
        case .optimizer:
            guard optimizer != nil else { return }
            performClient(optimizer!.tick(now: instant))
        case .worker(let i):
            guard workers[i].machine != nil else { return }
            performWorker(i, workers[i].machine!.tick(now: instant))
        }
        arm(process)
    }

    /// The end of a loop turn of the process: schedules its next timer at its machine's
    /// deadline (at least 1 ms ahead); a worker also collects its blob garbage, as the agent
    /// does every turn.
    func arm(_ process: ProcessID) {
        guard alive.contains(process), let inc = incarnation[process] else { return }
        if case .worker(let i) = process { collectGarbage(i) }
        let deadline: ContinuousClock.Instant? = switch process {
        case .broker: broker?.nextDeadline
        case .optimizer: optimizer?.nextDeadline
        case .worker(let i): workers[i].machine?.nextDeadline
        }
        guard let deadline else { return }
        let at = max(time(deadline), now + 1_000_000)
        if let current = timerAt[process], current > now, current <= at { return }
        timerAt[process] = at
        schedule(.timer(process, incarnation: inc), at: at)
    }

    // MARK: - Faults

    func faultStarts(_ fault: Fault, index: Int) {
        note("⚡ fault: \(fault)")
        activeFaults += 1
        schedule(.faultEnds(index), at: fault.end)
        switch fault.kind {
        case .crash(let p): crash(p)
        case .freeze(let p):
            guard alive.contains(p) else { return }
            note("⏸ \(p) frozen (SIGSTOP)")
            frozen.insert(p)
        case .partition(let p):
            network.partitioned[p, default: 0] += 1
        case .slowNetwork:
            network.slow += 1
        }
    }

    func faultEnds(_ fault: Fault) {
        activeFaults -= 1
        note("✓ healed: \(fault)")
        switch fault.kind {
        case .crash(let p):
            if !alive.contains(p) {
                note("↻ \(p) restarts")
                start(p)
            }
        case .freeze(let p): thaw(p)
        case .partition(let p):
            network.partitioned[p, default: 1] -= 1
            if network.partitioned[p] == 0 {
                network.partitioned[p] = nil
                pumpChannels(of: p)
                retryConnects()
            }
        case .slowNetwork:
            network.slow -= 1
        }
    }

    func unfinishedSummary() -> String {
        let open = store.order.compactMap { store.trials[$0] }.filter { !$0.isTerminal }
        let names = open.prefix(8).map { t in "\(t.job) (attempt \(t.highestAttempt))" }.joined(separator: ", ")
        return "\(open.count) of \(store.order.count) trials unfinished: \(names)\(open.count > 8 ? ", …" : "")"
    }
}
