@testable import LoomSimulation
import Testing

@Suite("Simulation")
struct SimulationTests {
    @Test func aSeedReplaysTheSameScheduleEventForEvent() {
        let first = Simulation.run(seed: 7, trace: true)
        let again = Simulation.run(seed: 7, trace: true)
        #expect(first.events == again.events)
        #expect(first.trace == again.trace)
        #expect(first.events > 100)
    }

    @Test func aScheduleWithoutFaultsCompletesEveryTrial() {
        let result = Simulation(config: SimulationConfig(seed: 3, workers: 3, slotsPerWorker: 2, trials: 30, faults: 0)).run()
        #expect(result.violations.isEmpty, "\(result.summary)")
        #expect(result.complete + (result.trials - result.complete) == 30)
        #expect(result.trials == 30)
    }

    /// Snapshots run on the worker's background thread: one longer than the liveness window (3 s)
    /// delays its attempt's CHECKPOINT and FINAL, not the worker's heartbeats. The first
    /// fault-free schedule (2 workers, 10 trials) with such a trial loses no worker and stalls
    /// no attempt.
    @Test func aSnapshotLongerThanTheLivenessWindowCostsNoWorkerAndNoAttempt() throws {
        let config = try #require((1...500 as ClosedRange<UInt64>).lazy
            .map { SimulationConfig(seed: $0, workers: 2, slotsPerWorker: 1, trials: 10, faults: 0) }
            .first { config in Simulation(config: config).plans.values.contains { $0.snapshotTime > .seconds(3) } })
        let result = Simulation(config: config, trace: true).run()
        #expect(result.passed, "\(result.summary)")
        #expect(result.complete == 10)
        let trace = result.trace ?? []
        #expect(trace.contains { $0.contains("snapshot of") })
        #expect(!trace.contains { $0.contains("/lost ") || $0.contains("/stalled ") }, "seed \(config.seed)")
    }

    /// The CI run: 2,000 schedules (seeds 1–2000), each with its own sizes and 0–6 faults,
    /// break no invariant. A failure prints each failing schedule and the command that replays it.
    @Test func twoThousandSchedulesBreakNoInvariant() {
        let run = SimulationRun.seeds(1, count: 2000, threads: 2)
        #expect(run.schedules == 2000)
        #expect(run.faults > 4000, "the schedules inject faults")
        let report = run.failures.prefix(5).map { "\($0.summary)\nreplay: \($0.replayCommand)" }.joined(separator: "\n")
        #expect(run.failures.isEmpty, "\(run.line)\n\(report)")
    }
}
