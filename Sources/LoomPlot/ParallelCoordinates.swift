import Foundation

/// One vertical axis per parameter (linear, log or categorical) and a last one for the metric;
/// one line per complete trial, coloured by its result, the best drawn on top. A trial without a
/// value for a parameter (inactive in a conditional space) passes that axis by. On a categorical
/// axis the lines fan out over a band around their category (by trial number, deterministic),
/// so how many trials took each category stays visible.
enum ParallelCoordinates {
    /// How one axis places values: a fraction in [0, 1] from the bottom, and its tick labels.
    struct Axis {
        var name: String
        var caption: String
        /// Where a trial's value sits (the trial number spreads lines on categorical axes).
        var position: (ParameterValue, _ trial: Int) -> Double?
        var ticks: [(fraction: Double, label: String)]
    }

    static func numericAxis(_ name: String, caption: String, values: [Double], kind: Scale.Kind) -> Axis {
        let scale = Scale(covering: values, kind: kind)
        let ticks = scale.ticks(target: 6).map { (fraction: scale.fraction($0), label: NumberText.tick($0)) }
        return Axis(name: name, caption: caption, position: { value, _ in
            guard case .number(let x) = value, x.isFinite, kind == .linear || x > 0 else { return nil }
            return scale.fraction(x)
        }, ticks: ticks)
    }

    static func axis(for parameter: ParameterInfo, trials: [TrialData]) -> Axis? {
        let present = trials.compactMap { $0.config[parameter.name] }
        guard Set(present).count >= 2 else { return nil }
        let numbers = present.compactMap { if case .number(let x) = $0 { x } else { nil } }
        switch parameter.kind {
        case .categorical(let declared):
            let seen = present.map { v -> String in if case .category(let s) = v { s } else { Self.text(v) } }
            let categories = declared + Set(seen).subtracting(declared).sorted()
            let step = 1 / Double(Swift.max(categories.count - 1, 1))
            let index = Dictionary(categories.enumerated().map { ($1, Double($0) * step) }, uniquingKeysWith: { a, _ in a })
            let band = Swift.min(0.08, step * 0.3)
            return Axis(name: parameter.name, caption: "categorical", position: { value, trial in
                guard let base = index[Self.text(value)] else { return nil }
                // Inwards at the ends of the axis, around the category elsewhere.
                let offset = Self.spread(trial)
                return base == 0 ? band * (offset + 0.5) : base >= 1 ? 1 - band * (offset + 0.5) : base + band * offset
            }, ticks: categories.map { (fraction: index[$0] ?? 0, label: $0) })
        case .log where numbers.count == present.count && numbers.allSatisfy { $0 > 0 }:
            return numericAxis(parameter.name, caption: "log", values: numbers, kind: .log)
        case .linear, .log:
            guard numbers.count == present.count else {
                // Mixed numbers and text: read as categories in order of appearance.
                return axis(for: ParameterInfo(name: parameter.name, kind: .categorical([])), trials: trials)
            }
            return numericAxis(parameter.name, caption: "linear", values: numbers, kind: .linear)
        }
    }

    /// A number in [−0.5, 0.5) for trial `n`: the golden-ratio sequence, evenly spread for any
    /// number of trials.
    static func spread(_ n: Int) -> Double {
        (Double(n) * 0.6180339887498949).truncatingRemainder(dividingBy: 1) - 0.5
    }

    static func text(_ value: ParameterValue) -> String {
        switch value {
        case .category(let s): s
        case .number(let x): NumberText.value(x)
        }
    }

    static func render(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let complete = study.trials.filter { $0.value?.isFinite == true }
        guard complete.count >= 2 else { return .failure(Skip("fewer than two trials have a result")) }
        let axes = study.parameters.compactMap { axis(for: $0, trials: complete) }
        guard !axes.isEmpty else { return .failure(Skip("no parameter took two different values")) }
        let values = complete.compactMap(\.value)
        let (kind, note) = c.metricScaleKind(values)
        let colorBar = ColorBar(label: study.metric, scale: Scale(covering: values, kind: kind), goal: study.goal)
        var metricAxis = numericAxis(study.metric, caption: study.goal == .min ? "min" : "max", values: values, kind: kind)
        metricAxis.position = { v, _ in if case .number(let x) = v, kind == .linear || x > 0 { colorBar.scale.fraction(x) } else { nil } }
        metricAxis.ticks = colorBar.scale.ticks(target: 6).map { (fraction: colorBar.scale.fraction($0), label: NumberText.tick($0)) }
        let all = axes + [metricAxis]

        var (doc, body) = c.page(title: "Parallel coordinates: \(axes.count) parameters and \(study.metric)",
                                 subtitle: c.studyLine + " · \(complete.count) trials with a result, coloured by \(study.metric)"
                                     + (note.map { " · \($0)" } ?? ""))
        let plot = Frame(x: body.x + 60, y: body.y + 52, width: body.width - Legend.width - 100, height: body.height - 90)
        let gap = plot.width / Double(Swift.max(all.count - 1, 1))
        func x(_ i: Int) -> Double { plot.x + Double(i) * gap }
        func y(_ fraction: Double) -> Double { plot.bottom - fraction * plot.height }

        let ordered = complete.sorted { study.goal.isBetter($1.value ?? 0, than: $0.value ?? 0) }
        for trial in ordered {
            guard let value = trial.value else { continue }
            var points: [(Double, Double)] = []
            for (i, a) in all.enumerated() {
                let v = i == all.count - 1 ? ParameterValue.number(value) : trial.config[a.name]
                if let v, let f = a.position(v, trial.number) { points.append((x(i), y(f))) }
            }
            doc.beginGroup(class: "series", label: "trial \(trial.number)")
            doc.path(points, stroke: colorBar.color(value), width: 1.5, opacity: Palette.lineOpacity(count: ordered.count))
            doc.endGroup()
        }
        doc.beginGroup(class: "axes")
        for (i, a) in all.enumerated() {
            doc.line(x(i), plot.y, x(i), plot.bottom, stroke: Palette.axis, width: 1.4)
            for t in a.ticks {
                doc.line(x(i) - 4, y(t.fraction), x(i), y(t.fraction), stroke: Palette.axis)
                doc.rect(x(i) - 7 - Double(t.label.count) * 6.3, y(t.fraction) - 8, Double(t.label.count) * 6.3 + 2, 14,
                         fill: "#ffffff", opacity: 0.8)
                doc.text(t.label, x: x(i) - 7, y: y(t.fraction) + 4, anchor: "end", size: 10.5, cssClass: "tick")
            }
            doc.text(Legend.shorten(a.name, to: 18), x: x(i), y: plot.y - 28, anchor: "middle", size: 12.5, weight: "bold",
                     cssClass: "axis-label")
            doc.text("(\(a.caption))", x: x(i), y: plot.y - 14, anchor: "middle", size: 10, fill: Palette.muted)
        }
        doc.endGroup()
        colorBar.draw(in: &doc, x: body.right - Legend.width + 40, y: body.y + 50, height: body.height - 140)
        return .success(Plot(name: "parallel-coordinates", title: "Parallel coordinates", svg: doc.text))
    }
}
