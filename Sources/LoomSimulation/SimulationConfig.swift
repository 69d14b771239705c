/// What one schedule simulates: its size and the fault model's knobs. Every value that varies
/// between schedules is drawn from the seed (`SimulationConfig.drawn(seed:)`).
public struct SimulationConfig: Sendable {
    /// The seed every choice is drawn from.
    public var seed: UInt64
    /// Workers and the slots each offers.
    public var workers: Int
    public var slotsPerWorker: Int
    /// Trials in the study.
    public var trials: Int
    /// FAILED attempts the optimizer retries per trial (the study's `max_retries`).
    public var maxRetries: Int
    /// Faults drawn for this schedule, each starting within `faultWindow` of the start.
    public var faults: Int
    public var faultWindow: Duration
    /// After the last fault heals, every trial must be terminal within this much simulated time
    /// (invariant L1; Docs/reliability.md states and justifies it).
    public var liveBound: Duration
    /// After the study ends, the run goes on until no worker holds an attempt, for at most this
    /// long: what arrives late is still checked (S2: acknowledged means stored).
    public var drainBound: Duration

    public init(seed: UInt64, workers: Int, slotsPerWorker: Int, trials: Int, maxRetries: Int = 3, faults: Int,
                faultWindow: Duration = .seconds(30), liveBound: Duration = .seconds(180), drainBound: Duration = .seconds(30)) {
        self.seed = seed
        self.workers = workers
        self.slotsPerWorker = slotsPerWorker
        self.trials = trials
        self.maxRetries = maxRetries
        self.faults = faults
        self.faultWindow = faultWindow
        self.liveBound = liveBound
        self.drainBound = drainBound
    }

    /// The schedule of `seed`: 2–4 workers of 1–2 slots, 10–40 trials, 0–6 faults.
    public static func drawn(seed: UInt64) -> SimulationConfig {
        var random = SimulationRandom(seed: seed ^ 0x5EED_C0F1_6000_0000)
        return SimulationConfig(seed: seed, workers: random.int(2...4), slotsPerWorker: random.int(1...2),
                                trials: random.int(10...40), faults: random.int(0...6))
    }
}

/// One process of the fabric.
public enum ProcessID: Hashable, Comparable, Sendable, CustomStringConvertible {
    case broker
    case optimizer
    case worker(Int)

    public var description: String {
        switch self {
        case .broker: "broker"
        case .optimizer: "optimizer"
        case .worker(let i): "w\(i)"
        }
    }
}
