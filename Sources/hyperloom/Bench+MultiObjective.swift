import ArgumentParser
import Foundation
import LoomBench
import LoomModel
import LoomSearch
import LoomWire

/// Hypervolume of multi-objective searchers on ZDT1, ZDT2, DTLZ2 and BNH (constrained), compared
/// with reference runs (Optuna's samplers, `Docs/benchmarks/optuna_multiobjective.py`) on the
/// same seeds, and the ask latency of each searcher after 1,000 trials.
struct MultiObjectiveBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multiobjective",
        abstract: "Median hypervolume over seeds at given trial counts, per problem and multi-objective searcher (sequential trials).")

    /// The searchers that take several objectives.
    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case random, quasiRandom = "quasi_random", nsga2, tpe, gp

        var spec: SearcherSpec.Kind {
            switch self {
            case .random: .random
            case .quasiRandom: .quasiRandom
            case .nsga2: .nsga2
            case .tpe: .tpe
            case .gp: .gp
            }
        }
    }

    @Option(parsing: .upToNextOption, help: "Searchers: random, quasi_random, nsga2, tpe, gp (gp asks take tens of milliseconds).")
    var searcher: [Kind] = [.random, .nsga2, .tpe]

    @Option(help: "Comma-separated problems: zdt1, zdt2, dtlz2, bnh.")
    var problems = "zdt1,zdt2,dtlz2,bnh"

    @Option(help: "Number of seeds: firstSeed..<firstSeed + seeds.")
    var seeds = 20

    @Option(name: .customLong("first-seed"), help: "The first seed.")
    var firstSeed = 0

    @Option(help: "Comma-separated trial counts at which the hypervolume is read.")
    var at = "100,300"

    @Option(help: "Seeds run at once (the figures do not depend on it); the processor count by default.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(parsing: .upToNextOption, help: "JSON lines of reference runs on the same seeds (Docs/benchmarks/optuna_multiobjective.py's output), one file per reference.")
    var against: [String] = []

    @Option(help: "tpe: one joint density for all parameters (true) or one per parameter (false) instead of the default (false with several objectives, as Optuna 5).")
    var multivariate: Bool?

    @Flag(help: "Also time each searcher's ask after 1,000 complete trials of ZDT1 (median of 21 asks in a row).")
    var latency = false

    func validate() throws {
        guard seeds >= 1, firstSeed >= 0, threads >= 1 else { throw ValidationError("--seeds and --threads must be at least 1 and --first-seed at least 0") }
        guard try integerList(at).allSatisfy({ $0 >= 1 }) else { throw ValidationError("--at takes positive trial counts") }
        for name in problems.split(separator: ",") where MultiObjectiveProblem.all[String(name)] == nil {
            throw ValidationError("unknown problem \"\(name)\"; expected one of \(MultiObjectiveProblem.all.keys.sorted().joined(separator: ", "))")
        }
    }

    func run() throws {
        let checkpoints = try integerList(at)
        let trials = checkpoints.max() ?? 0
        let chosen = problems.split(separator: ",").compactMap { MultiObjectiveProblem.all[String($0)] }
        let references = try against.map { try ReferenceSamples(path: $0, seeds: seeds, firstSeed: firstSeed, bench: "multiobjective", cellKey: "problem", sampleKey: "hypervolumes") }
        var table: [EfficiencyCell: [Double]] = [:]
        Console.line("median hypervolume (feasible trials) over seeds \(firstSeed)..<\(firstSeed + seeds) at \(checkpoints.map(String.init).joined(separator: "/")) trials")
        for problem in chosen {
            for kind in searcher {
                let traces = SeedTraces(count: seeds)
                let (first, width, options) = (firstSeed, max(1, threads), SearcherOptions(multivariate: multivariate))
                DispatchQueue.concurrentPerform(iterations: min(width, seeds)) { lane in
                    for index in stride(from: lane, to: seeds, by: width) {
                        traces.set(index, Self.hypervolumes(kind, problem, seed: UInt64(first + index), trials: trials, at: checkpoints,
                                                                    options: kind == .tpe ? options : SearcherOptions()))
                    }
                }
                var row: [String] = []
                for (i, at) in checkpoints.enumerated() {
                    let volumes = traces.all.map { $0[i] }
                    table[EfficiencyCell(function: problem.name, trials: at, searcher: kind.rawValue)] = volumes
                    row.append(String(format: "%10.4f", median(volumes)))
                    var json = JSONObjectWriter()
                    json.add("bench", "multiobjective")
                    json.add("problem", problem.name)
                    json.add("searcher", kind.rawValue)
                    json.add("trials", at)
                    json.add("seeds", seeds)
                    json.add("first_seed", firstSeed)
                    json.add("median_hypervolume", median(volumes))
                    json.addRaw("hypervolumes", json: JSONValue.array(volumes.map { .number($0) }).jsonBytes ?? Array("[]".utf8))
                    Console.line(String(decoding: json.finish(), as: UTF8.self))
                }
                Console.line("\(problem.name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(kind.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(row.joined(separator: " "))")
            }
        }
        for reference in references { compare(table, with: reference, problems: chosen.map(\.name), checkpoints: checkpoints) }
        if latency { for kind in searcher { askLatency(kind) } }
    }

    /// One seed's sequential run: the hypervolume of its feasible trials at each checkpoint.
    static func hypervolumes(_ kind: Kind, _ problem: MultiObjectiveProblem, seed: UInt64, trials: Int, at checkpoints: [Int],
                             options: SearcherOptions = SearcherOptions()) -> [Double] {
        let objectives = Array(repeating: Objective(name: "f", mode: .min), count: problem.objectives)
        var searcher = makeSearcher(SearcherSpec(kind: kind.spec, seed: seed, options: options), space: problem.space, mode: .min, repeats: 1,
                                    objectives: objectives)
        var feasible: [[Double]] = []
        var volumes: [Double] = []
        for n in 1...trials {
            guard case .config(let config) = searcher.suggest(pending: []) else { break }
            let (values, constraints) = problem.evaluate(config)
            let (isFeasible, violation) = MultiObjectiveProblem.feasibility(constraints)
            searcher.observe(Evaluation(config: config, state: .complete, value: values[0], values: values, feasible: isFeasible,
                                        violation: violation, constraints: constraints))
            if isFeasible { feasible.append(values) }
            if checkpoints.contains(n) {
                feasible = Pareto.nonDominated(feasible)
                volumes.append(Pareto.hypervolume(feasible, reference: problem.reference))
            }
        }
        return volumes
    }

    /// Each searcher's median next to the reference's, with a one-sided rank-sum test of the
    /// per-seed hypervolumes (larger is better): **better** or **WORSE** at p < 0.05, else tied.
    private func compare(_ table: [EfficiencyCell: [Double]], with reference: ReferenceSamples, problems: [String], checkpoints: [Int]) {
        let significance = 0.05
        Console.line("against \(reference.name) (\(reference.path)), same seeds: median hypervolumes, then the rank-sum test (one-sided, p < \(significance))")
        for kind in searcher {
            var counts = (cells: 0, better: 0, tied: 0, worse: 0)
            for problem in problems {
                var row: [String] = []
                for at in checkpoints {
                    guard let ours = table[EfficiencyCell(function: problem, trials: at, searcher: kind.rawValue)],
                          let theirs = reference.samples[EfficiencyCell(function: problem, trials: at, searcher: reference.name)] else {
                        row.append("(no reference at \(at))")
                        continue
                    }
                    counts.cells += 1
                    var verdict = "tied"
                    if let test = RankSumTest(ours, theirs) {
                        if test.pLarger < significance {
                            verdict = String(format: "better p=%.3g", test.pLarger)
                            counts.better += 1
                        } else if test.pSmaller < significance {
                            verdict = String(format: "WORSE p=%.3g", test.pSmaller)
                            counts.worse += 1
                        } else {
                            verdict = String(format: "tied p=%.2f", min(test.pLarger, test.pSmaller))
                            counts.tied += 1
                        }
                    } else {
                        counts.tied += 1
                    }
                    row.append(String(format: "@%d %.4g vs %.4g %@", at, median(ours), median(theirs), verdict))
                }
                Console.line("\(problem.padding(toLength: 8, withPad: " ", startingAt: 0)) \(kind.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(row.joined(separator: " | "))")
            }
            Console.line("\(kind.rawValue) against \(reference.name): significantly better in \(counts.better) of \(counts.cells) cells, tied in \(counts.tied), significantly worse in \(counts.worse)")
        }
    }

    /// The median wall and CPU time of one ask after the searcher's own 1,000 complete ZDT1
    /// trials: 21 asks in a row, each trial then failed (a failed trial teaches nothing), as
    /// `optuna_multiobjective.py --latency` times Optuna's `study.ask`. Asks in a row, not copies
    /// of one searcher: NSGA-II selects a generation's parents at its first ask and reuses them
    /// (Optuna caches them too), and 1,000 trials is where generation 20 begins.
    private func askLatency(_ kind: Kind) {
        let problem = MultiObjectiveProblem.zdt1()
        let objectives = [Objective(name: "f1", mode: .min), Objective(name: "f2", mode: .min)]
        var base = makeSearcher(SearcherSpec(kind: kind.spec, seed: 0), space: problem.space, mode: .min, repeats: 1, objectives: objectives)
        var history: [Evaluation] = []
        for _ in 0..<1000 {
            guard case .config(let config) = base.suggest(pending: []) else { break }
            let values = problem.evaluate(config).values
            let evaluation = Evaluation(config: config, state: .complete, value: values[0], values: values)
            base.observe(evaluation)
            history.append(evaluation)
        }
        var times: [Double] = [], cpu: [Double] = []
        for _ in 0..<21 {
            let (wall, thread) = (milliseconds(CLOCK_MONOTONIC), milliseconds(CLOCK_THREAD_CPUTIME_ID))
            let suggestion = base.suggest(pending: [])
            times.append(milliseconds(CLOCK_MONOTONIC) - wall)
            cpu.append(milliseconds(CLOCK_THREAD_CPUTIME_ID) - thread)
            guard case .config(let config) = suggestion else { break }
            base.observe(Evaluation(config: config, state: .failed, value: nil))
        }
        Console.line(String(format: "ask %@: 1000 trials of zdt1 (30 dims): median %.3f ms (CPU %.3f ms) over 21 asks", kind.rawValue, median(times), median(cpu)))
        var json = JSONObjectWriter()
        json.add("bench", "multiobjective_ask")
        json.add("searcher", kind.rawValue)
        json.add("history", history.count)
        json.add("median_ms", (median(times) * 1000).rounded() / 1000)
        json.add("median_cpu_ms", (median(cpu) * 1000).rounded() / 1000)
        Console.line(String(decoding: json.finish(), as: UTF8.self))
    }
}

