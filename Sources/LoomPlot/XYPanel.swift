import Foundation

/// A rectangle on the page, in pixels (y grows downwards).
struct Frame: Equatable {
    var x: Double, y: Double, width: Double, height: Double
    var right: Double { x + width }
    var bottom: Double { y + height }
}

/// One series of an XY panel.
struct Series {
    enum Style {
        /// Straight segments between points.
        case line
        /// Holds each value until the next point (best so far, counts over time).
        case step
        /// Markers only.
        case points(radius: Double)
    }

    var name: String
    var color: String
    var style: Style
    var points: [(x: Double, y: Double)]
    var width: Double = 2
    var opacity: Double = 1
    var dash: String? = nil
    /// Shade the area under the line down to the x axis.
    var filled = false
    /// Extend the last value of a step series to this x.
    var extendTo: Double? = nil
    /// Whether it gets a legend entry.
    var inLegend = true
}

/// A continuous colour legend: the metric mapped onto viridis.
struct ColorBar {
    var label: String
    var scale: Scale
    /// Which end is better: marked in the label, and the better end is drawn bright.
    var goal: Goal

    /// The colour of `value`: bright yellow for the best values, dark purple for the worst.
    func color(_ value: Double) -> String {
        let t = scale.fraction(value)
        return Palette.sequential(goal == .min ? 1 - t : t)
    }
}

/// An XY plot: grid, axes with nice ticks, axis labels, series, and an optional legend or colour
/// bar to its right. Values a log axis cannot show (≤ 0) are left out of the drawing.
struct XYPanel {
    var title: String?
    var xLabel: String
    var yLabel: String
    var xScale: Scale
    var yScale: Scale
    var series: [Series] = []
    /// Integer ticks only (trial numbers, counts).
    var integerX = false
    var integerY = false
    /// Small text in the top-left corner of the plot area (e.g. a correlation coefficient).
    var note: String? = nil

    /// Room left of, below and above the plot area for ticks and labels.
    static let margins = (left: 72.0, bottom: 48.0, top: 30.0, right: 16.0)

    /// Draws the panel inside `frame`.
    func draw(in doc: inout SVGDocument, frame: Frame) {
        let plot = Frame(x: frame.x + Self.margins.left, y: frame.y + Self.margins.top,
                         width: frame.width - Self.margins.left - Self.margins.right,
                         height: frame.height - Self.margins.top - Self.margins.bottom)
        func px(_ x: Double) -> Double { plot.x + xScale.fraction(x) * plot.width }
        func py(_ y: Double) -> Double { plot.bottom - yScale.fraction(y) * plot.height }

        doc.beginGroup(class: "axes")
        doc.rect(plot.x, plot.y, plot.width, plot.height, fill: "#fbfbfb")
        let xTicks = ticks(xScale, integer: integerX, target: Swift.max(Int(plot.width / 90), 4))
        let yTicks = ticks(yScale, integer: integerY, target: Swift.max(Int(plot.height / 55), 4))
        for t in xTicks {
            doc.line(px(t), plot.y, px(t), plot.bottom, stroke: Palette.grid)
            doc.line(px(t), plot.bottom, px(t), plot.bottom + 5, stroke: Palette.axis)
            doc.text(NumberText.tick(t), x: px(t), y: plot.bottom + 18, anchor: "middle", size: 11, cssClass: "tick")
        }
        for t in yTicks {
            doc.line(plot.x, py(t), plot.right, py(t), stroke: Palette.grid)
            doc.line(plot.x - 5, py(t), plot.x, py(t), stroke: Palette.axis)
            doc.text(NumberText.tick(t), x: plot.x - 8, y: py(t) + 4, anchor: "end", size: 11, cssClass: "tick")
        }
        doc.line(plot.x, plot.bottom, plot.right, plot.bottom, stroke: Palette.axis, width: 1.2)
        doc.line(plot.x, plot.y, plot.x, plot.bottom, stroke: Palette.axis, width: 1.2)
        doc.text(xLabel + (xScale.kind == .log ? " (log scale)" : ""), x: plot.x + plot.width / 2, y: plot.bottom + 38,
                 anchor: "middle", size: 12.5, cssClass: "axis-label")
        let yText = yLabel + (yScale.kind == .log ? " (log scale)" : "")
        doc.text(yText, x: frame.x + 16, y: plot.y + plot.height / 2, anchor: "middle", size: 12.5, rotate: -90,
                 cssClass: "axis-label")
        if let title {
            doc.text(title, x: plot.x, y: frame.y + 18, size: 13, weight: "bold")
        }
        doc.endGroup()

        for s in series {
            doc.beginGroup(class: "series", label: s.name)
            let visible = s.points.filter {
                $0.x.isFinite && $0.y.isFinite && (xScale.kind == .linear || $0.x > 0) && (yScale.kind == .linear || $0.y > 0)
            }
            switch s.style {
            case .points(let radius):
                for p in visible {
                    doc.circle(px(p.x), py(p.y), r: radius, fill: s.color, opacity: s.opacity, stroke: "#ffffff")
                }
            case .line:
                doc.path(visible.map { (px($0.x), py($0.y)) }, stroke: s.color, width: s.width, opacity: s.opacity, dash: s.dash,
                         fill: s.filled ? s.color : nil, baseline: plot.bottom)
            case .step:
                var corners: [(Double, Double)] = []
                for (i, p) in visible.enumerated() {
                    if i > 0 { corners.append((px(p.x), py(visible[i - 1].y))) }
                    corners.append((px(p.x), py(p.y)))
                }
                if let end = s.extendTo, let last = visible.last, end > last.x { corners.append((px(end), py(last.y))) }
                doc.path(corners, stroke: s.color, width: s.width, opacity: s.opacity, dash: s.dash,
                         fill: s.filled ? s.color : nil, baseline: plot.bottom)
            }
            doc.endGroup()
        }
        if let note {
            doc.text(note, x: plot.x + 8, y: plot.y + 16, size: 11.5, weight: "bold", fill: Palette.text, cssClass: "note")
        }
    }

