import Foundation

/// Parameter importance by a simple, documented estimator (not fANOVA).
///
/// For each parameter that took at least two values among the complete trials: the trials'
/// results are replaced by their ranks (so one diverged trial cannot dominate), the trials are
/// grouped — by category for a categorical parameter, into `bins` equal-count bins by value for
/// a numeric one — and the importance is η², the share of the rank variance explained by the
/// group means. It measures each parameter's main effect alone, as fANOVA's first-order terms
/// do, but without a surrogate model: interactions are not seen, and with few trials η² is
/// biased upwards — by about (k − 1)/(n − 1) for k groups and n trials even when the parameter
/// does nothing, which the chart marks. Numeric parameters also get Spearman's ρ with the result
/// (its sign says whether larger values help).
public struct ParameterImportance: Equatable, Sendable {
    public var parameter: String
    /// η² of the result's ranks by group, in [0, 1].
    public var etaSquared: Double
    /// η²'s expected value for a parameter without effect: (groups − 1)/(trials − 1).
    public var noiseLevel: Double
    /// Spearman's ρ between a numeric parameter and the result; nil for categoricals.
    public var spearman: Double?
    public var groups: Int
    public var trials: Int

    /// Numeric parameters are cut into this many equal-count bins (fewer when there are fewer
    /// than 4 trials per bin).
    public static let bins = 5

    /// The importance of every parameter that varied, most important first (ties by name).
    public static func estimate(_ study: StudyData) -> [ParameterImportance] {
        let complete = study.trials.filter { $0.value?.isFinite == true }
        var out: [ParameterImportance] = []
        for parameter in study.parameters {
            let rows = complete.compactMap { t in t.config[parameter.name].map { (value: $0, result: t.value ?? 0) } }
            guard rows.count >= 3, Set(rows.map(\.value)).count >= 2 else { continue }
            let ranks = Statistics.ranks(rows.map(\.result))
            let numbers = rows.compactMap { if case .number(let x) = $0.value { x } else { nil } }
            let numeric = numbers.count == rows.count && !parameter.kind.isCategorical
            let groups: [String]
            if numeric {
                let bins = Swift.max(2, Swift.min(bins, rows.count / 4))
                groups = Statistics.quantileBins(numbers, bins: bins)
            } else {
                groups = rows.map { ParallelCoordinates.text($0.value) }
            }
            let k = Set(groups).count
            guard let eta = Statistics.etaSquared(groups: groups, values: ranks) else { continue }
            out.append(ParameterImportance(
                parameter: parameter.name, etaSquared: eta, noiseLevel: Double(k - 1) / Double(rows.count - 1),
                spearman: numeric ? Statistics.spearman(numbers, rows.map(\.result)) : nil, groups: k, trials: rows.count))
        }
        return out.sorted { $0.etaSquared != $1.etaSquared ? $0.etaSquared > $1.etaSquared : $0.parameter < $1.parameter }
    }
}

extension ParameterInfo.Kind {
    var isCategorical: Bool { if case .categorical = self { true } else { false } }
}

/// Horizontal bars of η² per parameter with each one's noise level marked.
enum ImportanceChart {
    static func render(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let complete = study.trials.filter { $0.value?.isFinite == true }.count
        guard complete >= 5 else { return .failure(Skip("fewer than five trials have a result (\(complete))")) }
        let importances = ParameterImportance.estimate(study)
        guard !importances.isEmpty else { return .failure(Skip("no parameter took two different values")) }
        var (doc, body) = c.page(
            title: "Parameter importance for \(study.metric)",
            subtitle: c.studyLine + " · η² of the result's ranks by parameter (up to 5 quantile bins for numbers), main effects only")
        let labelWidth = 150.0
        let plot = Frame(x: body.x + labelWidth, y: body.y + 30, width: body.width - labelWidth - 220, height: body.height - 120)
        let rowHeight = Swift.min(56, plot.height / Double(importances.count))
        let largest = importances.map { Swift.max($0.etaSquared, $0.noiseLevel) }.max() ?? 0
        let scale = Scale(kind: .linear, low: 0, high: Swift.min(1, Swift.max(0.2, (largest * 10 - 1e-9).rounded(.up) / 10)))
        func x(_ v: Double) -> Double { plot.x + scale.fraction(v) * plot.width }

        doc.beginGroup(class: "axes")
        let axisY = plot.y + rowHeight * Double(importances.count)
        for t in scale.ticks(target: 6) {
            doc.line(x(t), plot.y, x(t), axisY, stroke: Palette.grid)
            doc.text(NumberText.tick(t), x: x(t), y: axisY + 18, anchor: "middle", size: 11, cssClass: "tick")
        }
        doc.line(plot.x, axisY, plot.right, axisY, stroke: Palette.axis, width: 1.2)
        doc.line(plot.x, plot.y, plot.x, axisY, stroke: Palette.axis, width: 1.2)
        doc.text("importance: η² (share of the variance of the result's ranks explained by the parameter alone)",
                 x: plot.x + plot.width / 2, y: axisY + 40, anchor: "middle", size: 12.5, cssClass: "axis-label")
        doc.endGroup()

        for (i, item) in importances.enumerated() {
            let top = plot.y + Double(i) * rowHeight
            let barHeight = rowHeight * 0.62
            let cy = top + rowHeight / 2
            doc.text(Legend.shorten(item.parameter, to: 20), x: plot.x - 10, y: cy + 4, anchor: "end", size: 12.5, weight: "bold",
                     cssClass: "tick")
            doc.beginGroup(class: "series", label: item.parameter)
            let color = item.etaSquared > item.noiseLevel ? Palette.series(0) : Palette.muted
            doc.rect(plot.x, cy - barHeight / 2, x(item.etaSquared) - plot.x, barHeight, fill: color, opacity: 0.9)
            doc.endGroup()
            doc.line(x(item.noiseLevel), cy - barHeight / 2 - 3, x(item.noiseLevel), cy + barHeight / 2 + 3, stroke: Palette.series(3),
                     width: 2, dash: "3 2")
            var text = "η² " + String(format: "%.2f", item.etaSquared)
            if let rho = item.spearman { text += " · ρ " + String(format: "%+.2f", rho) }
            text += " · \(item.groups) groups"
            doc.text(text, x: x(Swift.max(item.etaSquared, item.noiseLevel)) + 8, y: cy + 4, size: 11.5)
        }
        // The legend in one row under the axis label.
        let legendY = axisY + 66
        let legendX = plot.x
        doc.beginGroup(class: "legend")
        doc.rect(legendX, legendY - 10, 22, 12, fill: Palette.series(0))
        doc.text("above its noise level", x: legendX + 30, y: legendY, size: 11.5)
        doc.rect(legendX + 170, legendY - 10, 22, 12, fill: Palette.muted)
        doc.text("within noise", x: legendX + 200, y: legendY, size: 11.5)
        doc.line(legendX + 300, legendY - 12, legendX + 300, legendY + 3, stroke: Palette.series(3), width: 2, dash: "3 2")
        doc.text("noise level (k−1)/(n−1)", x: legendX + 310, y: legendY, size: 11.5)
        doc.text("ρ: Spearman with \(study.metric) " + (study.goal == .min ? "(ρ < 0: larger values lower it)" : "(ρ > 0: larger values raise it)"),
                 x: legendX + 470, y: legendY, size: 11.5)
        doc.endGroup()
        return .success(Plot(name: "importance", title: "Parameter importance", svg: doc.text))
    }
}
