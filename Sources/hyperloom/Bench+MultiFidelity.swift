import ArgumentParser
import Foundation
import Logging
import LoomWire

/// Best value found versus epochs consumed on a synthetic learning-curve task, for random search
/// at full budget and the multi-fidelity schedulers, in simulated time (no fabric, no clocks).
struct MultiFidelityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multifidelity",
        abstract: "Best value found versus total epochs consumed: random search, ASHA (stopping, promotion), Hyperband, BOHB.",
        discussion: "The task and its formula: Docs/benchmarks.md. Pure simulation: trials are not run.")

    @Option(help: "Seeds; the median over them is reported.")
    var seeds = 10

    @Option(help: "Epochs of a full-budget trial (max_t).")
    var maxT = 81

    @Option(help: "Total epochs each study may consume.")
    var epochs = 8100

    @Option(help: "Simulated workers (max_concurrent).")
    var workers = 8

    @OptionGroup var logging: BenchLogging

    func validate() throws {
        guard seeds >= 1, maxT >= 3, epochs >= maxT, workers >= 1 else {
            throw ValidationError("--seeds and --workers must be at least 1, --max-t at least 3, --epochs at least --max-t")
        }
    }

    /// The methods compared: a name, the searcher type and the scheduler section of the spec.
    var methods: [(name: String, searcher: String, scheduler: String)] {
        let rungs = "resource: epoch, max_t: \(maxT), grace_period: 1, reduction_factor: 3"
        return [
            ("random (full budget)", "random", "fifo"),
            ("ASHA stopping", "random", "{type: asha, \(rungs)}"),
            ("ASHA promotion", "random", "{type: promotion, \(rungs)}"),
            ("Hyperband (synchronous)", "random", "{type: hyperband, \(rungs)}"),
            ("BOHB (Hyperband + KDE)", "bohb", "{type: hyperband, \(rungs)}"),
        ]
    }

    func run() throws {
        logging.options.bootstrap(default: .warning)
        let checkpoints = [epochs / 10, epochs / 5, epochs / 2, epochs]
        Console.line("multifidelity: final(config) of the incumbent (best value reported at max_t = \(maxT)), median over "
                     + "\(seeds) seeds; \(workers) workers; the optimum is 0")
        let header = ["method"] + checkpoints.map { "@\($0) epochs" } + ["trials"]
        var rows: [[String]] = []
        for (name, searcher, scheduler) in methods {
            var regrets = Array(repeating: [Double](), count: checkpoints.count)
            var trials: [Double] = []
            for seed in 1...seeds {
                let simulation = MultiFidelitySimulation(schedulerYAML: scheduler, searcherYAML: "{type: \(searcher), seed: \(seed)}",
                                                         maxT: maxT, workers: workers, seed: UInt64(seed))
                let (points, started) = try simulation.run(totalEpochs: epochs, checkpoints: checkpoints)
                for (i, point) in points.enumerated() { regrets[i].append(point.regret ?? .infinity) }
                trials.append(Double(started))
            }
            let medians = regrets.map(Self.median)
            rows.append([name] + medians.map(Self.show) + [String(Int(Self.median(trials)))])
            var json = JSONObjectWriter()
            json.add("bench", "multifidelity")
            json.add("method", name)
            json.add("seeds", seeds)
            json.add("max_t", maxT)
            json.add("workers", workers)
            for (checkpoint, value) in zip(checkpoints, medians) where value.isFinite {
                json.add("regret_at_\(checkpoint)", (value * 1e6).rounded() / 1e6)
            }
            json.add("trials", Self.median(trials))
            Console.line(String(decoding: json.finish(), as: UTF8.self))
        }
        Console.line(StudyRendering.table(header, rows))
    }

    /// The median; +∞ (no incumbent yet) sorts last.
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    static func show(_ value: Double) -> String { value.isFinite ? String(format: "%.4f", value) : "-" }
}
