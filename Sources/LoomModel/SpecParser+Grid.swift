import LoomWire

/// The size of the grid the `grid` searcher walks, to refuse absurd grids when the spec is read.
///
/// **Semantics (Ray Tune's, as `LoomSearch.GridSearcher` implements them).** Only `grid_search`
/// parameters are enumerated: the grid is the product of their values. `choice`, `ordinal` and
/// numeric parameters are sampled afresh for every point. A `grid_search` parameter is
/// enumerated when its activity is decided by grid or constant parameters alone, and then only in
/// the combinations where it is active (so a conditional one adds branches, not a product); one
/// whose condition names a sampled parameter is sampled like a `choice`.
///
/// The count mirrors `GridSearcher.enumerate` (LoomSearch), which LoomModel cannot import:
/// dependencies point inward. `gridExampleCrossesSixPointsTwice` and the conditional grid tests
/// pin the numbers both must agree on.
extension SpecParser {
    /// The number of grid points of `space`, or nil when there are more than `limit`.
    static func gridSize(of space: SearchSpace, limit: Int = maxGridPoints) -> Int? {
        var determined: Set<String> = []
        var walked: [Parameter] = []
        for parameter in space.parameters {
            if let condition = parameter.condition, !determined.contains(condition.parent) { continue }
            switch parameter.domain {
            case .grid, .constant:
                determined.insert(parameter.name)
                walked.append(parameter)
            default:
                break
            }
        }
        var count = 0
        /// Returns false once the count passes `limit`.
        func walk(_ i: Int, _ partial: Config) -> Bool {
            guard i < walked.count else {
                count += 1
                return count <= limit
            }
            let parameter = walked[i]
            guard space.isActive(parameter, in: partial) else { return walk(i + 1, partial) }
            for value in parameter.domain.categories ?? [] {
                var next = partial
                next[parameter.name] = value
                guard walk(i + 1, next) else { return false }
            }
            return true
        }
        return walk(0, [:]) ? count : nil
    }
}
