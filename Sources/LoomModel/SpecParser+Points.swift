import LoomWire
import Yams

extension SpecParser {
    /// `points_to_evaluate`: configs evaluated first, in order. Each is complete once the
    /// space's constants are filled in, and valid in the space (`SearchSpace.validate`).
    static func parsePoints(_ reader: SpecReader, _ node: Node?, space: SearchSpace) throws(SpecError) -> [Config] {
        guard let node else { return [] }
        let items = try reader.sequence(node, "points_to_evaluate", expected: "a list of configs such as - {lr: 0.1, epochs: 10}")
        var points: [Config] = []
        for (i, item) in items.enumerated() {
            let field = "points_to_evaluate[\(i)]"
            let entries = try reader.entries(item, field, expected: "a config: a mapping of parameter names to values")
            var config: Config = [:]
            for entry in entries.list {
                config[entry.key] = try reader.json(entry.value, "\(field).\(entry.key)")
            }
            config = space.completingConstants(config)
            if let violation = space.violation(in: config) {
                let entry = entries[violation.parameter]
                var message = violation.description
                var at: Node? = item
                switch violation {
                case .missing:
                    break
                case .outsideDomain(let name, _):
                    at = entry?.value
                    if let domain = space[name]?.domain { message += " \(domain.specDescription)" }
                case .inactive(let name):
                    at = entry?.keyNode
                    if let condition = space[name]?.condition {
                        message += " (it is active only when \(condition.parent) is \(condition.values.map(formatValue).joined(separator: " or ")))"
                    }
                case .unknown(let name):
                    at = entry?.keyNode
                    message += "; the space has \(space.parameters.map(\.name).joined(separator: ", "))"
                        + Spelling.hint(for: name, among: space.parameters.map(\.name))
                }
                throw reader.error(at ?? item, "\(field).\(violation.parameter)", message)
            }
            points.append(config)
        }
        return points
    }
}
