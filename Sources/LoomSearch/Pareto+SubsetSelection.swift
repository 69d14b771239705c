extension Pareto {
    /// Greedy hypervolume subset selection (Guerreiro, Fonseca & Paquete 2016), as Optuna 5's
    /// MOTPE breaks the tie on the front that its good group cuts: `count` points of `front`
    /// (losses), each step adding the point whose hypervolume gain over the points already
    /// chosen is largest. Returns indices into `front`, in the order chosen.
    ///
    /// **Reference point** (Optuna's `_get_reference_point`): per objective, the worst value `w`
    /// of `front` moved outwards by a tenth, `max(1.1·w, 0.9·w)`, and `10⁻¹²` where that is 0;
    /// every point is then strictly inside it.
    /// **Duplicates** count once; if there are fewer distinct points than `count`, every
    /// distinct point is taken, then duplicates by index. **Ties** go to the lexicographically
    /// smallest point (Optuna's `argmax` over `np.unique`'s order).
    /// **Cost.** A gain only shrinks as the chosen set grows (hypervolume is submodular), so a
    /// stale gain bounds the fresh one and a candidate is recomputed only while its bound can
    /// still win (Optuna's lazy update); each gain is one hypervolume of at most `count` points.
    public static func greedySubset(_ front: [[Double]], count: Int) -> [Int] {
        guard count < front.count else { return Array(front.indices) }
        guard count > 0 else { return [] }
        let byLosses = front.indices.sorted { front[$0] != front[$1] ? front[$0].lexicographicallyPrecedes(front[$1]) : $0 < $1 }
        var distinct: [Int] = []
        for i in byLosses where distinct.last.map({ front[$0] != front[i] }) ?? true { distinct.append(i) }
        if distinct.count <= count {
            let taken = Set(distinct)
            return distinct + front.indices.filter { !taken.contains($0) }.prefix(count - distinct.count)
        }
        let reference = front[0].indices.map { j -> Double in
            let worst = front.map { $0[j] }.max()!
            let r = max(1.1 * worst, 0.9 * worst)
            return r == 0 ? 1e-12 : r
        }
        func box(_ p: [Double]) -> Double { zip(reference, p).reduce(1) { $0 * ($1.0 - $1.1) } }
        var remaining = distinct
        var gains = distinct.map { box(front[$0]) }
        var chosen: [Int] = []
        while chosen.count < count {
            if !chosen.isEmpty {
                var best = -Double.infinity
                for position in remaining.indices.sorted(by: { gains[$0] != gains[$1] ? gains[$0] > gains[$1] : $0 < $1 }) {
                    guard gains[position] >= best else { break }
                    let p = front[remaining[position]]
                    let overlap = chosen.map { zip(front[$0], p).map { max($0, $1) } }
                    gains[position] = box(p) - hypervolume(overlap, reference: reference)
                    best = max(best, gains[position])
                }
            }
            var pick = 0
            for position in remaining.indices where gains[position] > gains[pick] { pick = position }
            chosen.append(remaining.remove(at: pick))
            gains.remove(at: pick)
        }
        return chosen
    }
}
