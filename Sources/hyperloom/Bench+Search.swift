import ArgumentParser
import Foundation
import LoomBench
import LoomModel
import LoomSearch
import LoomWire

/// The searcher names the search benchmarks take.
enum BenchSearcher: String, ExpressibleByArgument, CaseIterable {
    case random, quasiRandom = "quasi_random", tpe, gp, bohb

    var kind: SearcherSpec.Kind {
        switch self {
        case .random: .random
        case .quasiRandom: .quasiRandom
        case .tpe: .tpe
        case .gp: .gp
        case .bohb: .bohb
        }
    }

    /// The searcher with its defaults; `modelOnly` sets `random_fraction: 0` for the model-based
    /// ones, so that every timed proposal is a model proposal (the ask benchmark times copies of
    /// one searcher, which all take the same random-or-model decision).
    func make(space: SearchSpace, seed: UInt64, modelOnly: Bool = false) -> any Searcher {
        var spec = SearcherSpec(kind: kind, seed: seed)
        if modelOnly && kind.isModelBased { spec.options.randomFraction = 0 }
        return makeSearcher(spec, space: space, mode: .min, repeats: 1)
    }
}

/// Parses "100,1000,10000".
func integerList(_ text: String) throws -> [Int] {
    try text.split(separator: ",").map { part in
        guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 0 else {
            throw ValidationError("expected a comma-separated list of non-negative integers, found \"\(text)\"")
        }
        return n
    }
}

/// Median ask latency of a searcher against a restored history of complete trials.
struct AskBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Median time of one suggestion per searcher and history size (complete trials, uniform floats); wall and thread CPU time.")

    @Option(parsing: .upToNextOption, help: "Searchers: random, quasi_random, tpe, gp, bohb.")
    var searcher: [BenchSearcher] = [.tpe, .gp, .random]

    @Option(help: "Comma-separated history sizes (complete trials).")
    var history = "100,200,1000,10000"

    @Option(help: "Dimensions of the space (uniform floats).")
    var dims = 10

    @Option(help: "Suggestions timed per figure; the median is reported.")
    var repeats = 21

    @Option(help: "Seed of the history and the searcher.")
    var seed: UInt64 = 1

    func validate() throws {
        _ = try integerList(history)
        guard dims >= 1, repeats >= 1 else { throw ValidationError("--dims and --repeats must be at least 1") }
    }

    func run() throws {
        let sizes = try integerList(history)
        let function = BenchmarkFunction.sphere(dims)
        var generator = Xoshiro256StarStar(seed: seed)
        let largest = sizes.max() ?? 0
        let configs = (0..<largest).map { _ in config(from: (0..<dims).map { _ in generator.unit() }, in: function.space) }
        let outcomes: [TrialOutcome] = configs.map { (config: $0, value: function.evaluate($0), state: .complete) }
        for kind in searcher {
            for size in sizes {
                var base = kind.make(space: function.space, seed: seed, modelOnly: true)
                base.restore(history: Array(outcomes.prefix(size)))
                var times: [Double] = []
                var cpuTimes: [Double] = []
                for _ in 0..<repeats {
                    var copy = base
                    let (wall, cpu) = (milliseconds(CLOCK_MONOTONIC), milliseconds(CLOCK_THREAD_CPUTIME_ID))
                    _ = copy.suggest(pending: [])
                    times.append(milliseconds(CLOCK_MONOTONIC) - wall)
                    cpuTimes.append(milliseconds(CLOCK_THREAD_CPUTIME_ID) - cpu)
                }
                let median = times.sorted()[times.count / 2]
                let cpuMedian = cpuTimes.sorted()[cpuTimes.count / 2]
                Console.line(String(format: "ask %@: %d trials, %d dims: median %.3f ms (CPU %.3f ms) over %d asks",
                                    kind.rawValue, size, dims, median, cpuMedian, repeats))
                var json = JSONObjectWriter()
                json.add("bench", "ask")
                json.add("searcher", kind.rawValue)
                json.add("history", size)
                json.add("dims", dims)
                json.add("median_ms", (median * 1000).rounded() / 1000)
                json.add("median_cpu_ms", (cpuMedian * 1000).rounded() / 1000)
                json.add("repeats", repeats)
                Console.line(String(decoding: json.finish(), as: UTF8.self))
            }
        }
    }
}

