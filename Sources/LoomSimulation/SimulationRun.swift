/// Many schedules, one after another: what `hyperloom bench simulate` and the CI test run.
public struct SimulationRun: Sendable {
    public var schedules = 0
    public var events = 0
    public var simulatedSeconds = 0.0
    public var faults = 0
    /// The schedules that broke an invariant (without their trace).
    public var failures: [SimulationResult] = []

    public init() {}

    /// Runs seeds `first ..< first + count`; `progress` is called after each.
    public static func seeds(_ first: UInt64, count: Int, progress: (SimulationResult) -> Void = { _ in }) -> SimulationRun {
        var run = SimulationRun()
        for seed in first..<first + UInt64(count) {
            let result = Simulation.run(seed: seed)
            run.schedules += 1
            run.events += result.events
            run.simulatedSeconds += result.simulatedSeconds
            run.faults += result.config.faults
            if !result.passed { run.failures.append(result) }
            progress(result)
        }
        return run
    }

    /// The summary line: `schedules=N violations=V`.
    public var line: String { "schedules=\(schedules) violations=\(failures.count)" }
}

extension Simulation {
    /// Runs the schedule of `seed` (sizes and faults drawn from it).
    public static func run(seed: UInt64, trace: Bool = false) -> SimulationResult {
        Simulation(config: .drawn(seed: seed), trace: trace).run()
    }
}
