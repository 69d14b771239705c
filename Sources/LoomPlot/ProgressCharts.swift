import Foundation

/// How the study progressed: trials finished over time (by outcome) and trials running at once.
enum ProgressCharts {
    static let outcomeColors: [TrialOutcome: String] = [
        .complete: Palette.series(2), .failed: Palette.series(3), .pruned: Palette.series(1), .cancelled: Palette.series(4),
    ]

    static func finished(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let done = study.trials.compactMap { t in t.finishedAt.map { (time: c.elapsed($0), outcome: t.outcome) } }
            .filter { $0.outcome.isFinished }.sorted { $0.time < $1.time }
        guard !done.isEmpty else { return .failure(Skip("no trial has finished")) }
        let end = c.elapsed(c.endedAt)
        let outcomes = TrialOutcome.allCases.filter { o in done.contains { $0.outcome == o } }
        func cumulative(_ times: [Double]) -> [(x: Double, y: Double)] {
            [(0, 0)] + times.enumerated().map { (x: $0.element, y: Double($0.offset + 1)) }
        }
        var series: [Series] = []
        if outcomes.count > 1 {
            series.append(Series(name: "all finished", color: Palette.series(0), style: .step,
                                 points: cumulative(done.map(\.time)), width: 3, extendTo: end))
        }
        for o in outcomes {
            series.append(Series(name: o.rawValue, color: outcomeColors[o] ?? Palette.muted, style: .step,
                                 points: cumulative(done.filter { $0.outcome == o }.map(\.time)), width: 2.2,
                                 dash: outcomes.count > 1 ? "6 3" : nil, filled: outcomes.count == 1, extendTo: end))
        }
        var panel = XYPanel(xLabel: c.timeLabel, yLabel: "trials finished", xScale: Scale(covering: [0, end], kind: .linear),
                            yScale: Scale(covering: [0, Double(done.count)], kind: .linear, includeZero: true), series: series)
        panel.integerY = true
        let rate = end > 0 ? Double(done.count) / end : 0
        let subtitle = c.studyLine + " · \(NumberText.value(rate)) trials/\(c.timeUnit.name) on average"
        return .success(c.singlePanel(name: "finished-over-time", title: "Trials finished over time", subtitle: subtitle,
                                      panel: panel, legendTitle: "outcome"))
    }

    static func concurrency(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let counts = study.runningAttempts()
        guard !counts.isEmpty else { return .failure(Skip("no attempt has started (no start times)")) }
        let end = c.elapsed(c.endedAt)
        let points = [(x: 0.0, y: 0.0)] + counts.map { (x: c.elapsed($0.time), y: Double($0.running)) }
        var weighted = 0.0
        for (i, p) in points.enumerated() {
            let next = i + 1 < points.count ? points[i + 1].x : end
            weighted += p.y * Swift.max(next - p.x, 0)
        }
        let mean = end > 0 ? weighted / end : 0
        let peak = counts.map(\.running).max() ?? 0
        let series = [
            Series(name: "running attempts", color: Palette.series(0), style: .step, points: points, width: 2.2, filled: true, extendTo: end),
            Series(name: "time-weighted mean", color: Palette.series(3), style: .line, points: [(0, mean), (end, mean)],
                   width: 1.6, dash: "6 4"),
        ]
        var panel = XYPanel(xLabel: c.timeLabel, yLabel: "trials running at once", xScale: Scale(covering: [0, end], kind: .linear),
                            yScale: Scale(covering: [0, Double(peak) + 1], kind: .linear, includeZero: true), series: series)
        panel.integerY = true
        let subtitle = c.studyLine + " · peak \(peak) · mean \(NumberText.value(mean)) running"
        return .success(c.singlePanel(name: "concurrency", title: "Concurrent trials over time", subtitle: subtitle, panel: panel))
    }
}
