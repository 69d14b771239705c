import Foundation

/// Builds one SVG document as text. Every string that reaches the output is escaped here, so a
/// parameter or study name cannot break the XML.
///
/// Series of data are wrapped in `<g class="series" data-name="…">` (one group per series):
/// readers and tests find them by that class.
public struct SVGDocument: Sendable {
    public let width: Double
    public let height: Double
    private var body: [String] = []

    /// The font stack of every label (DejaVu Sans is what Debian's rsvg-convert finds).
    static let font = "DejaVu Sans, Helvetica, Arial, sans-serif"

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// The complete document.
    public var text: String {
        let w = fmt(width), h = fmt(height)
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)" \
            font-family="\(Self.font)" font-size="12">
            <rect x="0" y="0" width="\(w)" height="\(h)" fill="#ffffff"/>
            \(body.joined(separator: "\n"))
            </svg>

            """
    }

    /// Appends raw markup built by the other methods.
    mutating func append(_ element: String) { body.append(element) }

    mutating func beginGroup(class name: String, label: String? = nil, extra: String = "") {
        body.append("<g class=\"\(name)\"" + (label.map { " data-name=\"\(Self.escape($0))\"" } ?? "") + extra + ">")
    }

    mutating func endGroup() { body.append("</g>") }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
                       dash: String? = nil) {
        body.append("<line x1=\"\(fmt(x1))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(x2))\" y2=\"\(fmt(y2))\" stroke=\"\(stroke)\" "
            + "stroke-width=\"\(fmt(width))\"" + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, stroke: String? = nil,
                       opacity: Double? = nil) {
        body.append("<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(Swift.max(w, 0)))\" height=\"\(fmt(Swift.max(h, 0)))\" "
            + "fill=\"\(fill)\"" + (stroke.map { " stroke=\"\($0)\"" } ?? "")
            + (opacity.map { " fill-opacity=\"\(fmt($0))\"" } ?? "") + "/>")
    }

    mutating func circle(_ x: Double, _ y: Double, r: Double, fill: String, opacity: Double = 1, stroke: String? = nil) {
        body.append("<circle cx=\"\(fmt(x))\" cy=\"\(fmt(y))\" r=\"\(fmt(r))\" fill=\"\(fill)\""
            + (opacity < 1 ? " fill-opacity=\"\(fmt(opacity))\"" : "")
            + (stroke.map { " stroke=\"\($0)\" stroke-width=\"0.8\"" } ?? "") + "/>")
    }

    /// An open polyline through `points`; `fill` closes it down to `baseline` as an area.
    mutating func path(_ points: [(Double, Double)], stroke: String, width: Double = 1.8, opacity: Double = 1,
                       dash: String? = nil, fill: String? = nil, baseline: Double? = nil) {
        guard let first = points.first else { return }
        var d = "M\(fmt(first.0)),\(fmt(first.1))"
        for p in points.dropFirst() { d += " L\(fmt(p.0)),\(fmt(p.1))" }
        if let fill, let baseline, let last = points.last {
            let area = d + " L\(fmt(last.0)),\(fmt(baseline)) L\(fmt(first.0)),\(fmt(baseline)) Z"
            body.append("<path d=\"\(area)\" fill=\"\(fill)\" fill-opacity=\"0.18\" stroke=\"none\"/>")
        }
        body.append("<path d=\"\(d)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(fmt(width))\" "
            + "stroke-linejoin=\"round\" stroke-linecap=\"round\""
            + (opacity < 1 ? " stroke-opacity=\"\(fmt(opacity))\"" : "")
            + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
    }

    /// Text; `anchor` is start, middle or end; `rotate` turns it about its anchor point.
    mutating func text(_ string: String, x: Double, y: Double, anchor: String = "start", size: Double = 12,
                       weight: String? = nil, fill: String = "#222222", rotate: Double? = nil, cssClass: String? = nil) {
        body.append("<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" text-anchor=\"\(anchor)\" font-size=\"\(fmt(size))\" fill=\"\(fill)\""
            + (weight.map { " font-weight=\"\($0)\"" } ?? "")
            + (rotate.map { " transform=\"rotate(\(fmt($0)) \(fmt(x)) \(fmt(y)))\"" } ?? "")
            + (cssClass.map { " class=\"\($0)\"" } ?? "")
            + ">\(Self.escape(string))</text>")
    }

    /// XML-escapes text and attribute values.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}

/// A coordinate with two decimals at most.
func fmt(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    let rounded = (value * 100).rounded() / 100
    if rounded == rounded.rounded() { return String(Int(rounded)) }
    return String(format: "%.2f", rounded)
}
