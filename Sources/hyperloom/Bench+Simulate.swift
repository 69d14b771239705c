import ArgumentParser
import Foundation
import LoomSimulation

/// `hyperloom bench simulate`: deterministic fault schedules of the whole fabric (LoomSimulation).
struct SimulateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run seeded fault schedules of broker, workers and optimizer on a simulated network, clock and disks; check the invariants of Docs/reliability.md.",
        discussion: """
            Prints `schedules=N violations=V` and the rate. A failing seed prints its schedule, the invariant \
            it broke and the command that replays it; `--seed S --trace` prints every event of one schedule.
            """)

    @Option(help: "How many schedules (seeds first-seed, first-seed+1, …).")
    var seeds = 1000

    @Option(name: .customLong("first-seed"), help: "The first seed.")
    var firstSeed: UInt64 = 1

    @Option(help: "Run only this seed.")
    var seed: UInt64?

    @Flag(help: "With --seed: print the schedule's trace, one line per event.")
    var trace = false

    @Option(help: "Threads running schedules side by side (the figures do not depend on it).")
    var threads = 1

    func validate() throws {
        guard seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if trace && seed == nil { throw ValidationError("--trace needs --seed S (one schedule)") }
    }

    func run() throws {
        if let seed {
            let result = Simulation.run(seed: seed, trace: trace)
            if let lines = result.trace { print(lines.joined(separator: "\n")) }
            print(result.summary)
            print("schedules=1 violations=\(result.passed ? 0 : 1)")
            if !result.passed {
                print("replay: \(result.replayCommand)")
                throw ExitCode.failure
            }
            return
        }
        let started = ContinuousClock.now
        let run = SimulationRun.seeds(firstSeed, count: seeds, threads: threads)
        let elapsed = Double(started.duration(to: .now).components.seconds) + Double(started.duration(to: .now).components.attoseconds) / 1e18
        for failure in run.failures.prefix(10) {
            print(failure.summary)
            print("replay: \(failure.replayCommand)")
        }
        print(run.line)
        print(String(format: "%.1f schedules/s, %d events, %.0f simulated s, %d faults, %.1f s", Double(run.schedules) / elapsed,
                     run.events, run.simulatedSeconds, run.faults, elapsed))
        if !run.failures.isEmpty { throw ExitCode.failure }
    }
}