    private func ticks(_ scale: Scale, integer: Bool, target: Int) -> [Double] {
        let all = scale.ticks(target: Swift.max(target, 3))
        guard integer, scale.kind == .linear else { return all }
        let whole = all.filter { $0.rounded() == $0 }
        return whole.count >= 2 ? whole : all
    }
}

/// The legend of named series, listed top to bottom.
struct Legend {
    var entries: [(name: String, color: String, marker: Bool, dash: String?)]
    var title: String? = nil

    static let width = 190.0

    init(series: [Series], title: String? = nil) {
        entries = series.filter(\.inLegend).map { s in
            let marker = if case .points = s.style { true } else { false }
            return (s.name, s.color, marker, s.dash)
        }
        self.title = title
    }

    func draw(in doc: inout SVGDocument, x: Double, y: Double) {
        guard !entries.isEmpty else { return }
        doc.beginGroup(class: "legend")
        var top = y
        if let title {
            doc.text(title, x: x, y: top + 10, size: 11.5, weight: "bold")
            top += 20
        }
        for (i, e) in entries.enumerated() {
            let cy = top + Double(i) * 20 + 6
            if e.marker {
                doc.circle(x + 12, cy, r: 4.5, fill: e.color)
            } else {
                doc.line(x, cy, x + 24, cy, stroke: e.color, width: 3, dash: e.dash)
            }
            doc.text(Self.shorten(e.name), x: x + 32, y: cy + 4, size: 11.5)
        }
        doc.endGroup()
    }

    /// Names longer than the legend is wide are cut with an ellipsis.
    static func shorten(_ name: String, to limit: Int = 24) -> String {
        name.count <= limit ? name : String(name.prefix(limit - 1)) + "…"
    }
}

extension ColorBar {
    /// A vertical gradient with ticks; `height` pixels tall.
    func draw(in doc: inout SVGDocument, x: Double, y: Double, height: Double) {
        doc.beginGroup(class: "colorbar")
        doc.text(label, x: x, y: y - 10, size: 11.5, weight: "bold")
        let steps = 48
        for i in 0..<steps {
            let t0 = Double(i) / Double(steps)
            let value = scale.kind == .log
                ? pow(10, log10(scale.low) + (1 - t0 - 0.5 / Double(steps)) * (log10(scale.high) - log10(scale.low)))
                : scale.low + (1 - t0 - 0.5 / Double(steps)) * (scale.high - scale.low)
            doc.rect(x, y + t0 * height, 16, height / Double(steps) + 0.5, fill: color(value))
        }
        doc.rect(x, y, 16, height, fill: "none", stroke: Palette.axis)
        for t in scale.ticks(target: 5) {
            let ty = y + (1 - scale.fraction(t)) * height
            doc.line(x + 16, ty, x + 20, ty, stroke: Palette.axis)
            doc.text(NumberText.tick(t), x: x + 23, y: ty + 4, size: 10.5)
        }
        doc.text(goal == .min ? "bright = lower (better)" : "bright = higher (better)", x: x, y: y + height + 18, size: 10,
                 fill: Palette.muted)
        doc.endGroup()
    }
}
