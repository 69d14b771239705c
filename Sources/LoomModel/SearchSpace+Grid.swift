import LoomWire

/// The grid a `grid` searcher walks, with Ray Tune's semantics.
///
/// Only `grid_search` parameters are enumerated: the grid is the product of their values.
/// `choice`, `ordinal` and numeric parameters are sampled afresh for every point. A parameter's
/// value is *determined* by a grid point when its own activity is and it is a grid parameter or a
/// constant; determined grid parameters are enumerated, following parameter order and branching
/// on each active one, so a combination never holds a grid parameter its conditions switch off
/// (a conditional one adds branches, not a product). A `grid_search` parameter whose condition
/// names a sampled parameter is sampled like a `choice`. Constants take part in the walk (a
/// condition may name one) but are left out of the points.
extension SearchSpace {
    /// The grid points and the names of the parameters they fix; nil when there are more than
    /// `limit` points (the walk stops there, so an absurd grid costs nothing).
    public func gridPoints(limit: Int = .max) -> (points: [Config], enumerated: Set<String>)? {
        var determined: Set<String> = []
        var walked: [Parameter] = []
        for parameter in parameters {
            if let condition = parameter.condition, !determined.contains(condition.parent) { continue }
            switch parameter.domain {
            case .grid, .constant:
                determined.insert(parameter.name)
                walked.append(parameter)
            default:
                break
            }
        }
        let enumerated = Set(walked.filter { if case .grid = $0.domain { true } else { false } }.map(\.name))
        var points: [Config] = []
        /// Returns false once there are more than `limit` points.
        func walk(_ i: Int, _ partial: Config) -> Bool {
            guard i < walked.count else {
                points.append(partial.filter { enumerated.contains($0.key) })
                return points.count <= limit
            }
            let parameter = walked[i]
            guard isActive(parameter, in: partial) else { return walk(i + 1, partial) }
            for value in parameter.domain.categories ?? [] {
                var next = partial
                next[parameter.name] = value
                guard walk(i + 1, next) else { return false }
            }
            return true
        }
        return walk(0, [:]) ? (points, enumerated) : nil
    }
}
