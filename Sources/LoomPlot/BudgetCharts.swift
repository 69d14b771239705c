import Foundation

/// What the intermediate reports show: learning curves, and how well a low resource level ranks
/// trials the way the highest level does (Spearman's ρ across trials that reached both).
enum BudgetCharts {
    /// One panel per lower level: the metric there (x) against the metric at the highest chosen
    /// level (y), on one shared scale with the diagonal drawn.
    static func correlation(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let levels = ResourceLevels.chosen(in: study)
        guard let top = levels.last, levels.count >= 2 else {
            return .failure(Skip("the trials reported at fewer than two shared resource levels (\(study.resourceLabel))"))
        }
        let lower = Array(levels.dropLast())
        let pairs: [[(x: Double, y: Double)]] = lower.map { level in
            study.trials.compactMap { t in t.value(at: level).flatMap { x in t.value(at: top).map { (x: x, y: $0) } } }
        }
        guard pairs.contains(where: { $0.count >= 2 }) else {
            return .failure(Skip("fewer than two trials reached both a lower level and \(ResourceLevels.name(top, in: study))"))
        }
        let all = pairs.flatMap { $0.flatMap { [$0.x, $0.y] } }
        let (kind, note) = c.metricScaleKind(all)
        let scale = Scale(covering: all, kind: kind)
        var (doc, body) = c.page(title: "Correlation of \(study.metric) across resource levels",
                                 subtitle: c.studyLine + " · Spearman's ρ near 1: the lower level already ranks trials as the highest does"
                                     + (note.map { " · \($0)" } ?? ""))
        let columns = Swift.min(lower.count, 3)
        let rows = (lower.count + columns - 1) / columns
        let width = body.width / Double(columns), height = body.height / Double(rows)
        let side = Swift.min(width, height)
        for (i, level) in lower.enumerated() {
            let points = pairs[i]
            let rho = Statistics.spearman(points.map(\.x), points.map(\.y))
            let frame = Frame(x: body.x + Double(i % columns) * width + (width - side) / 2,
                              y: body.y + Double(i / columns) * height, width: side, height: height)
            let diagonal = Series(name: "y = x", color: Palette.muted, style: .line, points: [(scale.low, scale.low), (scale.high, scale.high)],
                                  width: 1, dash: "4 4", inLegend: false)
            let scatter = Series(name: "\(ResourceLevels.name(level, in: study)) vs \(ResourceLevels.name(top, in: study))",
                                 color: Palette.series(i + 1), style: .points(radius: 4), points: points, opacity: 0.85)
            var panel = XYPanel(title: "\(ResourceLevels.name(level, in: study)) → \(ResourceLevels.name(top, in: study))",
                                xLabel: "\(study.metric) at \(ResourceLevels.name(level, in: study))",
                                yLabel: "\(study.metric) at \(ResourceLevels.name(top, in: study))",
                                xScale: scale, yScale: scale, series: [diagonal, scatter])
            panel.note = "ρ = " + (rho.map { String(format: "%.2f", $0) } ?? "n/a") + " (n = \(points.count))"
            panel.draw(in: &doc, frame: frame)
        }
        return .success(Plot(name: "budget-correlation", title: "Correlation across resource levels", svg: doc.text))
    }

    /// Metric against resource, one line per trial, coloured by its final (or latest) value.
    static func learningCurves(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let curves = study.trials.filter { !$0.curve.isEmpty }
        guard !curves.isEmpty else { return .failure(Skip("no trial reported intermediate results")) }
        guard curves.contains(where: { $0.curve.count >= 2 }) else {
            return .failure(Skip("no trial reported at two resource levels (\(study.resourceLabel)): there are no curves to draw"))
        }
        let values = curves.flatMap { $0.curve.map(\.value) }
        let resources = curves.flatMap { $0.curve.map(\.resource) }
        let (kind, note) = c.metricScaleKind(values)
        let colorKey = { (t: TrialData) in t.value ?? t.curve.last?.value ?? .nan }
        let colorBar = ColorBar(label: "final \(study.metric)", scale: Scale(covering: curves.map(colorKey), kind: kind),
                                goal: study.goal)
        // Worst first, so the best curves are drawn on top.
        let ordered = curves.sorted { study.goal.isBetter(colorKey($1), than: colorKey($0)) }
        let series = ordered.map { t in
            Series(name: "trial \(t.number)", color: colorBar.color(colorKey(t)),
                   style: t.curve.count == 1 ? .points(radius: 3) : .line, points: t.curve.map { (x: $0.resource, y: $0.value) },
                   width: 1.6, opacity: Palette.lineOpacity(count: ordered.count), inLegend: false)
        }
        let resourceKind: Scale.Kind = Scale.spansDecades(resources) ? .log : .linear
        var panel = XYPanel(xLabel: study.resourceLabel, yLabel: study.metric,
                            xScale: Scale(covering: resources, kind: resourceKind), yScale: Scale(covering: values, kind: kind),
                            series: series)
        panel.integerX = resources.allSatisfy { $0.rounded() == $0 }
        let subtitle = c.studyLine + " · \(curves.count) curves · \(c.metricLabel)" + (note.map { " · \($0)" } ?? "")
        return .success(c.singlePanel(name: "learning-curves", title: "Learning curves: \(study.metric) by \(study.resourceLabel)",
                                      subtitle: subtitle, panel: panel, colorBar: colorBar))
    }
}
