import Dispatch
import Foundation

/// Many schedules: what `hyperloom bench simulate` and the CI test run.
public struct SimulationRun: Sendable {
    public var schedules = 0
    public var events = 0
    public var simulatedSeconds = 0.0
    public var faults = 0
    /// The schedules that broke an invariant (without their trace).
    public var failures: [SimulationResult] = []

    public init() {}

    /// Runs seeds `first ..< first + count` on `threads` threads (each schedule is independent
    /// and deterministic, so the figures do not depend on the number of threads).
    public static func seeds(_ first: UInt64, count: Int, threads: Int = 1) -> SimulationRun {
        let lanes = max(1, min(threads, count))
        let parts = Locked([SimulationRun](repeating: SimulationRun(), count: lanes))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            var run = SimulationRun()
            for seed in stride(from: first + UInt64(lane), to: first + UInt64(count), by: lanes) {
                let result = Simulation.run(seed: seed)
                run.schedules += 1
                run.events += result.events
                run.simulatedSeconds += result.simulatedSeconds
                run.faults += result.config.faults
                if !result.passed { run.failures.append(result) }
            }
            parts.withLock { $0[lane] = run }
        }
        var total = SimulationRun()
        for part in parts.withLock({ $0 }) {
            total.schedules += part.schedules
            total.events += part.events
            total.simulatedSeconds += part.simulatedSeconds
            total.faults += part.faults
            total.failures += part.failures
        }
        total.failures.sort { $0.seed < $1.seed }
        return total
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

/// A value behind a lock, for the lanes of `SimulationRun.seeds` to hand their figures back.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
