import Foundation
import LoomModel

/// GP-BO with several objectives: ParEGO (Knowles 2006), a fresh random scalarisation at every
/// proposal, as BoTorch's `qParEGO` draws its weights.
///
/// **Scalarisation.** Proposal `n` draws weights `λ` uniformly from the simplex (normalised
/// exponential draws, the first draws of stream `model(n)`) and scores each complete result by
/// the augmented Chebyshev function of its losses normalised to [0, 1] over the results,
/// `max_i λ_i z_i + 0.05 Σ_i λ_i z_i`. That score is the single objective the usual model, with
/// constraints if any, then minimises: every proposal aims at a different part of the front,
/// and the Chebyshev term reaches the front's concave parts, where a weighted sum cannot.
///
/// **Determinism.** The weights depend only on `(seed, n)` and the normalisation on the set of
/// results, so a restore continues exactly.
extension GPSearcher {
    /// ParEGO's augmentation: the weight of the weighted sum beside the Chebyshev maximum.
    static let augmentation = 0.05

    /// The complete results with every objective, in `ResultBook` order and ranked (feasible
    /// first), their losses replaced by this proposal's scalarisation (see **Scalarisation**).
    func scalarisedResults(_ random: inout Xoshiro256StarStar) -> (ordered: [ResultBook.Result], ranked: [ResultBook.Result]) {
        let draws = modes.map { _ in -log(max(random.unit(), 1e-300)) }
        let total = draws.reduce(0, +)
        let weights = draws.map { $0 / total }
        var results = book.ordered.filter { $0.state == .complete && $0.point.map { $0.losses.count == modes.count } == true }
        guard !results.isEmpty else { return ([], []) }
        let low = modes.indices.map { i in results.map { $0.point!.losses[i] }.min()! }
        let high = modes.indices.map { i in results.map { $0.point!.losses[i] }.max()! }
        for k in results.indices {
            let z = modes.indices.map { i in high[i] > low[i] ? (results[k].point!.losses[i] - low[i]) / (high[i] - low[i]) : 0 }
            let weighted = zip(weights, z).map { $0 * $1 }
            results[k].loss = weighted.max()! + Self.augmentation * weighted.reduce(0, +)
        }
        let ranked = results.indices.sorted { results[$0].loss! != results[$1].loss! ? results[$0].loss! < results[$1].loss! : $0 < $1 }
        return (results, feasibleFirst(ranked.map { results[$0] }))
    }
}
