import ArgumentParser
import Foundation
import Logging
import LoomModel
import LoomWire

/// Best value found versus epochs consumed on a synthetic learning-curve task, for random search
/// at full budget and the multi-fidelity schedulers, in simulated time (no fabric, no clocks).
struct MultiFidelityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multifidelity",
        abstract: "Best value found versus total epochs consumed: random search, ASHA (stopping, promotion), Hyperband, BOHB.",
        discussion: """
            The task and its formula: Docs/benchmarks.md. By default a pure simulation: trials are not run. \
            --fabric runs ASHA (stopping, promotion), asynchronous Hyperband and BOHB through `hyperloom run` with real \
            trial processes, and prints each next to the simulation of the same study.
            """)

    @Option(help: "Seeds; the median over them is reported (default 10; 3 with --fabric).")
    var seeds: Int?

    @Option(help: "Epochs of a full-budget trial, max_t (default 81; 27 with --fabric).")
    var maxT: Int?

    @Option(help: "Total epochs each study may consume (default 100 × max_t).")
    var epochs: Int?

    @Option(help: "Workers, simulated or slots of `hyperloom run` (max_concurrent; default 8; 4 with --fabric).")
    var workers: Int?

    @Flag(help: "Run the studies through the real fabric (`hyperloom run`, real trial processes) as well as simulated.")
    var fabric = false

    @Option(help: "With --fabric: the wall time of one epoch of a trial.")
    var epochTime = "20ms"

    @OptionGroup var logging: BenchLogging

    var seedCount: Int { seeds ?? (fabric ? 3 : 10) }
    var fullBudget: Int { maxT ?? (fabric ? 27 : 81) }
    var totalEpochs: Int { epochs ?? 100 * fullBudget }
    var slots: Int { workers ?? (fabric ? 4 : 8) }

    func validate() throws {
        guard seedCount >= 1, fullBudget >= 3, totalEpochs >= fullBudget, slots >= 1 else {
            throw ValidationError("--seeds and --workers must be at least 1, --max-t at least 3, --epochs at least --max-t")
        }
        guard let time = SpecParser.parseDuration(epochTime), time > 0 else {
            throw ValidationError("--epoch-time: expected a positive duration such as 20ms, found \(epochTime)")
        }
    }

    /// The methods compared: a name, the searcher type and the scheduler section of the spec.
    var methods: [(name: String, searcher: String, scheduler: String)] {
        let rungs = "resource: epoch, max_t: \(fullBudget), grace_period: 1, reduction_factor: 3"
        if fabric {
            return [
                ("ASHA stopping", "random", "{type: asha, \(rungs)}"),
                ("ASHA promotion", "random", "{type: promotion, \(rungs)}"),
                ("Hyperband (asynchronous, 3 brackets)", "random", "{type: asha, brackets: 3, \(rungs)}"),
                ("BOHB (Hyperband + KDE)", "bohb", "{type: hyperband, \(rungs)}"),
            ]
        }
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
        let epochs = totalEpochs
        let checkpoints = [epochs / 10, epochs / 5, epochs / 2, epochs]
        Console.line("multifidelity: final(config) of the incumbent (best value reported at max_t = \(fullBudget)), median over "
                     + "\(seedCount) seeds; \(slots) workers; the optimum is 0"
                     + (fabric ? "; fabric: `hyperloom run`, \(slots) slots, one epoch = \(epochTime) of a real trial process" : ""))
        let header = ["method"] + checkpoints.map { "@\($0) epochs" } + ["trials"] + (fabric ? ["epochs run", "wall s", "failed runs"] : [])
        var rows: [[String]] = []
        let runner = MultiFidelityFabric(maxT: fullBudget, slots: slots, epochTime: SpecParser.parseDuration(epochTime) ?? 0.02)
        for (name, searcher, scheduler) in methods {
            var regrets = Array(repeating: [Double](), count: checkpoints.count)
            var trials: [Double] = []
            var real = (regrets: Array(repeating: [Double](), count: checkpoints.count), trials: [Double](), epochs: [Double](),
                        seconds: [Double](), failures: [String]())
            for seed in 1...seedCount {
                let simulation = MultiFidelitySimulation(schedulerYAML: scheduler, searcherYAML: "{type: \(searcher), seed: \(seed)}",
                                                         maxT: fullBudget, workers: slots, seed: UInt64(seed))
                let (points, started) = try simulation.run(totalEpochs: epochs, checkpoints: checkpoints)
                for (i, point) in points.enumerated() { regrets[i].append(point.regret ?? .infinity) }
                trials.append(Double(started))
                guard fabric else { continue }
                do {
                    // Twice the simulation's trials: the study is interrupted when the epochs are spent.
                    let run = try runner.run(searcherYAML: "{type: \(searcher), seed: \(seed)}", schedulerYAML: scheduler,
                                             seed: UInt64(seed), totalEpochs: epochs, maxTrials: max(20, 2 * started),
                                             checkpoints: checkpoints)
                    for (i, point) in run.points.enumerated() { real.regrets[i].append(point.regret ?? .infinity) }
                    real.trials.append(Double(run.trials))
                    real.epochs.append(Double(run.epochs))
                    real.seconds.append(run.seconds)
                    Console.line("  \(name), seed \(seed): \(run.trials) trials, \(run.epochs) epochs in \(Int(run.seconds)) s; regret "
                                 + run.points.map { Self.show($0.regret ?? .infinity) }.joined(separator: " "))
                } catch {
                    real.failures.append("seed \(seed): \(error)")
                    Console.line("  \(name), seed \(seed): FAILED: \(error)")
                }
            }
            let medians = regrets.map(Self.median)
            let simulated = fabric ? "\(name), simulated" : name
            rows.append([simulated] + medians.map(Self.show) + [String(Int(Self.median(trials)))] + (fabric ? ["", "", ""] : []))
            Console.line(Self.figure(method: simulated, medians: medians, checkpoints: checkpoints, trials: Self.median(trials),
                                     seeds: seedCount, maxT: fullBudget, workers: slots))
            guard fabric else { continue }
            let fabricName = "\(name), fabric"
            if real.trials.isEmpty {
                rows.append([fabricName] + checkpoints.map { _ in "-" } + ["-", "-", "-", "\(real.failures.count)"])
                continue
            }
            let realMedians = real.regrets.map(Self.median)
            rows.append([fabricName] + realMedians.map(Self.show)
                        + [String(Int(Self.median(real.trials))), String(Int(Self.median(real.epochs))),
                           String(Int(Self.median(real.seconds))), "\(real.failures.count)"])
            var line = Self.figure(method: fabricName, medians: realMedians, checkpoints: checkpoints, trials: Self.median(real.trials),
                                   seeds: real.trials.count, maxT: fullBudget, workers: slots)
            line.removeLast()
            Console.line(line + ",\"failed_runs\":\(real.failures.count)}")
        }
        Console.line(StudyRendering.table(header, rows))
    }

    /// The JSON figure of one method.
    static func figure(method: String, medians: [Double], checkpoints: [Int], trials: Double, seeds: Int, maxT: Int, workers: Int) -> String {
        var json = JSONObjectWriter()
        json.add("bench", "multifidelity")
        json.add("method", method)
        json.add("seeds", seeds)
        json.add("max_t", maxT)
        json.add("workers", workers)
        for (checkpoint, value) in zip(checkpoints, medians) where value.isFinite {
            json.add("regret_at_\(checkpoint)", (value * 1e6).rounded() / 1e6)
        }
        json.add("trials", trials)
        return String(decoding: json.finish(), as: UTF8.self)
    }

    /// The median; +∞ (no incumbent yet) sorts last.
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    static func show(_ value: Double) -> String { value.isFinite ? String(format: "%.4f", value) : "-" }
}

