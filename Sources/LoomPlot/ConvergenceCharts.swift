import Foundation

/// Best value so far, over wall-clock time and over trial number: one line for the trials'
/// final results and one per resource level (the best value any trial reported at that level)
/// when the trials report at two levels or more — with a single level, its line would repeat
/// the final results'.
enum ConvergenceCharts {
    static func levels(_ study: StudyData) -> [Double] {
        let chosen = ResourceLevels.chosen(in: study)
        return chosen.count >= 2 ? chosen : []
    }

    /// A step line of the best value so far through `results` (ordered by x).
    static func bestLine(_ results: [(x: Double, y: Double)], goal: Goal, name: String, color: String,
                         width: Double = 2.4, dash: String? = nil, until end: Double) -> Series {
        let best = Statistics.bestSoFar(results.map(\.y), goal: goal)
        var points: [(x: Double, y: Double)] = []
        for (i, r) in results.enumerated() where i == 0 || best[i] != best[i - 1] { points.append((r.x, best[i])) }
        return Series(name: name, color: color, style: .step, points: points, width: width, dash: dash, extendTo: end)
    }

    static func levelDash(_ i: Int) -> String? { ["6 4", "2 3", "9 3 2 3", nil][i % 4] }

    static func overTime(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let finals = study.trials.compactMap { t in t.value.flatMap { v in t.finishedAt.map { (x: c.elapsed($0), y: v) } } }
            .sorted { $0.x < $1.x }
        let levels = Self.levels(study)
        var series: [Series] = []
        let end = c.elapsed(c.endedAt)
        if !finals.isEmpty {
            series.append(Series(name: "trial result", color: "#b8b8b8", style: .points(radius: 3.2), points: finals))
            series.append(bestLine(finals, goal: study.goal, name: "best final result", color: Palette.series(0), width: 3, until: end))
        }
        for (i, level) in levels.enumerated() {
            let reports = study.trials.compactMap { t in t.curve.first { $0.resource == level }.map { (x: c.elapsed($0.time), y: $0.value) } }
                .sorted { $0.x < $1.x }
            guard !reports.isEmpty else { continue }
            series.append(bestLine(reports, goal: study.goal, name: "best at \(ResourceLevels.name(level, in: study))",
                                   color: Palette.series(i + 1), width: 1.8, dash: levelDash(i), until: end))
        }
        guard !series.isEmpty else { return .failure(Skip("no trial has a result or a timed report")) }
        let values = series.flatMap { $0.points.map(\.y) }
        let (kind, note) = c.metricScaleKind(values)
        let panel = XYPanel(
            xLabel: c.timeLabel, yLabel: study.metric, xScale: Scale(covering: [0, end], kind: .linear),
            yScale: Scale(covering: values, kind: kind), series: series)
        let subtitle = c.studyLine + " · \(c.metricLabel)" + (note.map { " · \($0)" } ?? "")
        return .success(c.singlePanel(name: "convergence-time", title: "Best \(study.metric) so far over wall-clock time",
                                      subtitle: subtitle, panel: panel))
    }

    static func overTrials(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let finals = study.trials.compactMap { t in t.value.map { (x: Double(t.number), y: $0) } }
        let levels = Self.levels(study)
        let last = Double(study.trials.last?.number ?? 1)
        var series: [Series] = []
        if !finals.isEmpty {
            series.append(Series(name: "trial result", color: "#b8b8b8", style: .points(radius: 3.2), points: finals))
            series.append(bestLine(finals, goal: study.goal, name: "best final result", color: Palette.series(0), width: 3, until: last))
        }
        for (i, level) in levels.enumerated() {
            let reports = study.trials.compactMap { t in t.value(at: level).map { (x: Double(t.number), y: $0) } }
            guard !reports.isEmpty else { continue }
            series.append(bestLine(reports, goal: study.goal, name: "best at \(ResourceLevels.name(level, in: study))",
                                   color: Palette.series(i + 1), width: 1.8, dash: levelDash(i), until: last))
        }
        guard !series.isEmpty else { return .failure(Skip("no trial has a result or a report")) }
        let values = series.flatMap { $0.points.map(\.y) }
        let (kind, note) = c.metricScaleKind(values)
        var panel = XYPanel(
            xLabel: "trial number (creation order)", yLabel: study.metric,
            xScale: Scale(covering: [1, last], kind: .linear), yScale: Scale(covering: values, kind: kind), series: series)
        panel.integerX = true
        let subtitle = c.studyLine + " · \(c.metricLabel)" + (note.map { " · \($0)" } ?? "")
        return .success(c.singlePanel(name: "convergence-trials", title: "Best \(study.metric) so far by trial",
                                      subtitle: subtitle, panel: panel))
    }
}
