import ArgumentParser
import Foundation
import LoomBench
import Logging
import LoomModel

/// `hyperloom bench chaos`: a seeded fault schedule over a real broker, optimizer, workers and
/// logger; checks S1–S6 and L1 (Docs/reliability.md, "The chaos bench"). The machinery is
/// `LoomBench.ChaosRun`.
struct ChaosBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Kill, freeze and restart every process of a real fabric on a seeded schedule; check no result is lost or counted twice.",
        discussion: """
            Prints the schedule, each fault as it strikes, every violation, then one line: \
            seed=S trials=… kills=… retries=… lost=… duplicates=… hung=… violations=…. Exits 1 on any violation. \
            The same seed, duration and worker count give the same schedule (--schedule prints it and exits).
            """)

    @Option(help: "The seed of the fault schedule (and of the study's searcher).")
    var seed: UInt64 = 1

    @Option(help: "How long the fault schedule runs (then everything heals and the study must end within the L1 bound).")
    var duration = "60s"

    @Option(help: "Worker processes (2 slots each).")
    var workers = 3

    @Flag(help: "Print the schedule and exit.")
    var schedule = false

    @Flag(help: "Keep the run's data directory (logs, store, journals, feed file); a failing run always keeps it.")
    var keep = false

    @Option(help: "Check again the data directory a run kept (no processes are started).")
    var recheck: String?

    @OptionGroup var logging: BenchLogging

    var seconds: Double { SpecParser.parseDuration(duration) ?? 0 }

    func validate() throws {
        guard seconds >= 5 else { throw ValidationError("--duration: expected a duration of at least 5s, such as 60s or 2m, found \(duration)") }
        guard (1...16).contains(workers) else { throw ValidationError("--workers must be 1 … 16, found \(workers)") }
    }

    func run() throws {
        logging.options.bootstrap(default: .warning)
        if let recheck {
            let (check, seed): (ChaosCheck, UInt64)
            do {
                (check, seed) = try ChaosRun.recheck(URL(fileURLWithPath: recheck))
            } catch {
                Console.error("error: \(recheck): \(error)")
                throw ExitCode.failure
            }
            for line in check.violations { Console.line(line) }
            Console.line(check.summary(seed: seed, kills: 0))
            if !check.violations.isEmpty { throw ExitCode.failure }
            return
        }
        var config = ChaosRun.Config(seed: seed, duration: seconds, executable: ChildProcess.currentExecutable,
                                     directory: FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-chaos-\(getpid())-\(seed)"))
        config.workers = workers
        config.keep = keep
        let run = ChaosRun(config) { Console.line($0) }
        Console.line("chaos: seed \(seed), \(run.schedule.faults.count) faults (\(run.schedule.multiple) on several processes at once):")
        for fault in run.schedule.faults { Console.line("  \(fault)") }
        if schedule { return }
        let outcome: ChaosRun.Outcome
        do {
            outcome = try run.run()
        } catch {
            Console.error("error: \(error)")
            throw ExitCode.failure
        }
        for line in outcome.details { Console.line(line) }
        Console.line(outcome.summary)
        if outcome.violations > 0 { throw ExitCode.failure }
    }
}
