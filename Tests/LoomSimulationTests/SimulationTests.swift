import LoomSimulation
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
