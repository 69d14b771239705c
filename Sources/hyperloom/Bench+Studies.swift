import ArgumentParser
import Foundation
import LoomBench
import Logging
import LoomEmbedded
import LoomModel
import LoomStore

/// Runs benchmark studies on the embedded fabric (broker, optimizer, one worker with child
/// processes) with a durable SQLite store in a scratch directory that is removed afterwards.
enum BenchStudy {
    static func run(_ spec: String, slots: Int, label: String) throws -> LocalStudyResult {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-bench-\(getpid())-\(label)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("bench.db").path)
        let result = try LocalStudy.run(specText: spec, file: "\(label).yaml", slots: slots, store: store,
                                        workDir: directory.appendingPathComponent("work").path, executor: nil)
        let complete = result.trials.filter { $0.state == .complete }.count
        guard complete == result.trials.count, result.state == .complete else {
            let failed = result.trials.first { $0.state != .complete }
            throw Failure("\(label): \(complete) of \(result.trials.count) trials completed (\(result.reason ?? "no reason"))"
                          + (failed.map { "; trial \($0.number): \($0.error ?? $0.state.rawValue)" } ?? ""))
        }
        return result
    }

    /// Seconds from each trial's creation to its result being stored.
    static func latencies(_ result: LocalStudyResult) -> [Double] {
        result.trials.compactMap { t in t.finishedAt.map { $0 - t.createdAt } }
    }
}

/// A trial command that exits at once, through the whole fabric with child processes.
struct SubprocessBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subprocess",
        abstract: "Throughput and per-trial overhead of trials that are processes exiting at once.")

    @Option(help: "Trials per run.") var trials = 1000
    @Option(help: "Worker slots (and max_concurrent).") var slots = 4
    @Option(help: "Runs; the median is reported.") var runs = 3
    @OptionGroup var logging: BenchLogging

    func validate() throws {
        guard trials >= 1, slots >= 1, runs >= 1 else { throw ValidationError("--trials, --slots and --runs must be at least 1") }
    }

    func run() throws {
        logging.options.bootstrap(default: .warning)
        // /bin/echo is the cheapest program that prints a metric line: the figure is the fabric's.
        let spec = """
            name: bench-subprocess
            metric: loss
            mode: min
            space: {x: {uniform: [0.0, 1.0]}}
            searcher: {type: random, seed: 1}
            trial: {command: ["/bin/echo", "@hyperloom {\\"loss\\": {x}}"]}
            budget: {max_trials: \(trials), max_concurrent: \(slots)}
            """
        var rates: [Double] = []
        var latencies: [Double] = []
        for run in 1...runs {
            let result = try BenchStudy.run(spec, slots: slots, label: "subprocess-\(run)")
            let rate = Double(trials) / result.elapsed
            rates.append(rate)
            latencies += BenchStudy.latencies(result)
            Console.line(String(format: "run %d: %d trials in %.2f s = %.0f trials/s", run, trials, result.elapsed, rate))
        }
        let median = Summary.median(rates)
        let overheadMs = Double(slots) / median * 1000
        guard let latency = Summary(latencies) else { throw Failure("no trial finished") }
        Console.line(String(format: "subprocess: median %.0f trials/s over %d runs; %.2f ms of slot time per trial; "
                            + "created→stored p50 %.1f ms, p99 %.1f ms (%d slots, SQLite store)",
                            median, runs, overheadMs, latency.p50 * 1000, latency.p99 * 1000, slots))
        var figure = BenchFigure(bench: "subprocess")
        figure.add("trials_per_s", median, digits: 1)
        figure.add("slot_ms_per_trial", overheadMs)
        figure.add("latency_ms", latency, milliseconds: true)
        figure.add("trials", trials)
        figure.add("slots", slots)
        figure.add("runs", runs)
        Console.line(figure.line())
    }
}

