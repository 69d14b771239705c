import LoomWire
import Yams

/// One domain's arguments: `{loguniform: [0.001, 1.0]}`, `{randint: [5, 11]}`, `{choice: [16, 32]}`.
///
/// Every bound is checked here, with the message naming the bound (`low`, `high`, `q`, `sd`), so
/// a searcher never sees an empty or inverted range.
extension SpecParser {
    static func parseDomain(_ reader: SpecReader, _ key: String, _ node: Node, field: String) throws(SpecError) -> Domain {
        switch key {
        case "uniform", "quniform":
            let (values, nodes) = try numbers(reader, node, field, key == "uniform" ? ["low", "high"] : ["low", "high", "q"])
            try ordered(reader, node, field, values[0], values[1])
            return .uniform(low: values[0], high: values[1], q: try q(reader, values, nodes, field))
        case "loguniform", "qloguniform":
            let (values, nodes) = try numbers(reader, node, field, key == "loguniform" ? ["low", "high"] : ["low", "high", "q"])
            guard values[0] > 0 else {
                throw reader.error(nodes[0], field, "expected low > 0 (the scale is logarithmic), found \(formatNumber(values[0]))")
            }
            try ordered(reader, node, field, values[0], values[1])
            return .logUniform(low: values[0], high: values[1], q: try q(reader, values, nodes, field))
        case "randn", "qrandn":
            let (values, nodes) = try numbers(reader, node, field, key == "randn" ? ["mean", "sd"] : ["mean", "sd", "q"])
            guard values[1] > 0 else {
                throw reader.error(nodes[1], field, "expected sd > 0 (the standard deviation), found \(formatNumber(values[1]))")
            }
            return .normal(mean: values[0], sd: values[1], q: try q(reader, values, nodes, field))
        case "randint":
            let (values, _) = try integers(reader, node, field, ["low", "high"])
            guard values[1] > values[0] else {
                throw reader.error(node, field, "expected high > low (high is exclusive: randint [5, 11] draws 5 to 10), found low \(values[0]) and high \(values[1])")
            }
            return .randInt(low: values[0], high: values[1], q: nil)
        case "qrandint":
            let (values, nodes) = try integers(reader, node, field, ["low", "high", "q"])
            try ordered(reader, node, field, Double(values[0]), Double(values[1]))
            guard values[2] >= 1 else { throw reader.error(nodes[2], field, "expected q ≥ 1, found \(values[2])") }
            return .randInt(low: values[0], high: values[1], q: values[2])
        case "lograndint":
            let (values, nodes) = try integers(reader, node, field, ["low", "high"])
            guard values[0] >= 1 else {
                throw reader.error(nodes[0], field, "expected low ≥ 1 (the scale is logarithmic), found \(values[0])")
            }
            guard values[1] > values[0] else {
                throw reader.error(node, field, "expected high > low (high is exclusive), found low \(values[0]) and high \(values[1])")
            }
            return .logRandInt(low: values[0], high: values[1])
        case "choice":
            return .choice(try categories(reader, node, field))
        case "ordinal":
            return .ordinal(try categories(reader, node, field))
        case "grid_search", "grid":
            return .grid(try categories(reader, node, field))
        default:
            return .constant(try reader.json(node, field))
        }
    }

    /// The list `[a, b(, c)]` of finite numbers named by `names`.
    static func numbers(_ reader: SpecReader, _ node: Node, _ field: String,
                        _ names: [String]) throws(SpecError) -> ([Double], [Node]) {
        let nodes = try arguments(reader, node, field, names)
        var values: [Double] = []
        for (name, element) in zip(names, nodes) {
            values.append(try reader.number(element, field, expected: "a finite number for \(name)"))
        }
        return (values, nodes)
    }

    /// The list `[a, b(, c)]` of integers named by `names`.
    static func integers(_ reader: SpecReader, _ node: Node, _ field: String,
                         _ names: [String]) throws(SpecError) -> ([Int], [Node]) {
        let nodes = try arguments(reader, node, field, names)
        var values: [Int] = []
        for (name, element) in zip(names, nodes) {
            values.append(try reader.integer(element, field, expected: "an integer for \(name)"))
        }
        return (values, nodes)
    }

    static func arguments(_ reader: SpecReader, _ node: Node, _ field: String, _ names: [String]) throws(SpecError) -> [Node] {
        let form = "[\(names.joined(separator: ", "))]"
        guard case .sequence(let sequence) = node else {
            throw reader.error(node, field, "expected \(form), found \(reader.found(node))")
        }
        guard sequence.count == names.count else {
            throw reader.error(node, field, "expected \(form), found a list of \(sequence.count) value\(sequence.count == 1 ? "" : "s")")
        }
        return Array(sequence)
    }

    static func ordered(_ reader: SpecReader, _ node: Node, _ field: String, _ low: Double, _ high: Double) throws(SpecError) {
        guard low < high else {
            throw reader.error(node, field, "expected low < high, found low \(formatNumber(low)) and high \(formatNumber(high))")
        }
    }

    /// The optional third argument `q`, positive.
    static func q(_ reader: SpecReader, _ values: [Double], _ nodes: [Node], _ field: String) throws(SpecError) -> Double? {
        guard values.count == 3 else { return nil }
        guard values[2] > 0 else { throw reader.error(nodes[2], field, "expected q > 0, found \(formatNumber(values[2]))") }
        return values[2]
    }

    /// The values of a choice, ordinal or grid: at least one, none repeated.
    static func categories(_ reader: SpecReader, _ node: Node, _ field: String) throws(SpecError) -> [JSONValue] {
        let nodes = try reader.sequence(node, field, expected: "a list of values")
        guard !nodes.isEmpty else { throw reader.error(node, field, "expected at least one value, found an empty list") }
        var values: [JSONValue] = []
        for (i, element) in nodes.enumerated() {
            let value = try reader.json(element, "\(field)[\(i)]")
            if let first = values.firstIndex(of: value) {
                throw reader.error(element, field, "duplicate value \(formatValue(value)) (positions \(first) and \(i)); each value must appear once")
            }
            values.append(value)
        }
        return values
    }
}
