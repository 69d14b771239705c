/// The size of the grid the `grid` searcher walks (`SearchSpace.gridPoints`), to refuse absurd
/// grids when the spec is read.
extension SpecParser {
    /// The number of grid points of `space`, or nil when there are more than `limit`.
    static func gridSize(of space: SearchSpace, limit: Int = maxGridPoints) -> Int? {
        space.gridPoints(limit: limit)?.points.count
    }
}
