import Foundation
import LoomModel
import LoomStore
import LoomWire
import Testing

/// Checkpoints and retries through real processes: the shared-filesystem mode, the size limit,
/// and the quarantine of a trial that takes its workers down.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct Checkpoints {
    /// Broker, optimizer (with its store) and workers for one test; stopped by `stop()`.
    final class Fabric {
        let dir: URL
        let broker: Spawned
        let endpoint: String
        let optimizer: Spawned
        let store: String
        var workers: [String: Spawned] = [:]
        let workerArguments: [String]

        init(_ name: String, workerArguments: [String] = []) throws {
            dir = Harness.scratch.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            (broker, endpoint, _) = try Harness.broker()
            store = dir.appendingPathComponent("store.db").path
            optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store])
            self.workerArguments = workerArguments
        }

        func startWorker(_ id: String) throws {
            workers[id] = try Harness.worker(id, broker: endpoint, slots: 1, extra: workerArguments)
        }

        /// Writes the spec and submits it; returns the study id.
        func submit(_ name: String, trial: String, extra: String = "") throws -> String {
            let spec = dir.appendingPathComponent("\(name).yaml").path
            try """
                name: \(name)
                metric: loss
                mode: min
                space:
                  x: {uniform: [0.0, 1.0]}
                trial:
                \(trial)
                budget:
                  max_trials: 1
                  max_concurrent: 1
                \(extra)
                """.write(toFile: spec, atomically: true, encoding: .utf8)
            let run = try Harness.run([Harness.binary.path, "submit", spec, "--broker", endpoint])
            try #require(run.status == 0, "\(run.output)")
            return run.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Polls the store until `done` holds for trial 1 of `study`, or `timeout`.
        func waitFor(_ study: String, timeout: Duration = .seconds(60), _ done: (TrialRecord, [ReportRecord]) -> Bool) throws -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let reader = try? SQLiteStore(path: store, readOnly: true), let trial = try reader.trial(study: study, number: 1),
                   done(trial, try reader.reports(study: study, trial: 1)) {
                    return true
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return false
        }

        func stop() {
            workers.values.forEach { $0.stop() }
            optimizer.stop()
            broker.stop()
        }
    }

    /// A trial of `steps` steps of 0.3 s that checkpoints its step counter after each.
    static func steppingTrial(steps: Int, padding: Int = 0) -> String {
        """
          command:
            - /bin/sh
            - -c
            - |
              d="$HYPERLOOM_CHECKPOINT_DIR"; s=0; [ -f "$d/step" ] && s=$(cat "$d/step"); r=$s
              while [ $s -lt \(steps) ]; do
                sleep 0.3; s=$((s + 1)); echo $s > "$d/t" && mv "$d/t" "$d/step"
                head -c \(padding) /dev/zero > "$d/pad"
                echo "@hyperloom {\\"step\\": $s, \\"resumed_at\\": $r, \\"checkpoint\\": true}"
              done
              echo "@hyperloom {\\"loss\\": 1, \\"resumed_at\\": $r}"
          max_retries: 3
        """
    }

    @Test func sharedModeResumesOnAnotherWorkerAndShipsNothing() throws {
        let shared = Harness.scratch.appendingPathComponent("shared-\(UUID().uuidString.prefix(6))").path
        let fabric = try Fabric("shared", workerArguments: ["--checkpoint-store", "shared:\(shared)"])
        defer { fabric.stop() }
        try fabric.startWorker("sh1")
        let study = try fabric.submit("shared", trial: Self.steppingTrial(steps: 8))
        #expect(try fabric.waitFor(study) { _, reports in reports.contains { $0.metrics.object?["step"] == .number(3) } })
        try fabric.startWorker("sh2")
        fabric.workers["sh1"]?.signal(SIGKILL)
        #expect(try fabric.waitFor(study) { trial, _ in trial.state.isFinished }, "\(fabric.optimizer.output.suffix(3000))")

        let reader = try SQLiteStore(path: fabric.store, readOnly: true)
        let trial = try #require(try reader.trial(study: study, number: 1))
        #expect(trial.state == .complete)
        #expect(trial.worker == "sh2")
        let second = try reader.reports(study: study, trial: 1).first { $0.attempt == 2 }
        let resumedAt = second?.metrics.object?["resumed_at"]?.double ?? 0
        #expect(resumedAt >= 3, "attempt 2 on sh2 resumed from the shared directory: \(String(describing: second))")
        #expect(try reader.checkpoints(study: study, trial: 1).isEmpty, "nothing travelled to the optimizer")
        #expect(FileManager.default.fileExists(atPath: shared + "/\(study)%2F1/checkpoint/step"))
    }

    @Test func aCheckpointOverTheLimitIsNotShippedAndSaysWhy() throws {
        let fabric = try Fabric("limit", workerArguments: ["--checkpoint-max-bytes", "100"])
        defer { fabric.stop() }
        try fabric.startWorker("l1")
        let study = try fabric.submit("limit", trial: Self.steppingTrial(steps: 2, padding: 200))
        #expect(try fabric.waitFor(study) { trial, _ in trial.state.isFinished })
        let reader = try SQLiteStore(path: fabric.store, readOnly: true)
        let checkpoints = try reader.reports(study: study, trial: 1).filter { $0.kind == "checkpoint" }
        #expect(checkpoints.count == 2)
        for report in checkpoints {
            let error = report.metrics.object?["checkpoint_error"]?.argument ?? ""
            #expect(error.contains("the limit is 100 bytes (--checkpoint-max-bytes): not shipped"), "\(report.metrics)")
        }
        #expect(try reader.checkpoints(study: study, trial: 1).isEmpty)
        #expect(try reader.trial(study: study, number: 1)?.state == .complete, "the trial itself goes on")
    }

    /// Also `fail_fast`: the quarantined trial is the study's first failure, so the study fails.
    @Test func aTrialThatKillsItsWorkersIsQuarantinedWithEveryAttemptsError() throws {
        let fabric = try Fabric("quarantine")
        defer { fabric.stop() }
        for id in ["q1", "q2", "q3"] { try fabric.startWorker(id) }
        // The trial's parent is its worker (setpriv execs the command): it kills it.
        let study = try fabric.submit("quarantine", trial: """
              command: ["/bin/sh", "-c", "sleep 0.3; kill -9 $PPID; sleep 5"]
              max_retries: 5
              quarantine_after: 2
            """, extra: "  fail_fast: true")
        let deadline = ContinuousClock.now + .seconds(60)
        var finished = false
        while ContinuousClock.now < deadline, !finished {
            // Killed workers come back at once, so the broker learns of each loss from READY.
            for (id, worker) in fabric.workers where !worker.process.isRunning { try fabric.startWorker(id) }
            finished = try fabric.waitFor(study, timeout: .milliseconds(200)) { trial, _ in trial.state.isFinished }
        }
        #expect(finished)
        let reader = try SQLiteStore(path: fabric.store, readOnly: true)
        let trial = try #require(try reader.trial(study: study, number: 1))
        #expect(trial.state == .failed)
        #expect(trial.attempts == 2, "quarantined after the second lost worker, not retried 5 times")
        let error = trial.error ?? ""
        #expect(error.contains("attempt 1: lost"), "\(error)")
        #expect(error.contains("attempt 2: quarantined: its attempts were running on 2 workers that were lost"), "\(error)")
        var record = try reader.study(study)
        let studyDeadline = ContinuousClock.now + .seconds(10)
        while record?.state == .running, ContinuousClock.now < studyDeadline {
            Thread.sleep(forTimeInterval: 0.1)
            record = try reader.study(study)
        }
        #expect(record?.state == .failed)
        #expect(record?.reason?.hasPrefix("fail_fast: trial 1 failed: attempt 1: lost") == true, "\(record?.reason ?? "")")
    }
}
