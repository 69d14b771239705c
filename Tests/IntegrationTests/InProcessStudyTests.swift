import Foundation
import LoomEmbedded
import LoomModel
import LoomStore
import LoomWire
import LoomWorker
import Testing

/// `LocalStudy.optimize`: Swift closures as trials, through broker, optimizer and store.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct InProcessStudies {
    static func spec(trials: Int, retries: Int = 0) -> String {
        """
        name: closure
        metric: loss
        mode: min
        space:
          x: {uniform: [0.0, 1.0]}
          opt: {choice: [sgd, adam]}
          momentum: {uniform: [0.0, 0.9], when: {opt: sgd}}
        searcher: {type: quasi_random, seed: 5}
        trial: {command: [in-process], max_retries: \(retries)}
        budget: {max_trials: \(trials), max_concurrent: 3}
        """
    }

    @Test func swiftObjectiveRunsAStudyThroughTheFabricAndItsReportsAreStored() throws {
        let store = InMemoryStore()
        let result = try LocalStudy.optimize(specText: Self.spec(trials: 24), slots: 3, store: store) { trial in
            let x = trial.config["x"]?.double ?? .nan
            trial.report(["step": .number(1), "loss": .number(x * x + 1)])
            if trial.config["opt"] == .string("adam") { #expect(trial.config["momentum"] == nil, "inactive: absent") }
            return (x - 0.3) * (x - 0.3)
        }
        #expect(result.state == .complete, "\(result.reason ?? "")")
        #expect(result.trials.count == 24 && result.trials.allSatisfy { $0.state == .complete })
        let values = result.trials.compactMap(\.value)
        #expect(result.best?.value == values.min())
        for trial in result.trials {
            let x = try #require(trial.config["x"]?.double)
            #expect(abs((trial.value ?? -1) - (x - 0.3) * (x - 0.3)) < 1e-12)
            #expect(try store.reports(study: result.study, trial: trial.number).count == 1)
        }
        #expect(Set(result.trials.map { $0.config["x"]?.double ?? -1 }).count == 24, "no config twice")
    }

    @Test func aThrowingObjectiveIsRetriedThenFailsItsTrialWithTheError() throws {
        struct Diverged: Error, CustomStringConvertible { var description: String { "loss diverged" } }
        let result = try LocalStudy.optimize(specText: Self.spec(trials: 6, retries: 1), slots: 2) { trial in
            if (trial.config["x"]?.double ?? 0) > 0.5 { throw Diverged() }
            return 1
        }
        let failed = result.trials.filter { $0.state == .failed }
        #expect(!failed.isEmpty && failed.count < 6)
        for trial in failed {
            #expect(trial.attempts == 2, "one retry")
            #expect(trial.error == "attempt 1: loss diverged; attempt 2: loss diverged", "every attempt's error")
        }
        #expect(result.trials.filter { $0.state == .complete }.allSatisfy { ($0.config["x"]?.double ?? 1) <= 0.5 })
    }
}
