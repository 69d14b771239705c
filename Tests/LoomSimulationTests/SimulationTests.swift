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
}
