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
        let w = svgNumber(width), h = svgNumber(height)
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
        body.append("<line x1=\"\(svgNumber(x1))\" y1=\"\(svgNumber(y1))\" x2=\"\(svgNumber(x2))\" y2=\"\(svgNumber(y2))\" stroke=\"\(stroke)\" "
            + "stroke-width=\"\(svgNumber(width))\"" + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, stroke: String? = nil,
                       opacity: Double? = nil) {
        body.append("<rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(Swift.max(w, 0)))\" height=\"\(svgNumber(Swift.max(h, 0)))\" "
            + "fill=\"\(fill)\"" + (stroke.map { " stroke=\"\($0)\"" } ?? "")
            + (opacity.map { " fill-opacity=\"\(svgNumber($0))\"" } ?? "") + "/>")
    }

    mutating func circle(_ x: Double, _ y: Double, r: Double, fill: String, opacity: Double = 1, stroke: String? = nil) {
        body.append("<circle cx=\"\(svgNumber(x))\" cy=\"\(svgNumber(y))\" r=\"\(svgNumber(r))\" fill=\"\(fill)\""
            + (opacity < 1 ? " fill-opacity=\"\(svgNumber(opacity))\"" : "")
            + (stroke.map { " stroke=\"\($0)\" stroke-width=\"0.8\"" } ?? "") + "/>")
    }

    /// An open polyline through `points`; `fill` closes it down to `baseline` as an area.
    mutating func path(_ points: [(Double, Double)], stroke: String, width: Double = 1.8, opacity: Double = 1,
                       dash: String? = nil, fill: String? = nil, baseline: Double? = nil) {
        guard let first = points.first else { return }
        var d = "M\(svgNumber(first.0)),\(svgNumber(first.1))"
        for p in points.dropFirst() { d += " L\(svgNumber(p.0)),\(svgNumber(p.1))" }
        if let fill, let baseline, let last = points.last {
            let area = d + " L\(svgNumber(last.0)),\(svgNumber(baseline)) L\(svgNumber(first.0)),\(svgNumber(baseline)) Z"
            body.append("<path d=\"\(area)\" fill=\"\(fill)\" fill-opacity=\"0.18\" stroke=\"none\"/>")
        }
        body.append("<path d=\"\(d)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(svgNumber(width))\" "
            + "stroke-linejoin=\"round\" stroke-linecap=\"round\""
            + (opacity < 1 ? " stroke-opacity=\"\(svgNumber(opacity))\"" : "")
            + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
    }

    /// Text; `anchor` is start, middle or end; `rotate` turns it about its anchor point.
    mutating func text(_ string: String, x: Double, y: Double, anchor: String = "start", size: Double = 12,
                       weight: String? = nil, fill: String = "#222222", rotate: Double? = nil, cssClass: String? = nil) {
        body.append("<text x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" text-anchor=\"\(anchor)\" font-size=\"\(svgNumber(size))\" fill=\"\(fill)\""
            + (weight.map { " font-weight=\"\($0)\"" } ?? "")
            + (rotate.map { " transform=\"rotate(\(svgNumber($0)) \(svgNumber(x)) \(svgNumber(y)))\"" } ?? "")
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

/// A coordinate or length in the SVG text: two decimals at most.
func svgNumber(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    let rounded = (value * 100).rounded() / 100
    if rounded == rounded.rounded() { return String(Int(rounded)) }
    return String(format: "%.2f", rounded)
}
