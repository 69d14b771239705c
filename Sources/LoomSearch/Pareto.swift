import LoomModel

/// Non-dominated sorting, crowding distance and hypervolume: what NSGA-II, MO-ASHA and the
/// results (`best`, plots, benchmarks) share. Pure functions on loss vectors (lower is better on
/// every objective: `Pareto.losses(_:modes:)` turns maximised values around).
///
/// **Constraint-dominance** (Deb et al. 2002, as Optuna applies it): a feasible point dominates
/// every infeasible one; of two infeasible points the one with the smaller violation dominates;
/// two feasible points compare by Pareto dominance.
public enum Pareto {
    /// One point to rank.
    public struct Point: Equatable, Sendable {
        /// Lower is better on every coordinate.
        public var losses: [Double]
        public var feasible: Bool
        /// Sum of positive constraint values (see `ObjectiveValues`); used when infeasible.
        public var violation: Double

        public init(losses: [Double], feasible: Bool = true, violation: Double = 0) {
            self.losses = losses
            self.feasible = feasible
            self.violation = violation
        }
    }

    /// Values oriented so that lower is better (`max` objectives negated).
    public static func losses(_ values: [Double], modes: [Mode]) -> [Double] {
        zip(values, modes).map { $1 == .min ? $0 : -$0 }
    }

    /// Whether `a` Pareto-dominates `b`: no worse anywhere, better somewhere.
    public static func dominates(_ a: [Double], _ b: [Double]) -> Bool {
        var better = false
        for (x, y) in zip(a, b) {
            if x > y { return false }
            if x < y { better = true }
        }
        return better
    }

    /// Constraint-dominance (see the type's documentation).
    public static func constraintDominates(_ a: Point, _ b: Point) -> Bool {
        switch (a.feasible, b.feasible) {
        case (true, false): true
        case (false, true): false
        case (false, false): a.violation < b.violation
        case (true, true): dominates(a.losses, b.losses)
        }
    }

    /// The front rank of each point, 0 for the non-dominated: feasible points by fast
    /// non-dominated sorting (Deb et al. 2002), then infeasible ones after the last feasible
    /// front, one rank per distinct violation, smaller first.
    public static func ranks(_ points: [Point]) -> [Int] {
        var ranks = [Int](repeating: 0, count: points.count)
        let feasible = points.indices.filter { points[$0].feasible }
        var next = 0
        if !feasible.isEmpty {
            var dominatedBy = [Int](repeating: 0, count: feasible.count)
            var dominating = [[Int]](repeating: [], count: feasible.count)
            for i in feasible.indices {
                for j in feasible.indices where j > i {
                    let (a, b) = (points[feasible[i]].losses, points[feasible[j]].losses)
                    if dominates(a, b) {
                        dominating[i].append(j)
                        dominatedBy[j] += 1
                    } else if dominates(b, a) {
                        dominating[j].append(i)
                        dominatedBy[i] += 1
                    }
                }
            }
            var front = feasible.indices.filter { dominatedBy[$0] == 0 }
            while !front.isEmpty {
                var following: [Int] = []
                for i in front {
                    ranks[feasible[i]] = next
                    for j in dominating[i] {
                        dominatedBy[j] -= 1
                        if dominatedBy[j] == 0 { following.append(j) }
                    }
                }
                front = following.sorted()
                next += 1
            }
        }
        let infeasible = points.indices.filter { !points[$0].feasible }.sorted { points[$0].violation < points[$1].violation }
        var previous: Double?
        for i in infeasible {
            if let previous, points[i].violation > previous { next += 1 }
            ranks[i] = next
            previous = points[i].violation
        }
        return ranks
    }

    /// The crowding distance of each point of one front (Deb et al. 2002): the sum over
    /// objectives of the normalised gap between its neighbours; the extremes get infinity.
    public static func crowdingDistances(_ front: [[Double]]) -> [Double] {
        let n = front.count
        guard n > 2 else { return [Double](repeating: .infinity, count: n) }
        var distances = [Double](repeating: 0, count: n)
        for m in front[0].indices {
            let order = front.indices.sorted { front[$0][m] < front[$1][m] || (front[$0][m] == front[$1][m] && $0 < $1) }
            let low = front[order[0]][m], high = front[order[n - 1]][m]
            distances[order[0]] = .infinity
            distances[order[n - 1]] = .infinity
            guard high > low else { continue }
            for k in 1..<(n - 1) {
                distances[order[k]] += (front[order[k + 1]][m] - front[order[k - 1]][m]) / (high - low)
            }
        }
        return distances
    }

    /// The hypervolume dominated by `points` (losses) and bounded by `reference`: exact, by
    /// slicing along the last objective down to a 2-D sweep. Points not strictly better than the
    /// reference on every objective add nothing. O(n^(m−1) log n) for m objectives: meant for the
    /// fronts of studies (hundreds of points, 2 to 4 objectives).
    public static func hypervolume(_ points: [[Double]], reference: [Double]) -> Double {
        let inside = points.filter { p in zip(p, reference).allSatisfy { $0 < $1 } }
        return volume(inside, reference: reference, dimensions: reference.count)
    }

    private static func volume(_ points: [[Double]], reference: [Double], dimensions m: Int) -> Double {
        guard !points.isEmpty else { return 0 }
        if m == 1 { return reference[0] - points.map { $0[0] }.min()! }
        if m == 2 {
            let sorted = points.sorted { $0[0] < $1[0] || ($0[0] == $1[0] && $0[1] < $1[1]) }
            var area = 0.0
            var bestY = reference[1]
            for p in sorted where p[1] < bestY {
                area += (reference[0] - p[0]) * (bestY - p[1])
                bestY = p[1]
            }
            return area
        }
        // Slices between consecutive values of the last objective: each slab holds the points at
        // or below its lower edge, projected on the first m − 1 objectives.
        let sorted = points.sorted { $0[m - 1] < $1[m - 1] }
        var total = 0.0
        for (i, p) in sorted.enumerated() {
            let upper = i + 1 < sorted.count ? sorted[i + 1][m - 1] : reference[m - 1]
            let depth = upper - p[m - 1]
            guard depth > 0 else { continue }
            let slab = sorted[...i].map { Array($0.prefix(m - 1)) }
            total += depth * volume(nonDominated(slab), reference: reference, dimensions: m - 1)
        }
        return total
    }

    /// The points no other point dominates (duplicates kept once).
    public static func nonDominated(_ points: [[Double]]) -> [[Double]] {
        var front: [[Double]] = []
        for p in points where !front.contains(p) && !points.contains(where: { dominates($0, p) }) { front.append(p) }
        return front
    }
}
