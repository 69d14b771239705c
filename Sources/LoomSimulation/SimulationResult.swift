import Foundation
/// What one schedule did, and the invariants it broke.
public struct SimulationResult: Sendable {
    public var seed: UInt64
    public var config: SimulationConfig
    var faults: [Fault]
    /// Events processed.
    public var events: Int
    public var simulatedSeconds: Double
    public var violations: [Violation]
    public var trials: Int
    public var complete: Int
    /// One line per event, when the schedule was run with its trace.
    public var trace: [String]?

    public var passed: Bool { violations.isEmpty }

    /// The command that replays this schedule with its trace.
    public var replayCommand: String { "hyperloom bench simulate --seed \(seed) --trace" }

    /// The schedule in one paragraph: its size, its faults.
    public var summary: String {
        var lines = ["seed \(seed): \(config.workers) workers × \(config.slotsPerWorker) slots, \(config.trials) trials, "
            + "\(faults.count) faults; \(events) events, \(String(format: "%.1f", simulatedSeconds)) s simulated, \(complete)/\(trials) complete"]
        for fault in faults { lines.append("  fault: \(fault)") }
        for violation in violations { lines.append("  VIOLATION \(violation)") }
        return lines.joined(separator: "\n")
    }
}
