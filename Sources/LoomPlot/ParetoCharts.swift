import Foundation
import LoomSearch

/// The charts of a study with several objectives: its trials in the plane of the first two
/// objectives with the Pareto front of the feasible ones, and the hypervolume of that front over
/// wall-clock time.
///
/// **Hypervolume.** Of the feasible complete trials' objectives (maximised ones turned around),
/// bounded by a reference point fixed for the whole chart: each objective's worst value among
/// them plus a tenth of its range (plus 1 when they are all equal).
enum ParetoCharts {
    static let builders: [(name: String, build: @Sendable (PlotContext) -> Result<Plot, Skip>)] = [
        ("pareto-front", front), ("hypervolume", hypervolume),
    ]

    /// Complete trials with every objective.
    static func scored(_ study: StudyData) -> [TrialData] {
        study.trials.filter { $0.outcome == .complete && $0.values?.count == study.objectives.count }
    }

    static func front(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let (a, b) = (study.objectives[0], study.objectives[1])
        let trials = scored(study)
        guard !trials.isEmpty else { return .failure(Skip("no complete trial has every objective")) }
        let feasible = trials.filter(\.feasible)
        let modes: [Goal] = [a.goal, b.goal]
        let losses = feasible.map { t in zip(t.values!.prefix(2), modes).map { $1 == .min ? $0 : -$0 } }
        let ranks = Pareto.ranks(losses.map { Pareto.Point(losses: $0) })
        let onFront = feasible.indices.filter { ranks[$0] == 0 }.map { (x: feasible[$0].values![0], y: feasible[$0].values![1]) }
            .sorted { $0.x < $1.x }
        let dominated = feasible.indices.filter { ranks[$0] > 0 }.map { (x: feasible[$0].values![0], y: feasible[$0].values![1]) }
        let infeasible = trials.filter { !$0.feasible }.map { (x: $0.values![0], y: $0.values![1]) }
        var series: [Series] = []
        if !dominated.isEmpty { series.append(Series(name: "dominated", color: "#b8b8b8", style: .points(radius: 3.2), points: dominated)) }
        if !infeasible.isEmpty { series.append(Series(name: "infeasible", color: "#e8a0a0", style: .points(radius: 3.2), points: infeasible)) }
        if !onFront.isEmpty {
            series.append(Series(name: "Pareto front", color: Palette.series(0), style: .line, points: onFront, width: 1.6, inLegend: false))
            series.append(Series(name: "Pareto front", color: Palette.series(0), style: .points(radius: 4.5), points: onFront))
        }
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        let panel = XYPanel(xLabel: "\(a.name) (\(a.goal == .min ? "lower" : "higher") is better)",
                            yLabel: "\(b.name) (\(b.goal == .min ? "lower" : "higher") is better)",
                            xScale: Scale(covering: xs, kind: .linear), yScale: Scale(covering: ys, kind: .linear), series: series)
        let more = study.objectives.count > 2 ? " · the first two of \(study.objectives.count) objectives" : ""
        let subtitle = c.studyLine + " · \(onFront.count) of \(feasible.count) feasible trials on the front" + more
        return .success(c.singlePanel(name: "pareto-front", title: "Pareto front: \(a.name) against \(b.name)",
                                      subtitle: subtitle, panel: panel))
    }

    static func hypervolume(_ c: PlotContext) -> Result<Plot, Skip> {
        let study = c.study
        let modes = study.objectives.map(\.goal)
        let feasible = scored(study).filter { $0.feasible && $0.finishedAt != nil }.sorted { $0.finishedAt! < $1.finishedAt! }
        guard feasible.count >= 2 else { return .failure(Skip("fewer than two feasible complete trials (\(feasible.count))")) }
        let losses = feasible.map { t in zip(t.values!, modes).map { $1 == .min ? $0 : -$0 } }
        let reference = modes.indices.map { j -> Double in
            let column = losses.map { $0[j] }
            let (low, high) = (column.min()!, column.max()!)
            return high + (high > low ? 0.1 * (high - low) : 1)
        }
        var front: [[Double]] = []
        var points: [(x: Double, y: Double)] = []
        for (t, loss) in zip(feasible, losses) {
            front = Pareto.nonDominated(front + [loss])
            points.append((c.elapsed(t.finishedAt!), Pareto.hypervolume(front, reference: reference)))
        }
        let end = c.elapsed(c.endedAt)
        let series = [Series(name: "hypervolume", color: Palette.series(0), style: .step, points: points, width: 2.6, extendTo: end)]
        let panel = XYPanel(xLabel: c.timeLabel, yLabel: "hypervolume of the feasible front",
                            xScale: Scale(covering: [0, end], kind: .linear), yScale: Scale(covering: points.map(\.y), kind: .linear),
                            series: series)
        let names = study.objectives.map { "\($0.name) (\($0.goal.rawValue))" }.joined(separator: ", ")
        return .success(c.singlePanel(name: "hypervolume", title: "Hypervolume over wall-clock time",
                                      subtitle: c.studyLine + " · " + names + " · reference: worst value + 10% of the range", panel: panel))
    }
}
