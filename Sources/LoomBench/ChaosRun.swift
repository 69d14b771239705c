import Foundation
import LoomClient
import LoomModel
import LoomStore

/// One run of `hyperloom bench chaos`: start the fabric, submit a study of checkpointing trials,
/// carry out the seed's fault schedule, heal, wait (bounded) for the study to end, and check
/// S1–S6 and L1 from the trials' journals, the store and the logger's file.
///
/// **Liveness (L1).** After the last fault has healed, the study must end within
/// `bound = 30 s + trials × steps × step / slots` (its whole fault-free work, plus 30 s for the
/// recovery window, heartbeats and resend intervals).
public final class ChaosRun {
    public struct Config: Sendable {
        public var seed: UInt64
        /// Seconds the fault schedule spans.
        public var duration: Double
        public var workers = 3
        public var slots = 2
        /// Steps of a trial, and seconds per step.
        public var steps = 6
        public var step = 0.25
        /// The `hyperloom` executable to start.
        public var executable: String
        /// Where every process keeps its data (created; removed afterwards unless `keep`).
        public var directory: URL
        public var keep = false

        public init(seed: UInt64, duration: Double, executable: String, directory: URL) {
            self.seed = seed
            self.duration = duration
            self.executable = executable
            self.directory = directory
        }

        /// Trials enough to keep every slot busy for the whole schedule.
        public var trials: Int { max(12, Int((duration * Double(workers * slots) / (Double(steps) * step)).rounded(.up))) }
        /// The L1 bound, in seconds after the last fault healed.
        public var bound: Double { 30 + Double(trials * steps) * step / Double(workers * slots) }
    }

    /// What a run found.
    public struct Outcome: Sendable {
        public var check: ChaosCheck
        /// Processes signalled (a fault on three processes counts three).
        public var kills: Int
        /// Violations and notes, one per line, for above the summary.
        public var details: [String]
        public var summary: String
        /// Processes that exited without being killed (each also a violation).
        public var crashes: Int
        public var violations: Int { check.violations.count + crashes }
    }

    public let config: Config
    public let schedule: ChaosSchedule
    private let say: (String) -> Void

    /// `say` receives progress lines (the schedule, each fault as it strikes).
    public init(_ config: Config, say: @escaping (String) -> Void) {
        self.config = config
        schedule = ChaosSchedule(seed: config.seed, duration: config.duration, workers: config.workers)
        self.say = say
    }

    public func run() throws -> Outcome {
        let directory = config.directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A failed run's data stays for inspection.
        var preserve = config.keep
        defer { if !preserve { try? FileManager.default.removeItem(at: directory) } }
        let journals = directory.appendingPathComponent("journals")
        try FileManager.default.createDirectory(at: journals, withIntermediateDirectories: true)
        let fabric = try ChaosFabric(directory: directory, executable: config.executable, workers: config.workers, slots: config.slots)
        defer { fabric.stopAll() }
        try fabric.startAll()
        let feed = try FeedSubscriber(endpoint: fabric.feed, topics: ["job/"], start: .now, replayEndpoint: fabric.replay)
        defer { feed.close() }
        let study = try submit(fabric, journals: journals)
        say("chaos: study \(study), \(config.trials) trials of \(config.steps) steps × \(config.step) s on \(config.workers) workers × "
            + "\(config.slots) slots; \(schedule.faults.count) faults over \(config.duration) s; L1 bound \(Int(config.bound)) s after healing")

        let executor = ChaosExecutor(fabric: fabric, feed: feed, say: say)
        try executor.carryOut(schedule)
        let healed = ContinuousClock.now
        let reader = try SQLiteStore(path: fabric.store, readOnly: true)
        var ended = false
        while ContinuousClock.now < healed + .seconds(config.bound) {
            if let record = try? reader.study(study), record.state != .running {
                ended = true
                break
            }
            try executor.idle(for: 0.25)
        }
        say("chaos: the study \(ended ? "ended \(Self.seconds(healed.duration(to: .now))) after healing" : "did not end within the bound")")
        let waitEnded = Date().timeIntervalSince1970
        executor.awaitLogger(fabric.feedLog, timeout: 20)
        fabric.stopAll()

        let events = try ChaosFeedEvent.read(fabric.feedLog)
        if !ended { say(Self.progress(events, before: waitEnded)) }
        let evidence = try ChaosEvidence(study: study, store: reader, endedInBound: ended, feed: events,
                                         journals: ChaosTrial.journals(in: journals))
        let check = ChaosCheck(evidence)
        let kills = executor.kills
        let details = check.violations + fabric.crashes.map { "crash: \($0)" }
        let summary = check.summary(seed: config.seed, kills: kills, crashes: fabric.crashes.count)
        preserve = preserve || !details.isEmpty
        if preserve { say("chaos: the run's data (logs, store, journals, feed file) is in \(directory.path)") }
        return Outcome(check: check, kills: kills, details: details, summary: summary, crashes: fabric.crashes.count)
    }

