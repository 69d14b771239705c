import Foundation
import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// Multi-objective and constrained studies through the optimizer's machine: every objective is
/// recorded with the trial's feasibility, a result missing one fails the trial, `tell` takes a
/// metrics object, and NSGA-II continues exactly after a restart.
@Suite struct OptimizerMachineObjectiveTests {
    static func spec(searcher: String = "{type: random, seed: 3}", trials: Int = 2, concurrent: Int = 2, command: Bool = true) -> String {
        """
        name: mo
        metrics: [{name: accuracy, mode: max}, {name: latency_ms, mode: min}]
        constraints: ["latency_ms <= 20"]
        space:
          x: {uniform: [0.0, 1.0]}
        searcher: \(searcher)
        \(command ? "trial: {command: [t]}" : "")
        budget: {max_trials: \(trials), max_concurrent: \(concurrent)}
        """
    }

    @Test func everyObjectiveIsRecordedWithTheFeasibility() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.spec())
        try h.start("\(id)/1")
        try h.start("\(id)/2")
        try h.final("\(id)/1", seq: 1, ["accuracy": 0.9, "latency_ms": 12])
        try h.final("\(id)/2", seq: 1, ["accuracy": 0.95, "latency_ms": 31])
        let first = try h.trial(id, 1), second = try h.trial(id, 2)
        #expect(first.state == .complete && first.value == 0.9 && first.values == [0.9, 12] && first.feasible == true)
        #expect(second.state == .complete && second.values == [0.95, 31] && second.feasible == false)
        #expect(try h.store.study(id)?.state == .complete)
    }

    @Test func aResultWithoutEveryObjectiveFailsTheTrialNamingIt() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.spec())
        try h.start("\(id)/1")
        try h.final("\(id)/1", seq: 1, ["accuracy": 0.9])
        let trial = try h.trial(id, 1)
        #expect(trial.state == .failed)
        #expect(trial.error == "the final metrics hold no finite \"latency_ms\" (objective 2 of 2; reported keys: accuracy)")
        #expect(trial.values == nil)
    }

    @Test func tellTakesEveryObjectiveAsMetrics() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.spec(trials: 1, command: false))
        _ = try h.request(OptimizerRequest(op: "ask", study: id))
        let refused = try h.request(OptimizerRequest(op: "tell", study: id, trial: 1, value: 0.5, attempt: 1))
        #expect(Self.error(refused)?.contains("this study needs metrics with accuracy, latency_ms (one value is not enough)") == true)
        let missing = try h.request(OptimizerRequest(op: "tell", study: id, trial: 1, attempt: 1,
                                                     metrics: .object(["accuracy": .number(0.5)])))
        #expect(Self.error(missing)?.contains("no finite \"latency_ms\"") == true)
        _ = try h.request(OptimizerRequest(op: "tell", study: id, trial: 1, attempt: 1,
                                           metrics: .object(["accuracy": .number(0.5), "latency_ms": .number(3)])))
        let trial = try h.trial(id, 1)
        #expect(trial.state == .complete && trial.values == [0.5, 3] && trial.feasible == true)
    }

    @Test func nsga2ContinuesExactlyAfterARestart() throws {
        func run(restartingAfter restartAt: Int?) throws -> [Config] {
            var h = try MachineHarness()
            let id = try h.submit(Self.spec(searcher: "{type: nsga2, seed: 5, population_size: 4}", trials: 14, concurrent: 1))
            for n in 1...14 {
                if n == restartAt { try h.restart() }
                try h.start("\(id)/\(n)")
                let x = try #require(h.trial(id, n).config["x"]?.double)
                try h.final("\(id)/\(n)", seq: 1, ["accuracy": x, "latency_ms": 40 * (1 - x) * (1 - x)])
            }
            return try h.store.trials(study: id).map(\.config)
        }
        let live = try run(restartingAfter: nil)
        #expect(live.count == 14)
        #expect(try run(restartingAfter: 9) == live)
    }

    /// GP with a constraint: its constraint model learns from the reported values, live and
    /// after a restart alike (`StudyDriver.evaluation` passes them on), so the run continues exactly.
    @Test func constrainedGPContinuesExactlyAfterARestart() throws {
        func run(restartingAfter restartAt: Int?) throws -> [Config] {
            var h = try MachineHarness()
            let spec = """
                name: cgp
                metric: loss
                mode: min
                constraints: ["latency_ms <= 20"]
                space:
                  x: {uniform: [0.0, 1.0]}
                searcher: {type: gp, seed: 4}
                trial: {command: [t]}
                budget: {max_trials: 8, max_concurrent: 1}
                """
            let id = try h.submit(spec)
            for n in 1...8 {
                if n == restartAt { try h.restart() }
                try h.start("\(id)/\(n)")
                let x = try #require(h.trial(id, n).config["x"]?.double)
                try h.final("\(id)/\(n)", seq: 1, ["loss": x, "latency_ms": 40 * (1 - x)])
            }
            let trials = try h.store.trials(study: id)
            #expect(trials.allSatisfy { $0.state == .complete })
            return trials.map(\.config)
        }
        let live = try run(restartingAfter: nil)
        #expect(live.count == 8)
        #expect(try run(restartingAfter: 6) == live)
    }

    @Test func ashaWithSeveralObjectivesPrunesByNonDominatedSorting() throws {
        var h = try MachineHarness()
        let spec = Self.spec(trials: 2).replacingOccurrences(
            of: "budget:", with: "scheduler: {type: asha, resource: epoch, max_t: 9, grace_period: 1, reduction_factor: 2}\nbudget:")
        let id = try h.submit(spec)
        try h.start("\(id)/1")
        try h.start("\(id)/2")
        try h.report("\(id)/1", seq: 1, ["epoch": 1, "accuracy": 0.8, "latency_ms": 10])
        // Better accuracy alone would pass ASHA on the primary objective; trial 1 dominates it on both.
        try h.report("\(id)/2", seq: 1, ["epoch": 1, "accuracy": 0.7, "latency_ms": 12])
        let pruned = try h.trial(id, 2)
        #expect(pruned.state == .pruned)
        #expect(pruned.note == "pruned at rung 1 (epoch 1): not in the top 1/2 of 2 trials there by non-dominated sorting")
        #expect(h.cancelledJobs == ["\(id)/2"])
    }

    static func error(_ actions: OptimizerActions) -> String? {
        for message in actions.messages {
            if case .respond(_, _, let body) = message, let object = try? JSONValue(parsing: body).object {
                return object["error"]?.argument
            }
        }
        return nil
    }
}

