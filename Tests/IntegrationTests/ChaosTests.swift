import Foundation
import LoomModel
import LoomStore
import LoomWire
import Testing

/// Every process of the fabric is SIGKILLed while a study of short checkpointing trials runs:
/// workers every ~2 s (and restarted), the broker twice, the optimizer once. Nothing may be lost
/// or counted twice, and every retried attempt must resume from its trial's last checkpoint.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct Chaos {
    static let trials = 300
    static let steps = 6
    static let workerCount = 6

    /// The trial: `steps` steps of `ChaosAudit.step` seconds, a checkpoint (its step counter) after each, resuming
    /// from the checkpoint directory; every metric line says at which step the attempt resumed.
    static let script = """
        dir="$HYPERLOOM_CHECKPOINT_DIR"
        step=0
        if [ -f "$dir/step" ]; then step=$(cat "$dir/step"); fi
        resumed=$step
        while [ $step -lt $1 ]; do
          sleep \(ChaosAudit.step)
          step=$((step + 1))
          echo $step > "$dir/step.tmp" && mv "$dir/step.tmp" "$dir/step"
          echo "@hyperloom {\\"step\\": $step, \\"resumed_at\\": $resumed, \\"checkpoint\\": true}"
        done
        echo "@hyperloom {\\"loss\\": $2, \\"step\\": $step, \\"resumed_at\\": $resumed}"
        """

    @Test func everyProcessKilledLosesNoResultAndNoCheckpointedWork() throws {
        let dir = Harness.scratch.appendingPathComponent("chaos-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let scriptPath = dir.appendingPathComponent("trial.sh").path
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let specPath = dir.appendingPathComponent("chaos.yaml").path
        try """
            name: chaos
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: {type: random, seed: 11}
            trial:
              command: ["/bin/sh", "\(scriptPath)", "\(Self.steps)", "{x}"]
              max_retries: 30
              checkpointing: true
            budget:
              max_trials: \(Self.trials)
              max_concurrent: \(Self.workerCount * 2)
            """.write(toFile: specPath, atomically: true, encoding: .utf8)

        let brokerArguments = ["--recovery-window", "2s"]
        var (broker, endpoint, feed) = try Harness.broker(extra: brokerArguments)
        let (port, feedPort) = (Harness.port(of: endpoint), Harness.port(of: feed))
        let store = dir.appendingPathComponent("chaos.db").path
        func startOptimizer() throws -> Spawned {
            try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--log-level", "warning"])
        }
        var optimizer = try startOptimizer()
        func startWorker(_ n: Int) throws -> Spawned {
            try Harness.worker("chaos\(n)", broker: endpoint, slots: 2, extra: ["--log-level", "warning"])
        }
        var workers = try (0..<Self.workerCount).map(startWorker)
        defer {
            workers.forEach { $0.stop() }
            optimizer.stop()
            broker.stop()
        }

        let submitted = try Harness.run([Harness.binary.path, "submit", specPath, "--broker", endpoint])
        try #require(submitted.status == 0, "\(submitted.output)\n\(optimizer.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)

        // The chaos: a random worker every 2 s, the broker at 3 s and 13 s, the optimizer at 8 s.
        var random = SplitMix(seed: 42)
        var kills = (workers: 0, broker: 0, optimizer: 0)
        var infrastructureKills: [Double] = []
        let start = ContinuousClock.now
        var nextWorkerKill = start + .seconds(2)
        var brokerKills = [start + .seconds(3), start + .seconds(13)]
        var optimizerKill: ContinuousClock.Instant? = start + .seconds(8)
        let reader = try SQLiteStore(path: store, readOnly: true)
        var finished = false
        while ContinuousClock.now < start + .seconds(200) {
            let now = ContinuousClock.now
            if now >= nextWorkerKill {
                let n = Int(random.next() % UInt64(Self.workerCount))
                workers[n].signal(SIGKILL)
                workers[n].waitForExit()
                workers[n] = try startWorker(n)
                kills.workers += 1
                nextWorkerKill = now + .seconds(2)
            }
            if let at = brokerKills.first, now >= at {
                brokerKills.removeFirst()
                broker.signal(SIGKILL)
                broker.waitForExit()
                infrastructureKills.append(Date().timeIntervalSince1970)
                (broker, _, _) = try Harness.broker(port: port, feedPort: feedPort, extra: brokerArguments)
                kills.broker += 1
            }
            if let at = optimizerKill, now >= at {
                optimizerKill = nil
                optimizer.signal(SIGKILL)
                optimizer.waitForExit()
                infrastructureKills.append(Date().timeIntervalSince1970)
                optimizer = try startOptimizer()
                kills.optimizer += 1
            }
            if brokerKills.isEmpty, optimizerKill == nil, let record = try? reader.study(study), record.state != .running {
                finished = true
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let elapsed = start.duration(to: .now)
        try #require(finished, "the study did not end within 200 s\noptimizer:\n\(optimizer.output.suffix(4000))")

        let audit = try ChaosAudit(store: reader, study: study, infrastructureKills: infrastructureKills)
        let summary = "chaos: trials=\(audit.trials) kills=\(kills.workers + kills.broker + kills.optimizer) "
            + "retries=\(audit.retries) lost=\(audit.lost.count) duplicates=\(audit.duplicates.count)"
        print(summary + " (workers \(kills.workers), broker \(kills.broker), optimizer \(kills.optimizer); "
              + "\(audit.resumed) attempts resumed from a checkpoint; most steps lost by one attempt: \(audit.mostStepsLost), "
              + "longest upload \(audit.longestUpload) s, "
              + "\(audit.doubleFaults.count) of them right after a broker or optimizer kill; \(elapsed))")
        #expect(try reader.study(study)?.state == .complete)
        #expect(audit.trials == Self.trials)
        #expect(audit.unfinished.isEmpty, "trials not terminal: \(audit.unfinished)")
        #expect(audit.failed.isEmpty, "failed trials: \(audit.failed)")
        #expect(audit.lost.isEmpty, "attempts that did not resume from their trial's newest stored checkpoint: \(audit.lost.prefix(20))")
        #expect(audit.overInterval.isEmpty, "attempts that lost more than one checkpoint interval to a worker kill alone: \(audit.overInterval.prefix(20))")
        #expect(audit.duplicates.isEmpty, "trials with more than one recorded result: \(audit.duplicates)")
        #expect(audit.wrongValues.isEmpty, "values that are not the trial's own: \(audit.wrongValues.prefix(20))")
        #expect(kills.broker == 2 && kills.optimizer == 1 && kills.workers >= 5)
        #expect(audit.resumed > 0, "no attempt resumed from a checkpoint: the kills missed every trial")
    }
}

/// What the store says about a chaos study, trial by trial.
struct ChaosAudit {
    var trials = 0
    var retries = 0
    /// Attempts that resumed from a stored checkpoint (resumed_at > 0).
    var resumed = 0
    var unfinished: [Int] = []
    var failed: [String] = []
    /// Attempts that resumed from an older checkpoint than the newest one stored for their trial
    /// before they started: stored (acknowledged) work lost. Must be empty.
    var lost: [String] = []
    /// Attempts that lost more than one checkpoint interval (one step) plus the upload time of
    /// the checkpoints in flight (the longest upload the attempt before them saw, in steps) of
    /// what that attempt had reported, when no broker or optimizer kill happened meanwhile: a
    /// worker kill alone loses no more. Must be empty.
    var overInterval: [String] = []
    /// The longest time between a checkpoint's report and its being stored, in seconds.
    var longestUpload = 0.0
    /// Those that did lose more, right after a broker or optimizer kill had stalled the upload
    /// of the checkpoint in flight (a double fault; reported, not a failure).
    var doubleFaults: [String] = []
    var mostStepsLost = 0
    /// Trials with more than one completed attempt recorded.
    var duplicates: [Int] = []
    var wrongValues: [String] = []

    /// One step of the chaos trial, in seconds: a checkpoint stored less than this before an
    /// attempt's first report may have been stored after its restore began.
    static let step = 0.2

    init(store: SQLiteStore, study: String, infrastructureKills: [Double]) throws {
        for trial in try store.trials(study: study) {
            trials += 1
            retries += max(0, trial.attempts - 1)
            guard trial.state.isFinished else {
                unfinished.append(trial.number)
                continue
            }
            if trial.state != .complete { failed.append("\(trial.number): \(trial.state.rawValue) \(trial.error ?? "")") }
            let attempts = try store.attempts(study: study, trial: trial.number)
            if attempts.filter({ $0.state == .complete }).count > 1 { duplicates.append(trial.number) }
            if trial.state == .complete, let x = trial.config["x"]?.double, let value = trial.value, abs(value - x) > 1e-9 {
                wrongValues.append("\(trial.number): value \(value), x \(x)")
            }
            audit(trial.number, reports: try store.reports(study: study, trial: trial.number), infrastructureKills: infrastructureKills)
        }
    }

    /// Checks each attempt's resume point against what earlier attempts stored and reported.
    mutating func audit(_ trial: Int, reports: [ReportRecord], infrastructureKills: [Double]) {
        func step(_ report: ReportRecord) -> Int { report.metrics.object?["step"]?.double.map(Int.init) ?? 0 }
        for attempt in Set(reports.map(\.attempt)).sorted() where attempt > 1 {
            let mine = reports.filter { $0.attempt == attempt }.sorted { $0.time < $1.time }
            let earlier = reports.filter { $0.attempt < attempt }
            guard let first = mine.first, let resumedAt = first.metrics.object?["resumed_at"]?.double.map(Int.init),
                  let lastEarlier = earlier.map(\.time).max() else { continue }
            if resumedAt > 0 { resumed += 1 }
            // A checkpoint row with `checkpoint_error` was not kept (superseded, refused, given up).
            let stored = earlier.filter { $0.kind == "checkpoint" && $0.metrics.object?["checkpoint_error"] == nil && $0.time < first.time - 2 * Self.step }
                .map(step).max() ?? 0
            let reported = earlier.map(step).max() ?? 0
            let where_ = "trial \(trial) attempt \(attempt) resumed at \(resumedAt); checkpoint \(stored) was stored, step \(reported) reported, "
                + "longest upload \(Self.longestUpload(earlier)) s"
            if resumedAt < stored { lost.append(where_) }
            let stepsLost = reported - resumedAt
            mostStepsLost = max(mostStepsLost, stepsLost)
            let upload = Self.longestUpload(earlier)
            longestUpload = max(longestUpload, upload)
            guard stepsLost > 1 + Int((upload / Self.step).rounded(.up)) else { continue }
            if infrastructureKills.contains(where: { $0 >= lastEarlier - 5 && $0 <= first.time }) {
                doubleFaults.append(where_)
            } else {
                overInterval.append(where_)
            }
        }
    }
}

extension ChaosAudit {
    /// The longest delay between a step's REPORT and its CHECKPOINT being stored, in seconds.
    static func longestUpload(_ reports: [ReportRecord]) -> Double {
        func step(_ report: ReportRecord) -> Int { report.metrics.object?["step"]?.double.map(Int.init) ?? 0 }
        var reported: [String: Double] = [:]
        for report in reports where report.kind == "report" { reported["\(report.attempt)/\(step(report))"] = report.time }
        return reports.filter { $0.kind == "checkpoint" }
            .compactMap { checkpoint in reported["\(checkpoint.attempt)/\(step(checkpoint))"].map { checkpoint.time - $0 } }
            .max() ?? 0
    }
}

/// A small seeded generator, so a failing chaos run's kill order can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
