import Foundation
import LoomPlot
import Testing

/// The charts of a study with several objectives.
@Suite struct ParetoChartTests {
    /// Accuracy (max) against latency (min): trials 1–3 on the front, 4 dominated, 5 infeasible.
    static func study() -> StudyData {
        let points: [(Double, Double, Bool)] = [(0.9, 10, true), (0.8, 5, true), (0.95, 30, true), (0.7, 20, true), (0.99, 1, false)]
        let trials = points.enumerated().map { i, p -> TrialData in
            var t = TrialData(number: i + 1, config: ["x": .number(Double(i))], outcome: .complete, value: p.0,
                              finishedAt: 100 + Double(i), runs: [RunInterval(start: 99 + Double(i), end: 100 + Double(i))], curve: [])
            t.values = [p.0, p.1]
            t.feasible = p.2
            return t
        }
        var study = StudyData(id: "mo-1", metric: "accuracy", goal: .max, resource: nil,
                              parameters: [ParameterInfo(name: "x", kind: .linear)], trials: trials, startedAt: 98)
        study.objectives = [ObjectiveInfo(name: "accuracy", goal: .max), ObjectiveInfo(name: "latency_ms", goal: .min)]
        return study
    }

    @Test func aStudyWithSeveralObjectivesGetsTheFrontAndTheHypervolume() throws {
        let result = try StudyPlots.render(Self.study())
        let names = result.plots.map(\.name)
        #expect(names.contains("pareto-front") && names.contains("hypervolume"))
        let front = try #require(result.plots.first { $0.name == "pareto-front" })
        let svg = try #require(SVGInspection.parse(front.svg))
        #expect(svg.seriesNames.contains("Pareto front") && svg.seriesNames.contains("dominated") && svg.seriesNames.contains("infeasible"))
        #expect(svg.texts["subtitle"]?.first?.contains("3 of 4 feasible trials on the front") == true)
        #expect(svg.texts["axis-label"]?.contains("latency_ms (lower is better)") == true)
    }

    @Test func aSingleObjectiveStudyHasNeither() throws {
        var study = Self.study()
        study.objectives = []
        let result = try StudyPlots.render(study)
        #expect(!result.plots.map(\.name).contains("pareto-front"))
        #expect(!result.skipped.map(\.name).contains("hypervolume"))
    }
}
