import ArgumentParser
import Foundation
import LoomEmbedded
import Logging
import LoomModel
import LoomStore
import LoomWire
import LoomWorker

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the fabric; prints a human summary and one JSON line per figure (see Docs/benchmarks.md).",
        subcommands: [FabricBench.self, FeedBench.self])
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
    var trials = 2000

    @Option(help: "Worker slots (and max_concurrent).")
    var slots = 4

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
            Console.line(String(format: "run %d: %d trials in %.2f s = %.0f trials/s", run, trials, result.elapsed, rate))
        }
        let median = rates.sorted()[rates.count / 2]
        let storeName = store == .sqlite ? "SQLite store, synchronous=FULL" : "in-memory store"
        Console.line(String(format: "fabric: median %.0f trials/s over %d runs (%d trivial in-process trials, %d slots, %@)",
                            median, runs, trials, slots, storeName))
        var json = JSONObjectWriter()
        json.add("bench", "fabric")
        json.add("trials_per_s", (median * 10).rounded() / 10)
        json.add("trials", trials)
        json.add("slots", slots)
        json.add("store", store.rawValue)
        json.add("runs", runs)
        Console.line(String(decoding: json.finish(), as: UTF8.self))
    }
}
