import Foundation
import LoomPlot

/// Scripted studies: every number is chosen here, so the charts' contents are known exactly.
enum Fixtures {
    /// Ten trials of a min study, started at t = 1000 s, two at a time for 10 s each. Trial n
    /// reports `loss` at epochs 1…(n ≤ 5 ? 3 : 9) falling as 1/epoch scaled by its own quality;
    /// trial 4 fails after two epochs. The final result is the trial's quality (a separate final
    /// evaluation), which `lr` decides (log axis); `opt` is categorical and `noise` has no effect.
    static func study(lossScale: Double = 1) -> StudyData {
        let start = 1000.0
        var trials: [TrialData] = []
        for n in 1...10 {
            let began = start + Double((n - 1) / 2) * 10
            let quality = Double((n * 7) % 10 + 1) / 10        // 0.8, 0.5, 0.2, 0.9, …: a fixed shuffle
            let epochs = n <= 5 ? 3 : 9
            let failed = n == 4
            let reported = failed ? 2 : epochs
            let curve = (1...reported).map { e in
                CurvePoint(resource: Double(e), value: lossScale * quality / Double(e), time: began + Double(e))
            }
            let config: [String: ParameterValue] = [
                "lr": .number(pow(10, -4 + 3 * quality)),
                "opt": .category(n % 2 == 0 ? "adam" : "sgd"),
                "noise": .number(Double((n * 3) % 10)),
            ]
            trials.append(TrialData(
                number: n, config: config, outcome: failed ? .failed : .complete,
                value: failed ? nil : quality, finishedAt: began + 10, runs: [RunInterval(start: began, end: began + 10)],
                curve: curve))
        }
        return StudyData(
            id: "fixture-1", metric: "loss", goal: .min, resource: "epoch",
            parameters: [ParameterInfo(name: "lr", kind: .log), ParameterInfo(name: "opt", kind: .categorical(["sgd", "adam"])),
                         ParameterInfo(name: "noise", kind: .linear)],
            trials: trials, startedAt: start)
    }
}
