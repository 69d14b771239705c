import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import LoomPlot
import Testing

/// What a test reads out of an SVG document: it must parse as XML, and its tagged groups and
/// texts are counted.
final class SVGInspection: NSObject, XMLParserDelegate {
    private(set) var root: String?
    /// `class` attribute → how many `<g>` elements carry it.
    private(set) var groups: [String: Int] = [:]
    /// `data-name` of each series group, in order.
    private(set) var seriesNames: [String] = []
    /// Text content by the `class` of its `<text>` element (`title`, `axis-label`, `tick`, …).
    private(set) var texts: [String: [String]] = [:]
    private(set) var allText: [String] = []
    private var currentTextClass: String?
    private var buffer = ""

    /// Parses `svg`; records an issue (and returns nil) when it is not well-formed XML.
    static func parse(_ svg: String, sourceLocation: SourceLocation = #_sourceLocation) -> SVGInspection? {
        let inspection = SVGInspection()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = inspection
        guard parser.parse() else {
            Issue.record("not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)",
                         sourceLocation: sourceLocation)
            return nil
        }
        return inspection
    }

    var seriesCount: Int { groups["series"] ?? 0 }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        if name == "g", let cls = attributes["class"] {
            groups[cls, default: 0] += 1
            if cls == "series" { seriesNames.append(attributes["data-name"] ?? "") }
        }
        if name == "text" {
            currentTextClass = attributes["class"] ?? ""
            buffer = ""
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if currentTextClass != nil { buffer += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text", let cls = currentTextClass {
            texts[cls, default: []].append(buffer)
            allText.append(buffer)
            currentTextClass = nil
        }
    }
}
