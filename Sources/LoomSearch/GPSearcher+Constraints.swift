import Foundation
import LoomModel

/// GP-BO with constraints: the probability of feasibility (Gardner et al. 2014; Optuna's
/// `GPSampler` with `set_constraint`, BoTorch's constrained EI).
///
/// **Models.** Each constraint's reported value (Optuna's form: ≤ 0 satisfied,
/// `Evaluation.constraints`) gets its own process, built like the objective's: the same
/// posterior and fit subsets of the results, standardised values, its own fitted
/// hyperparameters (drawn after the objective's, from the same stream `model(n)`). Results
/// whose constraint values are unknown (told with `value` alone) are left out of these models.
/// The probability that constraint i holds at x is `Φ((t_i − μ_i(x)) / σ_i(x))`, `t_i` the
/// standardised 0; constraints are taken as independent, so the probability of feasibility is
/// the product.
///
/// **Acquisition.** Expected improvement over the best *feasible* result times the probability
/// of feasibility; while no result is feasible, that probability alone (find the feasible
/// region first). Feasible results rank first (`feasibleFirst`): the incumbent, the anchors of
/// the local candidates and the posterior's best third are feasible when any result is.
///
/// **Pending** trials join only the objective's process (the kriging believer): a pending
/// point's EI is already near zero, whatever its feasibility.
extension GPSearcher {
    /// One constraint's process and the standardised value of its bound.
    struct ConstraintModel {
        var process: GaussianProcess
        /// `(0 − mean) / sd` of the constraint's values.
        var threshold: Double
    }

    /// Whether a result kept the constraints (true without constraints).
    func isFeasible(_ result: ResultBook.Result) -> Bool { result.point?.feasible ?? true }

    /// `ranked` with the feasible results first (their order kept), then the infeasible ones by
    /// increasing violation (ties in `ranked` order).
    func feasibleFirst(_ ranked: [ResultBook.Result]) -> [ResultBook.Result] {
        guard ranked.contains(where: { !isFeasible($0) }) else { return ranked }
        let infeasible = ranked.enumerated().filter { !isFeasible($0.element) }
            .sorted { ($0.element.point!.violation, $0.offset) < ($1.element.point!.violation, $1.offset) }
            .map(\.element)
        return ranked.filter(isFeasible) + infeasible
    }

    /// One model per constraint, from the results of `posterior` and `fitSet` that report
    /// every constraint (see **Models**); empty without constraints.
    func constraintModels(posterior: [ResultBook.Result], fitSet: [ResultBook.Result],
                          _ random: inout Xoshiro256StarStar) -> [ConstraintModel] {
        let count = book.ordered.reduce(0) { max($0, $1.constraints.count) }
        guard count > 0 else { return [] }
        let known = posterior.filter { $0.constraints.count == count }
        let fitKnown = fitSet.filter { $0.constraints.count == count }
        guard known.count >= 2, !fitKnown.isEmpty else { return [] }
        let xs = known.map { features($0.coordinates) }
        let fitXs = fitKnown.map { features($0.coordinates) }
        return (0..<count).compactMap { i in
            let values = known.map { $0.constraints[i] }
            let mean = values.reduce(0, +) / Double(values.count)
            let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            let scale = sd > 0 ? sd : 1
            let hyperparameters = fitHyperparameters(features: fitXs, targets: fitKnown.map { ($0.constraints[i] - mean) / scale }, &random)
            guard let process = GaussianProcess(features: xs, targets: values.map { ($0 - mean) / scale },
                                                hyperparameters: hyperparameters) else { return nil }
            return ConstraintModel(process: process, threshold: -mean / scale)
        }
    }

    /// The probability that every constraint holds at features `x` (1 without constraints).
    func feasibilityProbability(_ models: [ConstraintModel], at x: [Double]) -> Double {
        models.reduce(1) { product, model in
            let (mean, variance) = model.process.predict(x)
            return product * standardNormalCDF((model.threshold - mean) / variance.squareRoot())
        }
    }

    public mutating func observe(_ evaluation: Evaluation) {
        book.record(evaluation, point: point(evaluation))
    }

    public mutating func restore(evaluations: [Evaluation]) {
        book.restore(evaluations: evaluations, point: point)
    }

    /// The feasibility of a complete evaluation and, with several objectives, its losses (none
    /// unless every objective is finite); nil otherwise.
    func point(_ evaluation: Evaluation) -> Pareto.Point? {
        guard evaluation.state == .complete else { return nil }
        guard modes.count > 1 else { return Pareto.Point(losses: [], feasible: evaluation.feasible, violation: evaluation.violation) }
        guard let values = evaluation.values, values.count == modes.count, values.allSatisfy(\.isFinite) else { return nil }
        return Pareto.Point(losses: Pareto.losses(values, modes: modes), feasible: evaluation.feasible, violation: evaluation.violation)
    }
}
