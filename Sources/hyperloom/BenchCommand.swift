import ArgumentParser
import Foundation
import LoomBench
import LoomEmbedded
import Logging
import LoomModel
import LoomStore
import LoomWire
import LoomWorker

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the fabric, the searchers and the schedulers; prints a human summary and one JSON line per figure (see Docs/benchmarks.md).",
        subcommands: [FabricBench.self, SubprocessBench.self, OverheadBench.self, UtilizationBench.self, FailoverBench.self,
                      ScaleBench.self, AskBench.self, EfficiencyBench.self, MultiObjectiveBench.self, MultiFidelityBench.self,
                      FuzzBench.self, FeedBench.self, ChaosBench.self, CurveTrial.self, SimulateBench.self, DashboardBench.self])
}

/// Benchmarks log warnings only, so the figures are not drowned.
struct BenchLogging: ParsableArguments {
    @OptionGroup var options: LoggingOptions
}

/// Trivial in-process trials through broker + optimizer + durable SQLite store.
struct FabricBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fabric",
        abstract: "Throughput of trivial in-process trials through broker, optimizer and the SQLite store.")

    @Option(help: "Trials per run.")
    var trials = 5000

    @Option(help: "Worker slots (and max_concurrent).")
    var slots = 16

    @Option(help: "Runs; the median is reported.")
    var runs = 3

    enum StoreKind: String, ExpressibleByArgument, CaseIterable { case sqlite, memory }

    @Option(help: "sqlite (durable, synchronous=FULL; the figure that counts) or memory (to see what the store costs).")
    var store: StoreKind = .sqlite

    func validate() throws {
        guard trials >= 1, slots >= 1, runs >= 1 else { throw ValidationError("--trials, --slots and --runs must be at least 1") }
    }

    @OptionGroup var logging: BenchLogging

    func run() throws {
        logging.options.bootstrap(default: .warning)
        let spec = """
            name: bench
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: {type: random, seed: 1}
            trial: {command: [in-process]}
            budget: {max_trials: \(trials), max_concurrent: \(slots)}
            """
        var rates: [Double] = []
        var latencies: [Double] = []
        for run in 1...runs {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-bench-\(getpid())-\(run)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let db: any StudyStore = store == .sqlite
                ? try SQLiteStore(path: directory.appendingPathComponent("bench.db").path) : InMemoryStore()
            let result = try LocalStudy.optimize(specText: spec, file: "bench.yaml", slots: slots, store: db,
                                                 workDir: directory.appendingPathComponent("work").path) { trial in
                let x = trial.config["x"]?.double ?? 0
                return (x - 0.3) * (x - 0.3)
            }
            let complete = result.trials.filter { $0.state == .complete }.count
            guard complete == trials else {
                throw Failure("run \(run): \(complete) of \(trials) trials completed (\(result.reason ?? "no reason"))")
            }
            let rate = Double(trials) / result.elapsed
            rates.append(rate)
            latencies += BenchStudy.latencies(result)
            Console.line(String(format: "run %d: %d trials in %.2f s = %.0f trials/s", run, trials, result.elapsed, rate))
        }
        let median = Summary.median(rates)
        guard let latency = Summary(latencies) else { throw Failure("no trial finished") }
        let storeName = store == .sqlite ? "SQLite store, synchronous=FULL" : "in-memory store"
        Console.line(String(format: "fabric: median %.0f trials/s over %d runs (%d trivial in-process trials, %d slots, %@); "
                            + "created→stored p50 %.2f ms, p99 %.2f ms", median, runs, trials, slots, storeName,
                            latency.p50 * 1000, latency.p99 * 1000))
        var figure = BenchFigure(bench: "fabric")
        figure.add("trials_per_s", median, digits: 1)
        figure.add("latency_ms", latency, milliseconds: true)
        figure.add("trials", trials)
        figure.add("slots", slots)
        figure.add("store", store.rawValue)
        figure.add("runs", runs)
        Console.line(figure.line())
    }
}