/// The trial of `bench multifidelity --fabric`: trains the learning-curve task of `LearningCurveTask`
/// one epoch per `--epoch-time`, up to its job's budget (`HYPERLOOM_BUDGET`, else max_t), from the
/// epoch its checkpoint holds; reports every epoch, checkpointing (before the line) at the last.
struct CurveTrial: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curve-trial", abstract: "The trial process of `bench multifidelity --fabric` (not for direct use).",
        shouldDisplay: false)

    @Option var seed: UInt64
    @Option var x: Double
    @Option var y: Double
    @Option var maxT: Int
    @Option var epochTime: Double
    @Option(help: "A file to which each trained epoch appends two bytes (the bench's budget counter).")
    var count: String?

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let trial = env["HYPERLOOM_TRIAL_ID"].flatMap { Int($0.split(separator: "/").last ?? "") } ?? 0
        let budget = min(maxT, env["HYPERLOOM_BUDGET"].flatMap(Double.init).map { Int($0.rounded()) } ?? maxT)
        let checkpoint = env["HYPERLOOM_CHECKPOINT_DIR"].map { URL(fileURLWithPath: $0).appendingPathComponent("epoch") }
        var epoch = checkpoint.flatMap { try? String(contentsOf: $0, encoding: .utf8) }
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        // O_APPEND: the slots' trials append to the same counter at once.
        let counter = count.map { open($0, O_WRONLY | O_APPEND) } ?? -1
        defer { if counter >= 0 { close(counter) } }
        let task = LearningCurveTask(seed: seed)
        let config: LoomModel.Config = ["x": .number(x), "y": .number(y)]
        while epoch < budget {
            Thread.sleep(forTimeInterval: epochTime)
            epoch += 1
            let value = task.value(config, trial: trial, epoch: epoch)
            if counter >= 0 { _ = "e\n".withCString { write(counter, $0, 2) } }
            var line = "@hyperloom {\"epoch\": \(epoch), \"loss\": \(value)"
            if epoch == budget, let checkpoint {
                try String(epoch).write(to: checkpoint, atomically: true, encoding: .utf8)
                line += ", \"checkpoint\": true"
            }
            Console.line(line + "}")
        }
    }
}
