import LoomModel

/// Grid search with Ray Tune's semantics: every combination of the `grid` parameters' values
/// (`grid_search`), each handed out `repeats` times (Ray's `num_samples`), then `.exhausted`.
///
/// Only `grid` domains are enumerated; `choice` and `ordinal` are sampled, like every numeric
/// domain, afresh for each handed-out point, as in Ray Tune.
///
/// **Order.** Grid points are enumerated in parameter order with the first grid parameter
/// varying slowest (like `itertools.product`); the whole grid is handed out once before any point
/// is repeated. A point's sampled parameters come from stream `repetition · gridSize + point`.
///
/// **Conditions.** A grid parameter whose condition names a grid parameter (or a constant) is
/// enumerated only in the combinations where it is active and is absent from the others, so the
/// grid holds no combination its conditions rule out. A grid parameter whose activity depends on
/// a *sampled* parameter cannot be enumerated ahead of the draw and is sampled like a `choice`.
///
/// **Ledger.** Each grid point is handed out at most `repeats` times: the searcher counts its
/// own proposals per point (and, after a restart, the history given to `restore(history:)`).
/// Pending configs only reorder: a point is handed out after the others while pending configs
/// carry its grid values more often than it has been proposed (a warm start equal to a grid
/// point), so the two do not run at once when there is other work. Such a warm start does not
/// use up a repeat, as Ray Tune runs `points_to_evaluate` on top of the grid, and `.exhausted`
/// comes only when every point has been proposed `repeats` times.
public struct GridSearcher: Searcher {
    public let space: SearchSpace
    public let seed: UInt64
    /// Times each grid point is handed out, at least 1.
    public let repeats: Int
    /// The grid points: the values of the grid parameters active in each combination.
    public let points: [Config]
    /// Names of the grid parameters that are enumerated.
    private let enumerated: Set<String>
    private let index: [Config: Int]
    /// Times each point has been proposed so far.
    private var used: [Int]

    /// The number of grid points (combinations), before repeats.
    public var gridSize: Int { points.count }

    /// Suggestions left before `.exhausted`.
    public var remaining: Int { used.reduce(0) { $0 + max(0, repeats - $1) } }

    /// - Parameter repeats: times each grid point is handed out; values below 1 count as 1.
    public init(space: SearchSpace, seed: UInt64, repeats: Int = 1) {
        self.space = space
        self.seed = seed
        self.repeats = max(1, repeats)
        let grid = space.gridPoints() ?? (points: [], enumerated: [])
        points = grid.points
        enumerated = grid.enumerated
        index = Dictionary(grid.points.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        used = Array(repeating: 0, count: grid.points.count)
    }

    public mutating func suggest(pending: [Config]) -> Suggestion {
        guard let point = nextPoint(pending: pending) else { return .exhausted }
        let stream = used[point] * gridSize + point
        var random = Xoshiro256StarStar(seed: seed, stream: SearchStream.suggestion(stream))
        let config = LoomSearch.config(from: randomPoint(space.parameters.count, &random), in: space,
                                       fixed: points[point])
        used[point] += 1
        return .config(config)
    }

    public mutating func observe(config: Config, value: Double?, state: TrialState) {}

    public mutating func restore(history: [TrialOutcome]) {
        used = Array(repeating: 0, count: gridSize)
        for trial in history {
            if let point = point(of: trial.config) { used[point] += 1 }
        }
    }

    /// The grid point whose grid values `config` carries, if any.
    public func point(of config: Config) -> Int? {
        index[config.filter { enumerated.contains($0.key) }]
    }

    /// Among the points with repeats left, the least used, ties to the earliest (so the grid is
    /// handed out whole before it repeats), where a point counts as used at least as often as
    /// pending configs carry it.
    private func nextPoint(pending: [Config]) -> Int? {
        var pendingUses = [Int](repeating: 0, count: gridSize)
        for config in pending {
            if let point = point(of: config) { pendingUses[point] += 1 }
        }
        let uses = used.indices.map { max(used[$0], pendingUses[$0]) }
        return used.indices.filter { used[$0] < repeats }.min { uses[$0] < uses[$1] }
    }
}