    /// Whether a study that missed the L1 bound was still making progress at its end: on a loaded
    /// machine the fault-free work the bound allows for takes longer (a slow study, not a hung one).
    static func progress(_ events: [ChaosFeedEvent], before end: Double) -> String {
        let recent = events.filter { $0.event == "finished" && $0.time >= end - 10 && $0.time <= end }.count
        return recent > 0
            ? "chaos: \(recent) results were published in the last 10 s of the wait: the study was still progressing (slow, not stalled)"
            : "chaos: no result was published in the last 10 s of the wait: the study stalled"
    }

    /// Checks again what a kept run directory holds (after the checks changed); L1 counts as
    /// met when the study ended.
    public static func recheck(_ directory: URL) throws -> (check: ChaosCheck, seed: UInt64) {
        let store = try SQLiteStore(path: directory.appendingPathComponent("optimizer/study.db").path, readOnly: true)
        guard let study = try store.studies().first else { throw BenchError("no study in \(directory.path)") }
        let events = try ChaosFeedEvent.read(directory.appendingPathComponent("logger/feed.jsonl").path)
        let evidence = try ChaosEvidence(study: study.id, store: store, endedInBound: study.state != .running, feed: events,
                                         journals: ChaosTrial.journals(in: directory.appendingPathComponent("journals")))
        // The study is named chaos-<seed>.
        return (ChaosCheck(evidence), UInt64(study.name.split(separator: "-").last ?? "") ?? 0)
    }

    /// Writes the trial and the spec, submits the study (the optimizer may take a moment to
    /// register with the broker) and returns its id.
    func submit(_ fabric: ChaosFabric, journals: URL) throws -> String {
        let script = fabric.directory.appendingPathComponent("trial.sh")
        try ChaosTrial.script.write(to: script, atomically: true, encoding: .utf8)
        let spec = fabric.directory.appendingPathComponent("chaos.yaml")
        try """
            name: chaos-\(config.seed)
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: {type: random, seed: \(config.seed)}
            trial:
              command: ["/bin/sh", "\(script.path)", "\(config.steps)", "\(config.step)", "{x}", "\(journals.path)"]
              max_retries: 1000
              quarantine_after: 0
              checkpointing: true
            budget:
              max_trials: \(config.trials)
              max_concurrent: \(config.workers * config.slots)
            """.write(to: spec, atomically: true, encoding: .utf8)
        var last = ""
        for attempt in 1...5 {
            let submit = try ChildProcess("submit", executable: config.executable,
                                          arguments: ["submit", spec.path, "--broker", fabric.endpoint, "--timeout", "20s"],
                                          log: fabric.directory.appendingPathComponent("logs/submit-\(attempt).log"))
            submit.waitForExit(timeout: .seconds(40))
            last = submit.output
            if submit.exitStatus == 0, let id = last.split(separator: "\n").last.map(String.init), !id.isEmpty { return id }
            Thread.sleep(forTimeInterval: 1)
        }
        throw BenchError("the study could not be submitted: \(last.suffix(1000))")
    }

    static func seconds(_ duration: Duration) -> String {
        let (s, atto) = duration.components
        return String(format: "%.1f s", Double(s) + Double(atto) / 1e18)
    }
}
