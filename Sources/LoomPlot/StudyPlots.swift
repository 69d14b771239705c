import Foundation

/// One rendered chart.
public struct Plot: Equatable, Sendable {
    /// The file name without extension (`convergence-time`, …).
    public var name: String
    public var title: String
    /// The complete SVG document.
    public var svg: String
}

/// When metric axes use a log scale.
public enum LogScaleChoice: String, Sendable, CaseIterable {
    /// When the values are positive and span at least two decades (`Scale.spansDecades`).
    case auto
    /// Always (values ≤ 0 cannot be drawn: the axis stays linear and the subtitle says why).
    case always
    /// Never.
    case never
}

/// Why nothing can be plotted.
public enum PlotError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The study has no trial with a result or a report.
    case nothingToPlot(study: String, reason: String)

    public var description: String {
        switch self {
        case .nothingToPlot(let study, let reason): "nothing to plot for study \(study): \(reason)"
        }
    }
}

/// Every chart of a study, drawn from plain data. Pure: no files, no clock.
///
/// The kinds, by file name: `convergence-time`, `convergence-trials`, `finished-over-time`,
/// `concurrency`, `budget-correlation`, `learning-curves`, `parallel-coordinates`, `importance`;
/// for a study with several objectives also `pareto-front` and `hypervolume` (`ParetoCharts`).
/// A chart whose data the study lacks (e.g. budget correlation when trials report at one level
/// only) is skipped with the reason, never drawn empty.
public enum StudyPlots {
    /// Each chart's file name and what draws it, in the order they are rendered.
    static let builders: [(name: String, build: @Sendable (PlotContext) -> Result<Plot, Skip>)] = [
        ("convergence-time", ConvergenceCharts.overTime), ("convergence-trials", ConvergenceCharts.overTrials),
        ("finished-over-time", ProgressCharts.finished), ("concurrency", ProgressCharts.concurrency),
        ("budget-correlation", BudgetCharts.correlation), ("learning-curves", BudgetCharts.learningCurves),
        ("parallel-coordinates", ParallelCoordinates.render), ("importance", ImportanceChart.render),
    ]

    /// Every chart kind in the order they are rendered.
    public static let kinds = builders.map(\.name)

    /// The rendered charts and, for each chart left out, why.
    public static func render(_ study: StudyData, logScale: LogScaleChoice = .auto) throws(PlotError)
        -> (plots: [Plot], skipped: [(name: String, reason: String)])
    {
        guard !study.trials.isEmpty else { throw .nothingToPlot(study: study.id, reason: "it has no trials") }
        let hasValues = study.trials.contains { $0.value != nil || !$0.curve.isEmpty }
        guard hasValues else {
            throw .nothingToPlot(study: study.id, reason: "none of its \(study.trials.count) trials reported \"\(study.metric)\" yet")
        }
        let context = PlotContext(study: study, logScale: logScale)
        var plots: [Plot] = []
        var skipped: [(String, String)] = []
        for (name, build) in builders + (study.objectives.count > 1 ? ParetoCharts.builders : []) {
            switch build(context) {
            case .success(let plot): plots.append(plot)
            case .failure(let skip): skipped.append((name, skip.reason))
            }
        }
        return (plots, skipped)
    }
}

/// Why one chart was left out.
struct Skip: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// What every chart needs besides the study: the metric's axis scale and the time unit.
struct PlotContext {
    let study: StudyData
    let logScale: LogScaleChoice
    /// The study's last event (computed once: every time axis ends there).
    let endedAt: Double
    /// Seconds per unit of the time axes, and the unit's name: seconds, minutes past 3 min,
    /// hours past 3 h.
    let timeUnit: (seconds: Double, name: String)

    /// Page size of every chart, in pixels.
    static let width = 960.0, height = 540.0

    init(study: StudyData, logScale: LogScaleChoice) {
        self.study = study
        self.logScale = logScale
        endedAt = study.endedAt
        let span = endedAt - study.startedAt
        timeUnit = span > 3 * 3600 ? (3600, "h") : span > 180 ? (60, "min") : (1, "s")
    }

    var timeLabel: String { "wall-clock time since the study started (\(timeUnit.name))" }

    /// Time `t` on the time axes.
    func elapsed(_ t: Double) -> Double { (t - study.startedAt) / timeUnit.seconds }

    /// `loss (lower is better)`.
    var metricLabel: String { "\(study.metric) (\(study.goal == .min ? "lower" : "higher") is better)" }

    /// The kind of a metric axis over `values`, and a note when a forced log scale is impossible.
    func metricScaleKind(_ values: [Double]) -> (kind: Scale.Kind, note: String?) {
        switch logScale {
        case .never: return (.linear, nil)
        case .auto: return (Scale.spansDecades(values) ? .log : .linear, nil)
        case .always:
            if values.contains(where: { $0 <= 0 }) { return (.linear, "linear axis: \(study.metric) has values ≤ 0") }
            return (.log, nil)
        }
    }

    /// A page with a title, a subtitle, and room for the drawing below them.
    func page(title: String, subtitle: String) -> (SVGDocument, body: Frame) {
        var doc = SVGDocument(width: Self.width, height: Self.height)
        doc.text(title, x: 20, y: 30, size: 18, weight: "bold", cssClass: "title")
        doc.text(subtitle, x: 20, y: 50, size: 12, fill: "#555555", cssClass: "subtitle")
        return (doc, Frame(x: 10, y: 62, width: Self.width - 20, height: Self.height - 72))
    }

    /// A page holding one panel with a legend (or colour bar) at its right.
    func singlePanel(name: String, title: String, subtitle: String, panel: XYPanel, legendTitle: String? = nil,
                     colorBar: ColorBar? = nil) -> Plot {
        var (doc, body) = page(title: title, subtitle: subtitle)
        let side = Legend.width
        panel.draw(in: &doc, frame: Frame(x: body.x, y: body.y, width: body.width - side, height: body.height))
        if let colorBar {
            colorBar.draw(in: &doc, x: body.right - side + 24, y: body.y + 50, height: body.height - 140)
        } else {
            Legend(series: panel.series, title: legendTitle).draw(in: &doc, x: body.right - side + 12, y: body.y + 30)
        }
        return Plot(name: name, title: title, svg: doc.text)
    }

    /// `study logreg-1 · 40 trials (38 complete, 2 failed)`.
    var studyLine: String {
        var counts: [TrialOutcome: Int] = [:]
        for t in study.trials { counts[t.outcome, default: 0] += 1 }
        let parts = TrialOutcome.allCases.compactMap { o in counts[o].map { "\($0) \(o.rawValue)" } }
        return "study \(study.id) · \(study.trials.count) trials (\(parts.joined(separator: ", ")))"
    }
}