/// A clock's reading in milliseconds: `CLOCK_MONOTONIC` for wall time, `CLOCK_THREAD_CPUTIME_ID`
/// for the CPU time of this thread, which a loaded machine (other processes' turns) does not inflate.
func milliseconds(_ clock: clockid_t) -> Double {
    var time = timespec()
    clock_gettime(clock, &time)
    return Double(time.tv_sec) * 1e3 + Double(time.tv_nsec) * 1e-6
}

/// Median simple regret of each searcher on standard synthetic functions.
struct EfficiencyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "efficiency",
        abstract: "Median simple regret over seeds at given trial counts, per function and searcher (sequential trials).")

    @Option(parsing: .upToNextOption, help: "Searchers: random, quasi_random, tpe, gp, bohb.")
    var searcher: [BenchSearcher] = [.random, .quasiRandom, .tpe, .gp]

    @Option(help: "Comma-separated functions: \(BenchmarkFunction.standard.map(\.name).joined(separator: ", ")).")
    var functions = BenchmarkFunction.standard.map(\.name).joined(separator: ",")

    @Option(help: "Number of seeds: firstSeed..<firstSeed + seeds.")
    var seeds = 30

    @Option(name: .customLong("first-seed"), help: "The first seed (check on seeds other than the default 0..<seeds).")
    var firstSeed = 0

    @Option(help: "Comma-separated trial counts at which the regret is read.")
    var at = "25,50,100"

    @Option(help: "Seeds run at once (the figures do not depend on it); the processor count by default.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(parsing: .upToNextOption, help: "JSON lines of reference runs on the same seeds (Docs/benchmarks/optuna_efficiency.py's output), one file per reference: each searcher is compared with each, cell by cell.")
    var against: [String] = []

    func validate() throws {
        guard seeds >= 1, firstSeed >= 0, threads >= 1 else { throw ValidationError("--seeds and --threads must be at least 1 and --first-seed at least 0") }
        guard try integerList(at).allSatisfy({ $0 >= 1 }) else { throw ValidationError("--at takes positive trial counts") }
        for name in functions.split(separator: ",") where !BenchmarkFunction.standard.contains(where: { $0.name == name }) {
            throw ValidationError("unknown function \"\(name)\"; expected one of \(BenchmarkFunction.standard.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        let checkpoints = try integerList(at)
        let trials = checkpoints.max() ?? 0
        let chosen = functions.split(separator: ",").compactMap { name in BenchmarkFunction.standard.first { $0.name == name } }
        let references = try against.map { try ReferenceSamples(path: $0, seeds: seeds, firstSeed: firstSeed) }
        var table: [EfficiencyCell: [Double]] = [:]
        Console.line("median simple regret over seeds \(firstSeed)..<\(firstSeed + seeds) at \(checkpoints.map(String.init).joined(separator: "/")) trials")
        for function in chosen {
            for kind in searcher {
                let traces = SeedTraces(count: seeds)
                let (first, width) = (firstSeed, max(1, threads))
                // Seeds are independent: `width` threads take every width-th seed, each into its own slot.
                DispatchQueue.concurrentPerform(iterations: min(width, seeds)) { lane in
                    for index in stride(from: lane, to: seeds, by: width) {
                        var instance = kind.make(space: function.space, seed: UInt64(first + index))
                        traces.set(index, bestValues(of: &instance, on: function, trials: trials))
                    }
                }
                let regrets = checkpoints.map { at in traces.all.map { $0[at - 1] - function.minimum } }
                let medians = regrets.map(median)
                for (i, at) in checkpoints.enumerated() { table[EfficiencyCell(function: function.name, trials: at, searcher: kind.rawValue)] = regrets[i] }
                let row = medians.map { String(format: "%10.4f", $0) }.joined(separator: " ")
                Console.line("\(Self.rowLabel(function.name, kind)) \(row)")
                for (i, (at, value)) in zip(checkpoints, medians).enumerated() {
                    var json = JSONObjectWriter()
                    json.add("bench", "efficiency")
                    json.add("function", function.name)
                    json.add("searcher", kind.rawValue)
                    json.add("trials", at)
                    json.add("seeds", seeds)
                    json.add("first_seed", firstSeed)
                    json.add("median_regret", value)
                    json.addRaw("regrets", json: JSONValue.array(regrets[i].map { .number($0) }).jsonBytes ?? Array("[]".utf8))
                    Console.line(String(decoding: json.finish(), as: UTF8.self))
                }
            }
        }
        for reference in references { compare(table, with: reference, functions: chosen.map(\.name), checkpoints: checkpoints) }
    }

    /// A table row's function and searcher columns.
    private static func rowLabel(_ function: String, _ kind: BenchSearcher) -> String {
        "\(function.padding(toLength: 10, withPad: " ", startingAt: 0)) \(kind.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0))"
    }

    /// Prints each searcher's median next to the reference's, cell by cell, with a one-sided
    /// rank-sum test of the per-seed regrets: a cell is **worse** when ours are larger with
    /// p < `significance`, **better** when smaller with p < `significance`, else **tied** (no
    /// difference the seeds can show). One JSON line per searcher with the counts.
    private func compare(_ table: [EfficiencyCell: [Double]], with reference: ReferenceSamples, functions: [String], checkpoints: [Int]) {
        let significance = 0.05
        Console.line("against \(reference.name) (\(reference.path)), same seeds: medians, then the rank-sum test of the per-seed regrets (one-sided, p < \(significance))")
        for kind in searcher {
            var counts = (cells: 0, lowerMedian: 0, better: 0, tied: 0, worse: 0)
            var worse: [String] = []
            var higherMedian: [String] = []
            for function in functions {
                var row: [String] = []
                for at in checkpoints {
                    guard let ours = table[EfficiencyCell(function: function, trials: at, searcher: kind.rawValue)],
                          let theirs = reference.samples[EfficiencyCell(function: function, trials: at, searcher: reference.name)] else {
                        row.append("(no reference at \(at))")
                        continue
                    }
                    counts.cells += 1
                    let (ourMedian, theirMedian) = (median(ours), median(theirs))
                    if ourMedian <= theirMedian { counts.lowerMedian += 1 } else { higherMedian.append("\(function)@\(at)") }
                    var verdict = "tied"
                    if let test = RankSumTest(ours, theirs) {
                        if test.pLarger < significance {
                            verdict = String(format: "WORSE p=%.3f", test.pLarger)
                            counts.worse += 1
                            worse.append("\(function)@\(at)")
                        } else if test.pSmaller < significance {
                            verdict = String(format: "better p=%.3g", test.pSmaller)
                            counts.better += 1
                        } else {
                            verdict = String(format: "tied p=%.2f", min(test.pLarger, test.pSmaller))
                            counts.tied += 1
                        }
                    } else {
                        counts.tied += 1
                    }
                    row.append(String(format: "%.4g vs %.4g %@", ourMedian, theirMedian, verdict))
                }
                Console.line("\(Self.rowLabel(function, kind)) \(row.joined(separator: " | "))")
            }
            Console.line("\(kind.rawValue) against \(reference.name): median at least as low in \(counts.lowerMedian) of \(counts.cells) cells"
                         + (higherMedian.isEmpty ? "" : " (higher at \(higherMedian.joined(separator: ", ")))")
                         + "; significantly better in \(counts.better), tied in \(counts.tied), significantly worse in \(counts.worse)"
                         + (worse.isEmpty ? "" : " (\(worse.joined(separator: ", ")))"))
            var json = JSONObjectWriter()
            json.add("bench", "efficiency_against")
            json.add("searcher", kind.rawValue)
            json.add("reference", reference.name)
            json.add("seeds", seeds)
            json.add("first_seed", firstSeed)
            json.add("cells", counts.cells)
            json.add("median_at_least_as_low", counts.lowerMedian)
            json.add("significantly_better", counts.better)
            json.add("tied", counts.tied)
            json.add("significantly_worse", counts.worse)
            Console.line(String(decoding: json.finish(), as: UTF8.self))
        }
    }
}

/// The best-so-far traces of a benchmark's seeds, filled from several threads.
final class SeedTraces: @unchecked Sendable {
    private let lock = NSLock()
    private var traces: [[Double]]

    init(count: Int) { traces = Array(repeating: [], count: count) }

    func set(_ index: Int, _ trace: [Double]) { lock.withLock { traces[index] = trace } }

    var all: [[Double]] { lock.withLock { traces } }
}

/// One median of the efficiency table.
struct EfficiencyCell: Hashable {
    let function: String
    let trials: Int
    let searcher: String
}

/// The per-seed figures of a reference run, read from its JSON lines (`optuna_efficiency.py`'s
/// regrets, `optuna_multiobjective.py`'s hypervolumes), which must be over the same seeds.
struct ReferenceSamples {
    let path: String
    let name: String
    /// The samples by cell (`EfficiencyCell.function` holds the line's `cellKey`).
    let samples: [EfficiencyCell: [Double]]

    /// Lines whose `bench` is `bench`; each names its cell by `cellKey` and holds the per-seed
    /// array under `sampleKey`.
    init(path: String, seeds: Int, firstSeed: Int, bench: String = "efficiency", cellKey: String = "function",
         sampleKey: String = "regrets") throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--against: cannot read \(path)")
        }
        var samples: [EfficiencyCell: [Double]] = [:]
        var names: Set<String> = []
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() where line.hasPrefix("{") {
            guard let object = (try? JSONValue(parsing: String(line)))?.object else {
                throw ValidationError("--against: \(path) line \(number + 1) is not a JSON object")
            }
            guard object["bench"]?.argument == bench else { continue }
            guard let cell = object[cellKey]?.argument, let searcher = object["searcher"]?.argument,
                  let trials = object["trials"]?.double, case .array(let values)? = object[sampleKey],
                  let theirSeeds = object["seeds"]?.double, let theirFirst = object["first_seed"]?.double else {
                throw ValidationError("--against: \(path) line \(number + 1) lacks \(cellKey), searcher, trials, seeds, first_seed or \(sampleKey) (the per-seed array)")
            }
            guard Int(theirSeeds) == seeds, Int(theirFirst) == firstSeed else {
                throw ValidationError("--against: \(path) is over seeds \(Int(theirFirst))..<\(Int(theirFirst + theirSeeds)), this run over \(firstSeed)..<\(firstSeed + seeds)")
            }
            let sample = values.compactMap(\.double)
            guard sample.count == seeds else {
                throw ValidationError("--against: \(path) line \(number + 1) has \(sample.count) \(sampleKey) for \(seeds) seeds")
            }
            names.insert(searcher)
            samples[EfficiencyCell(function: cell, trials: Int(trials), searcher: searcher)] = sample
        }
        guard names.count == 1, let name = names.first else {
            throw ValidationError("--against: \(path) must hold the runs of exactly one searcher, found \(names.isEmpty ? "none" : names.sorted().joined(separator: ", "))")
        }
        self.path = path
        self.name = name
        self.samples = samples
    }
}

/// The median (mean of the two middle values for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
