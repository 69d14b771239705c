import Foundation
import LoomPlot
import Testing

@Suite struct Scales {
    @Test func linearScalesEndOnNiceTicks() {
        let scale = Scale(covering: [0.13, 0.87], kind: .linear)
        #expect(scale.low == 0 && scale.high == 1)
        #expect(scale.ticks(target: 6) == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(Scale(kind: .linear, low: 0, high: 0.3).ticks(target: 6) == [0, 0.1, 0.2, 0.3], "0.3 / 0.1 is 2.9999…")
        let counts = Scale(covering: [0, 37], kind: .linear, includeZero: true)
        #expect(counts.ticks(target: 5) == [0, 10, 20, 30, 40])
    }

    @Test func logScalesSpanningDecadesTickAtDecades() {
        let scale = Scale(covering: [0.002, 30], kind: .log)
        #expect(scale.low == 0.001 && scale.high == 100)
        #expect(scale.ticks(target: 6) == [0.001, 0.01, 0.1, 1, 10, 100])
        #expect(abs(scale.fraction(1) - 0.6) < 1e-12)
    }

    @Test func narrowLogScalesTickAtOneTwoFive() {
        let scale = Scale(covering: [0.3, 4], kind: .log)
        #expect(scale.ticks(target: 6) == [0.3, 0.5, 1, 2, 3])
    }

    @Test func aSingleValueGetsARange() {
        let scale = Scale(covering: [5, 5], kind: .linear)
        #expect(scale.low < 5 && scale.high > 5)
        #expect(Scale(covering: [], kind: .log).ticks().count >= 2)
    }

    @Test func logScaleIsChosenWhenValuesSpanTwoDecades() {
        #expect(Scale.spansDecades([0.001, 0.5, 0.1]))
        #expect(!Scale.spansDecades([0.2, 0.7, 0.35]))
        #expect(!Scale.spansDecades([-1, 100, 1000]), "not for values ≤ 0")
    }

    @Test func tickLabelsAreShort() {
        #expect(NumberText.tick(0.30000000000000004) == "0.3")
        #expect(NumberText.tick(2000) == "2k")
        #expect(NumberText.tick(0.0001) == "1e-4")
        #expect(NumberText.tick(250000) == "2.5e5")
        #expect(NumberText.value(0.199512345) == "0.1995")
        #expect(NumberText.duration(90) == "90 s" && NumberText.duration(600) == "10 min")
    }
}

@Suite struct LogScaleInCharts {
    /// Learning curves from about 4.6 down to 0.0001: more than four decades.
    static func wideStudy() -> StudyData {
        var trials: [TrialData] = []
        for n in 1...6 {
            let shift = Double(n) / 3
            var curve: [CurvePoint] = []
            for e in 1...4 {
                let value: Double = pow(10, 2 - Double(e) - shift)
                curve.append(CurvePoint(resource: Double(e), value: value, time: Double(n + e)))
            }
            let result: Double = pow(10, -Double(n) / 2)
            trials.append(TrialData(number: n, config: ["x": .number(Double(n))], outcome: .complete, value: result,
                                    finishedAt: 10 + Double(n), runs: [RunInterval(start: Double(n), end: 10 + Double(n))], curve: curve))
        }
        return StudyData(id: "wide", metric: "loss", goal: .min, resource: "epoch", parameters: [ParameterInfo(name: "x", kind: .linear)],
                         trials: trials, startedAt: 0)
    }

    @Test func metricAxesTurnLogWhenValuesSpanDecades() throws {
        let svg = try Charts.chart("learning-curves", Self.wideStudy())
        #expect(svg.texts["axis-label"]?.last == "loss (log scale)")
        #expect(svg.texts["tick"]?.contains("1e-4") == true && svg.texts["tick"]?.contains("10") == true)
        let narrow = try Charts.chart("learning-curves", Fixtures.study())
        #expect(narrow.texts["axis-label"]?.last == "loss")
    }

    @Test func theFlagForcesOrForbidsTheLogScale() throws {
        #expect(try Charts.chart("convergence-trials", Self.wideStudy(), logScale: .never).texts["axis-label"]?.last == "loss")
        #expect(try Charts.chart("convergence-trials", Fixtures.study(), logScale: .always).texts["axis-label"]?.last == "loss (log scale)")
        var negative = Fixtures.study()
        negative.trials[0].value = -1
        let forced = try Charts.chart("convergence-trials", negative, logScale: .always)
        #expect(forced.texts["axis-label"]?.last == "loss")
        #expect(forced.texts["subtitle"]?.first?.hasSuffix("linear axis: loss has values ≤ 0") == true)
    }
}