/// Ray Tune's overhead figure: M sleeping trials of d seconds on S slots, makespan / (M·d/S).
struct OverheadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overhead",
        abstract: "Bookkeeping overhead: makespan of M trials of d seconds on S slots against the minimum M·d/S.")

    @Option(help: "Trials (M).") var trials = 400
    @Option(help: "Seconds each trial sleeps (d).") var duration = 0.5
    @Option(help: "Worker slots (S).") var slots = 16
    @Option(help: "Runs; the median is reported.") var runs = 1
    @OptionGroup var logging: BenchLogging

    func validate() throws {
        guard trials >= 1, slots >= 1, runs >= 1, duration > 0 else {
            throw ValidationError("--trials, --slots and --runs must be at least 1 and --duration positive")
        }
    }

    func run() throws {
        logging.options.bootstrap(default: .warning)
        let spec = """
            name: bench-overhead
            metric: t
            mode: min
            space: {x: {uniform: [0.0, 1.0]}}
            searcher: {type: random, seed: 1}
            trial: {command: ["/bin/sh", "-c", "sleep \(duration); echo '@hyperloom {\\"t\\": {x}}'"]}
            budget: {max_trials: \(trials), max_concurrent: \(slots)}
            """
        let minimum = Double(trials) * duration / Double(slots)
        var ratios: [Double] = []
        for run in 1...runs {
            let result = try BenchStudy.run(spec, slots: slots, label: "overhead-\(run)")
            ratios.append(result.elapsed / minimum)
            Console.line(String(format: "run %d: makespan %.2f s, minimum %.2f s, ratio %.4f", run, result.elapsed, minimum,
                                result.elapsed / minimum))
        }
        let ratio = Summary.median(ratios)
        Console.line(String(format: "overhead: %d trials × %.2f s on %d slots: makespan %.4f × the minimum (+%.2f%%), median of %d",
                            trials, duration, slots, ratio, (ratio - 1) * 100, runs))
        var figure = BenchFigure(bench: "overhead")
        figure.add("makespan_ratio", ratio, digits: 4)
        figure.add("overhead_percent", (ratio - 1) * 100, digits: 2)
        figure.add("trials", trials)
        figure.add("duration_s", duration)
        figure.add("slots", slots)
        figure.add("runs", runs)
        Console.line(figure.line())
    }
}

/// Heavy-tailed trial durations: the fabric's makespan against the ideal list schedule and
/// synchronous batches of the same durations.
struct UtilizationBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "utilization",
        abstract: "Heavy-tailed trial durations: asynchronous dispatch against synchronous batches and the ideal list schedule.")

    @Option(help: "Trials.") var trials = 200
    @Option(help: "Worker slots.") var slots = 8
    @Option(help: "Median trial duration in seconds (log-normal).") var median = 0.5
    @Option(help: "Shape σ of the log-normal durations.") var sigma = 1.0
    @Option(help: "Longest duration in seconds.") var cap = 15.0
    @Option(help: "Seed of the durations.") var seed: UInt64 = 7
    @OptionGroup var logging: BenchLogging

    func validate() throws {
        guard trials >= 1, slots >= 1, median > 0, sigma >= 0, cap >= median else {
            throw ValidationError("need --trials, --slots ≥ 1, --median > 0, --sigma ≥ 0 and --cap ≥ --median")
        }
    }

    func run() throws {
        logging.options.bootstrap(default: .warning)
        // Durations rounded to the millisecond, so the trials sleep exactly what the ideal counts.
        let durations = Schedules.logNormalDurations(count: trials, median: median, sigma: sigma, cap: cap, seed: seed)
            .map { ($0 * 1000).rounded() / 1000 }
        let points = durations.map { "  - {d: \($0)}" }.joined(separator: "\n")
        let spec = """
            name: bench-utilization
            metric: t
            mode: min
            space: {d: {uniform: [0.0, \(cap)]}}
            searcher: {type: random, seed: 1}
            trial: {command: ["/bin/sh", "-c", "sleep {d}; echo '@hyperloom {\\"t\\": {d}}'"]}
            budget: {max_trials: \(trials), max_concurrent: \(slots)}
            points_to_evaluate:
            \(points)
            """
        let ideal = Schedules.listMakespan(durations, slots: slots)
        let batches = Schedules.batchMakespan(durations, slots: slots)
        let bound = Schedules.lowerBound(durations, slots: slots)
        let result = try BenchStudy.run(spec, slots: slots, label: "utilization")
        let efficiency = ideal / result.elapsed
        let total = durations.reduce(0, +)
        Console.line(String(format: "durations: %d trials, median %.3f s, mean %.3f s, max %.3f s, total %.1f s on %d slots",
                            trials, Summary(durations)?.p50 ?? 0, total / Double(trials), durations.max() ?? 0, total, slots))
        Console.line(String(format: "ideal list schedule %.2f s · lower bound %.2f s · synchronous batches (no overhead) %.2f s",
                            ideal, bound, batches))
        Console.line(String(format: "utilization: asynchronous fabric %.2f s = %.2f%% of the ideal list schedule; "
                            + "synchronous batches would reach %.2f%%", result.elapsed, efficiency * 100, ideal / batches * 100))
        var figure = BenchFigure(bench: "utilization")
        figure.add("fabric_makespan_s", result.elapsed)
        figure.add("ideal_makespan_s", ideal)
        figure.add("batch_makespan_s", batches)
        figure.add("fabric_vs_ideal_percent", efficiency * 100, digits: 2)
        figure.add("batches_vs_ideal_percent", ideal / batches * 100, digits: 2)
        figure.add("trials", trials)
        figure.add("slots", slots)
        Console.line(figure.line())
    }
}
