import Foundation
import LoomPlot
import Testing

@Suite struct Charts {
    /// The chart of `name` rendered from `study`, parsed.
    static func chart(_ name: String, _ study: StudyData = Fixtures.study(), logScale: LogScaleChoice = .auto,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> SVGInspection {
        let plots = try StudyPlots.render(study, logScale: logScale).plots
        let plot = try #require(plots.first { $0.name == name }, "no chart \(name)", sourceLocation: sourceLocation)
        return try #require(SVGInspection.parse(plot.svg, sourceLocation: sourceLocation), sourceLocation: sourceLocation)
    }

    @Test func everyKindIsRenderedAsValidSVGWithTitleAxesAndLabels() throws {
        let result = try StudyPlots.render(Fixtures.study())
        #expect(result.plots.map(\.name) == StudyPlots.kinds)
        #expect(result.skipped.isEmpty, "\(result.skipped)")
        for plot in result.plots {
            let svg = try #require(SVGInspection.parse(plot.svg))
            #expect(svg.root == "svg", "\(plot.name)")
            #expect(svg.texts["title"]?.first?.isEmpty == false, "\(plot.name) has a title")
            #expect(svg.texts["subtitle"]?.first?.contains("study fixture-1 · 10 trials (9 complete, 1 failed)") == true, "\(plot.name)")
            #expect((svg.groups["axes"] ?? 0) >= 1, "\(plot.name) has axes")
            #expect((svg.texts["tick"]?.count ?? 0) >= 4, "\(plot.name) has tick labels")
            #expect((svg.texts["axis-label"]?.count ?? 0) >= 1, "\(plot.name) has axis labels")
        }
    }

    /// Levels 1…9 are shared; four are kept, log-spaced: 1, 2, 4, 9.
    @Test func convergenceHasResultsBestLineAndOneLinePerChosenLevel() throws {
        for name in ["convergence-time", "convergence-trials"] {
            let svg = try Self.chart(name)
            #expect(svg.seriesNames == ["trial result", "best final result", "best at epoch 1", "best at epoch 2",
                                        "best at epoch 4", "best at epoch 9"], "\(name)")
            #expect(svg.groups["legend"] == 1)
            #expect(svg.texts["axis-label"]?.contains("loss") == true)
        }
        #expect(try Self.chart("convergence-time").texts["axis-label"]?.first == "wall-clock time since the study started (s)")
        #expect(try Self.chart("convergence-trials").texts["axis-label"]?.first == "trial number (creation order)")
    }

    @Test func finishedOverTimeHasATotalAndOneLinePerOutcome() throws {
        #expect(try Self.chart("finished-over-time").seriesNames == ["all finished", "complete", "failed"])
    }

    @Test func concurrencyHasTheRunningCountAndItsMean() throws {
        let svg = try Self.chart("concurrency")
        #expect(svg.seriesNames == ["running attempts", "time-weighted mean"])
        // Two at a time for the whole 50 s.
        #expect(svg.texts["subtitle"]?.first?.hasSuffix("peak 2 · mean 2 running") == true, "\(svg.texts["subtitle"] ?? [])")
    }

    @Test func budgetCorrelationHasOnePanelPerLowerLevelWithSpearmansRho() throws {
        let svg = try Self.chart("budget-correlation")
        #expect(svg.seriesCount == 6, "three panels: diagonal and scatter each")
        #expect(svg.seriesNames.filter { $0 != "y = x" } == ["epoch 1 vs epoch 9", "epoch 2 vs epoch 9", "epoch 4 vs epoch 9"])
        // Every trial's curve is quality / epoch: the ranking is the same at every level.
        #expect(svg.texts["note"] == ["ρ = 1.00 (n = 5)", "ρ = 1.00 (n = 5)", "ρ = 1.00 (n = 5)"])
    }

    @Test func learningCurvesDrawOneLinePerTrialWithAColourBar() throws {
        let svg = try Self.chart("learning-curves")
        #expect(svg.seriesCount == 10)
        #expect(Set(svg.seriesNames) == Set((1...10).map { "trial \($0)" }))
        #expect(svg.groups["colorbar"] == 1)
        #expect(svg.texts["axis-label"]?.first == "epoch")
    }

    @Test func parallelCoordinatesDrawOneLinePerCompleteTrialAndAnAxisPerParameter() throws {
        let svg = try Self.chart("parallel-coordinates")
        #expect(svg.seriesCount == 9, "trial 4 failed: no result, no line")
        #expect(svg.texts["axis-label"] == ["lr", "opt", "noise", "loss"])
        #expect(svg.allText.contains("(log)") && svg.allText.contains("(categorical)") && svg.allText.contains("(linear)"))
        #expect(svg.texts["tick"]?.contains("adam") == true && svg.texts["tick"]?.contains("sgd") == true)
    }

    @Test func importanceHasABarPerVaryingParameterMostImportantFirst() throws {
        let svg = try Self.chart("importance")
        #expect(svg.seriesCount == 3)
        #expect(svg.seriesNames.first == "lr", "lr decides the result")
    }

    @Test func aStudyReportingAtOneLevelSkipsWhatNeedsTwoAndSaysWhy() throws {
        var study = Fixtures.study()
        for i in study.trials.indices { study.trials[i].curve = Array(study.trials[i].curve.prefix(1)) }
        let result = try StudyPlots.render(study)
        #expect(result.skipped.map(\.name) == ["budget-correlation", "learning-curves"])
        #expect(result.skipped.first?.reason == "the trials reported at fewer than two shared resource levels (epoch)")
        #expect(result.skipped.last?.reason == "no trial reported at two resource levels (epoch): there are no curves to draw")
        let convergence = try #require(result.plots.first { $0.name == "convergence-trials" })
        #expect(SVGInspection.parse(convergence.svg)?.seriesNames == ["trial result", "best final result"],
                "one level's line would repeat the results'")
    }

    @Test func anEmptyStudyIsAnErrorNotEmptyPictures() throws {
        var study = Fixtures.study()
        study.trials = []
        #expect(throws: PlotError.nothingToPlot(study: "fixture-1", reason: "it has no trials")) { try StudyPlots.render(study) }
        study = Fixtures.study()
        for i in study.trials.indices {
            study.trials[i].value = nil
            study.trials[i].curve = []
        }
        #expect(throws: PlotError.nothingToPlot(study: "fixture-1", reason: "none of its 10 trials reported \"loss\" yet")) {
            try StudyPlots.render(study)
        }
    }

    @Test func namesThatAreMarkupStayText() throws {
        var study = Fixtures.study()
        study.id = "a<b & \"c\""
        study.metric = "loss<&>"
        for i in study.trials.indices {
            study.trials[i].config["</g>"] = .category(i % 2 == 0 ? "x&y" : "<z>")
        }
        study.parameters.append(ParameterInfo(name: "</g>", kind: .categorical(["x&y", "<z>"])))
        for plot in try StudyPlots.render(study).plots {
            let svg = try #require(SVGInspection.parse(plot.svg))
            #expect(svg.texts["subtitle"]?.first?.hasPrefix("study a<b & \"c\" · ") == true, "\(plot.name)")
        }
    }
}