/// The documents of a multi-objective study: objectives, constraints, the Pareto front and each
/// trial's front rank.
@Suite struct ObjectiveDocumentTests {
    static func trial(_ n: Int, _ accuracy: Double, _ latency: Double, feasible: Bool, state: TrialState = .complete) -> TrialRecord {
        var t = TrialRecord(study: "mo-1", number: n, config: ["x": .number(Double(n))], state: state, createdAt: 0)
        t.value = accuracy
        t.values = [accuracy, latency]
        t.feasible = feasible
        t.metrics = .object(["accuracy": .number(accuracy), "latency_ms": .number(latency)])
        return t
    }

    @Test func theFrontHoldsTheNonDominatedFeasibleTrials() throws {
        let spec = try SpecParser.parse(OptimizerMachineObjectiveTests.spec(), file: "mo.yaml")
        let trials = [Self.trial(1, 0.9, 10, feasible: true), Self.trial(2, 0.8, 5, feasible: true),
                      Self.trial(3, 0.85, 12, feasible: true), Self.trial(4, 0.99, 25, feasible: false),
                      Self.trial(5, 1, 1, feasible: true, state: .failed)]
        #expect(StudyDocuments.frontRanks(trials, spec: spec) == [1: 0, 2: 0, 3: 1, 4: 2])
        guard case .array(let front) = StudyDocuments.pareto(trials, spec: spec) else { Issue.record("no front"); return }
        #expect(front.map { $0.object?["trial"] } == [.number(1), .number(2)])
        #expect(front.first?.object?["values"] == .array([.number(0.9), .number(10)]))
        #expect(front.first?.object?["feasible"] == .bool(true))
        let fields = StudyDocuments.objectiveFields(spec: spec, trials: trials)
        #expect(fields["constraints"] == .array([.string("latency_ms <= 20")]))
        #expect(fields["objectives"] == .array([.object(["name": .string("accuracy"), "mode": .string("max")]),
                                                .object(["name": .string("latency_ms"), "mode": .string("min")])]))
    }

    @Test func withoutAFeasibleTrialTheLeastInfeasibleFormTheFront() throws {
        let spec = try SpecParser.parse(OptimizerMachineObjectiveTests.spec(), file: "mo.yaml")
        let trials = [Self.trial(1, 0.9, 30, feasible: false), Self.trial(2, 0.8, 22, feasible: false)]
        guard case .array(let front) = StudyDocuments.pareto(trials, spec: spec) else { Issue.record("no front"); return }
        #expect(front.map { $0.object?["trial"] } == [.number(2)])
        #expect(front.first?.object?["feasible"] == .bool(false))
    }

    @Test func aSingleObjectiveStudyHasNoObjectiveFields() throws {
        let spec = try SpecParser.parse(MachineHarness.spec(), file: "m.yaml")
        #expect(StudyDocuments.objectiveFields(spec: spec, trials: []).isEmpty)
    }
}
