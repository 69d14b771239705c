import Foundation
import LoomWire

/// Renders a `WatchModel` as the lines of one screen: a pure function of the model, the
/// terminal size and the time, so it is tested without a terminal.
///
/// **Layout.** Header, progress bar (trials/s, ETA), best so far, counts by state, running
/// trials (as many as fit), incumbent changes, workers. Every line is cut to `width`; the running
/// list shrinks first when `height` is small, and the result never has more than `height` lines.
public enum WatchScreen {
    public static func render(_ model: WatchModel, width: Int, height: Int, now: Double, publisherSilent: Bool = false) -> [String] {
        let width = max(width, 20)
        let height = max(height, 6)
        var top: [String] = []
        let state = model.studyState.map { " (\($0))" } ?? ""
        let feed = publisherSilent ? "feed SILENT" : "feed ok"
        top.append("hyperloom watch  \(model.study.map { "study \($0)" } ?? "all studies")\(state)  seq \(model.lastSeq)  \(feed)")
        top.append(progress(model, width: width, now: now))
        top.append(bestLine(model))
        let counts = model.counts
        top.append("trials: " + WatchModel.TrialState.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: "  "))

        var bottom: [String] = []
        if !model.changes.isEmpty {
            bottom.append("incumbent changes:")
            bottom += model.changes.suffix(4).map { "  " + $0 }
        }
        bottom.append("workers: " + workersLine(model))

        let running = model.trials.filter { $0.value.state == .running }.sorted { $0.value.number < $1.value.number }
        var middle: [String] = []
        let room = height - top.count - bottom.count - 1
        if room >= 1 {
            middle.append(row(["TRIAL", "WORKER", "ATTEMPT", "REPORTS", "LATEST \(model.metric ?? "")"]))
            let shown = running.prefix(max(room - 1, 0))
            for (job, trial) in shown {
                middle.append(row([model.study == nil ? job : "\(trial.number)", trial.worker ?? "-", "\(trial.attempt)",
                                   "\(trial.reports)", trial.latest.map { WatchModel.text(.number($0)) } ?? "-"]))
            }
            if running.count > shown.count, middle.count > 1 {
                middle[middle.count - 1] = "… and \(running.count - shown.count + 1) more running"
            }
        }
        let lines = (top + middle + bottom).prefix(height)
        return lines.map { cut($0, width) }
    }

    /// `[#####-----]  12/40  2.1 trials/s  elapsed 5.7s  eta 13.3s`, the bar as wide as fits.
    public static func progress(_ model: WatchModel, width: Int, now: Double) -> String {
        let done = model.finished
        let total = model.maxTrials ?? model.trials.count
        let rate = model.progressRate(now: now)
        let eta = model.studyFinishedAt != nil ? "-"
            : rate.flatMap { r in total > done && r > 0 ? duration(Double(total - done) / r) : nil } ?? "-"
        let elapsed = model.elapsed(now: now).map(duration) ?? "-"
        let text = "  \(done)/\(total)  \(rate.map { String(format: "%.1f", $0) } ?? "-") trials/s  elapsed \(elapsed)  eta \(eta)"
        let barWidth = max(10, min(40, width - text.count - 2))
        let filled = total > 0 ? min(barWidth, barWidth * done / total) : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled) + "]" + text
    }

    static func bestLine(_ model: WatchModel) -> String {
        let metric = "\(model.metric ?? "metric") (\(model.mode))"
        guard let best = model.best else { return "best \(metric): none yet" }
        let trial = model.trials[best.job]
        var line = "best \(metric): \(WatchModel.text(.number(best.value)))  trial \(trial?.number ?? 0)"
        if let budget = best.budget { line += " at budget \(WatchModel.text(.number(budget)))" }
        if let config = trial?.config, !config.isEmpty {
            line += "  " + config.keys.sorted().map { "\($0)=\(WatchModel.text(config[$0]))" }.joined(separator: " ")
        }
        return line
    }

    static func workersLine(_ model: WatchModel) -> String {
        guard !model.workers.isEmpty else { return "none seen" }
        return model.workers.values.sorted { $0.id < $1.id }.map { w in
            switch w.health {
            case .slow: "\(w.id) slow (silent \(duration(Double(w.lastHeardMs ?? 0) / 1000)))"
            default: "\(w.id) \(w.health.rawValue)"
            }
        }.joined(separator: "  ")
    }

    static func row(_ cells: [String]) -> String {
        let widths = [8, 20, 8, 8]
        return cells.enumerated().map { i, cell in
            i < widths.count ? cell.padding(toLength: max(widths[i], cell.count + 1), withPad: " ", startingAt: 0) : cell
        }.joined()
    }

    /// `12.3s`, `4m05s`, `1h02m`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        if seconds < 3600 { return String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60) }
        return String(format: "%dh%02dm", Int(seconds) / 3600, (Int(seconds) % 3600) / 60)
    }

    /// The first `width` characters.
    static func cut(_ line: String, _ width: Int) -> String {
        line.count <= width ? line : String(line.prefix(width))
    }
}
