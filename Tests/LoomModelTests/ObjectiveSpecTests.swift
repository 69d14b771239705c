import Foundation
import LoomModel
import LoomWire
import Testing

/// `metrics` (several objectives) and `constraints`: what they parse to and how each mistake is
/// reported.
@Suite struct ObjectiveSpecTests {
    static func spec(_ objectives: String, searcher: String = "random", extra: String = "") -> String {
        """
        name: t
        \(objectives)
        searcher: \(searcher)
        space:
          lr: {uniform: [0, 1]}
        trial:
          command: [python3, t.py]
        budget:
          max_trials: 4
        \(extra)
        """
    }

    static let twoObjectives = "metrics: [{name: accuracy, mode: max}, {name: latency_ms, mode: min}]"

    @Test func severalObjectivesKeepTheirOrderAndTheFirstIsPrimary() throws {
        let spec = try parse(Self.spec(Self.twoObjectives, extra: "constraints: [\"latency_ms <= 20\", \"0.5 < accuracy\"]"))
        #expect(spec.objectives == [Objective(name: "accuracy", mode: .max), Objective(name: "latency_ms", mode: .min)])
        #expect(spec.metric == "accuracy" && spec.mode == .max)
        #expect(spec.isMultiObjective)
        #expect(spec.constraints == [MetricConstraint(metric: "latency_ms", comparison: .lessOrEqual, bound: 20),
                                     MetricConstraint(metric: "accuracy", comparison: .greater, bound: 0.5)])
    }

    @Test func theSingleMetricFormIsUnchanged() throws {
        let spec = try parse(minimalSpec)
        #expect(spec.objectives == [Objective(name: "loss", mode: .min)])
        #expect(!spec.isMultiObjective && spec.constraints.isEmpty)
    }

    @Test func schedulerMetricChoosesThePrimaryObjective() throws {
        let spec = try parse(Self.spec(Self.twoObjectives, extra: "scheduler: {type: asha, metric: latency_ms}"))
        #expect(spec.metric == "latency_ms" && spec.mode == .min)
        #expect(spec.scheduler.metric == "latency_ms")
    }

    @Test func gpTakesConstraintsAndSeveralObjectives() throws {
        let spec = try parse(Self.spec("metric: loss\nmode: min", searcher: "gp", extra: "constraints: [\"latency_ms <= 20\"]"))
        #expect(spec.searcher.kind == .gp && spec.constraints.count == 1)
        let several = try parse(Self.spec(Self.twoObjectives, searcher: "gp", extra: "constraints: [\"latency_ms <= 20\"]"))
        #expect(several.searcher.kind == .gp && several.objectives.count == 2)
    }

    @Test func nsga2TakesOptunasOptions() throws {
        let spec = try parse(Self.spec(Self.twoObjectives, searcher: "{type: nsga2, population_size: 20, mutation_prob: 0.2}"))
        #expect(spec.searcher.kind == .nsga2)
        #expect(spec.searcher.options.populationSize == 20 && spec.searcher.options.mutationProb == 0.2)
    }

    @Test func objectiveValuesAreReadFromTheFinalMetrics() throws {
        let spec = try parse(Self.spec(Self.twoObjectives, extra: "constraints: [\"latency_ms <= 20\", \"memory_mb < 512\"]"))
        let ok = spec.objectiveValues(of: .object(["accuracy": .n(0.9), "latency_ms": .n(20), "memory_mb": .n(100)]))
        #expect(ok == .success(ObjectiveValues(values: [0.9, 20], feasible: true, violation: 0, constraints: [0, -412])))
        let over = spec.objectiveValues(of: .object(["accuracy": .n(0.9), "latency_ms": .n(25), "memory_mb": .n(512)]))
        // memory_mb < 512 fails at equality with violation 0; latency is 5 over.
        #expect(over == .success(ObjectiveValues(values: [0.9, 25], feasible: false, violation: 5, constraints: [5, 0])))
        guard case .failure(let error) = spec.objectiveValues(of: .object(["accuracy": .n(0.9), "memory_mb": .n(1)])) else {
            Issue.record("a missing objective must fail"); return
        }
        #expect(error.message == "the final metrics hold no finite \"latency_ms\" (objective 2 of 2; reported keys: accuracy, memory_mb)")
        guard case .failure(let missing) = spec.objectiveValues(of: .object(["accuracy": .n(0.9), "latency_ms": .n(1)])) else {
            Issue.record("a missing constrained value must fail"); return
        }
        #expect(missing.message.contains("\"memory_mb\" (constraint memory_mb < 512;"))
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let yaml: String
        let field: String
        let fragment: String
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "metric and metrics", yaml: spec("metric: loss\n" + twoObjectives), field: "metric",
             fragment: "metric and metrics exclude each other"),
        Case(label: "mode beside metrics", yaml: spec("mode: min\n" + twoObjectives), field: "mode",
             fragment: "mode and metrics exclude each other"),
        Case(label: "metrics not a list", yaml: spec("metrics: accuracy"), field: "metrics",
             fragment: "expected a list of objectives"),
        Case(label: "empty metrics", yaml: spec("metrics: []"), field: "metrics", fragment: "expected at least one objective"),
        Case(label: "objective without mode", yaml: spec("metrics: [{name: accuracy}]"), field: "metrics[0].mode",
             fragment: "missing required key \"mode\""),
        Case(label: "bad mode", yaml: spec("metrics: [{name: accuracy, mode: maximize}]"), field: "metrics[0].mode",
             fragment: "expected min or max, found string \"maximize\""),
        Case(label: "unknown objective key", yaml: spec("metrics: [{name: a, mode: min, goal: 1}]"), field: "metrics[0].goal",
             fragment: "unknown key \"goal\""),
        Case(label: "duplicate objective", yaml: spec("metrics: [{name: a, mode: min}, {name: a, mode: max}]"),
             field: "metrics[1].name", fragment: "duplicate objective \"a\" (already metrics[0])"),
        Case(label: "checkpoint objective", yaml: spec("metrics: [{name: checkpoint, mode: min}]"), field: "metrics[0].name",
             fragment: "\"checkpoint\" is the checkpoint flag"),
        Case(label: "no metric at all", yaml: spec(""), field: "metric", fragment: "missing required key \"metric\""),
        Case(label: "equality constraint", yaml: spec(twoObjectives, extra: "constraints: [\"latency_ms == 20\"]"),
             field: "constraints[0]", fragment: "unknown operator \"==\""),
        Case(label: "no comparison", yaml: spec(twoObjectives, extra: "constraints: [\"latency_ms 20\"]"),
             field: "constraints[0]", fragment: "no comparison in \"latency_ms 20\""),
        Case(label: "two numbers", yaml: spec(twoObjectives, extra: "constraints: [\"3 < 20\"]"),
             field: "constraints[0]", fragment: "compares two numbers"),
        Case(label: "not a metric name", yaml: spec(twoObjectives, extra: "constraints: [\"latency ms <= 20\"]"),
             field: "constraints[0]", fragment: "\"latency ms\" in \"latency ms <= 20\" is neither a metric name"),
        Case(label: "two names", yaml: spec(twoObjectives, extra: "constraints: [\"latency_ms <= budget\"]"),
             field: "constraints[0]", fragment: "is neither a metric name"),
        Case(label: "duplicate constraint", yaml: spec(twoObjectives, extra: "constraints: [\"a <= 1\", \"1 >= a\"]"),
             field: "constraints[1]", fragment: "duplicate constraint \"a <= 1\""),
        Case(label: "constraints not a list", yaml: spec(twoObjectives, extra: "constraints: \"a <= 1\""),
             field: "constraints", fragment: "expected a list of bounds"),
        Case(label: "scheduler metric not an objective", yaml: spec(twoObjectives, extra: "scheduler: {type: asha, metric: acuracy}"),
             field: "scheduler.metric", fragment: "\"acuracy\" is not an objective of the study; expected one of accuracy, latency_ms (did you mean \"accuracy\"?)"),
        Case(label: "single-objective searcher", yaml: spec(twoObjectives, searcher: "bohb"), field: "searcher",
             fragment: "the bohb searcher optimises one objective and this study has 2 (metrics); use one of random, grid, quasi_random, nsga2, tpe, gp"),
        Case(label: "searcher without constraints", yaml: spec("metric: loss\nmode: min", searcher: "bohb", extra: "constraints: [\"a <= 1\"]"),
             field: "searcher", fragment: "the bohb searcher does not handle constraints"),
        Case(label: "nsga2 option elsewhere", yaml: spec(twoObjectives, searcher: "{type: random, population_size: 10}"),
             field: "searcher.population_size", fragment: "population_size applies only to the nsga2 searcher"),
        Case(label: "tiny population", yaml: spec(twoObjectives, searcher: "{type: nsga2, population_size: 1}"),
             field: "searcher.population_size", fragment: "expected an integer ≥ 2, found 1"),
    ]

    @Test(arguments: cases)
    func invalidObjectivesAreRejected(_ c: Case) {
        guard let error = parseError(c.yaml) else { return }
        #expect(error.field == c.field, "\(error)")
        #expect(error.message.contains(c.fragment), "\(error)")
    }
}
