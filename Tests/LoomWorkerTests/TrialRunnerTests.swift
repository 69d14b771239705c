import Foundation
import Testing
@testable import LoomWorker
import LoomWire
#if canImport(Glibc)
import Glibc
#endif

/// The trial runner with real, short /bin/sh children, driven by a small poll loop like the
/// agent's.
@Suite(.timeLimit(.minutes(1)))
final class TrialRunnerBehaviour {
    /// A fresh work directory per test, removed after it.
    let workDir: String = {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("hyperloom-runner-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    deinit { try? FileManager.default.removeItem(atPath: workDir) }

    func runner(killGrace: Duration = .seconds(1)) -> TrialRunner {
        TrialRunner(workDir: workDir, workerID: "w-test", killGrace: killGrace)
    }

    func ref(_ job: String = "job-1", attempt: UInt32 = 1, lease: UInt64 = 1) -> AttemptRef {
        AttemptRef(job: job, attempt: attempt, lease: lease)
    }

    func shell(_ script: String, config: [String: JSONValue] = [:], env: [String: String] = [:],
               cwd: String? = nil, timeout: Double? = nil) -> Frame {
        JobSpec(command: ["/bin/sh", "-c", script], config: config, env: env, cwd: cwd, timeoutS: timeout).payload
    }

    /// Polls the runner's pipes and calls it as the agent does until an `.exited` or the limit.
    func drive(_ runner: TrialRunner, _ initial: [TrialEvent] = [], limit: Duration = .seconds(3),
               whileWaiting: ([TrialEvent]) -> Void = { _ in }) -> [TrialEvent] {
        var events = initial
        let deadline = ContinuousClock.now + limit
        while !events.contains(where: \.isExit) && ContinuousClock.now < deadline {
            var fds = runner.fileDescriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), 20)
            for entry in fds where entry.revents != 0 { events += runner.readable(fd: entry.fd, now: .now) }
            events += runner.reap(now: .now)
            events += runner.enforceDeadlines(now: .now)
            whileWaiting(events)
        }
        return events
    }

    func exit(_ events: [TrialEvent]) -> (kind: UpdateKind, body: [String: JSONValue])? {
        for event in events {
            if case .exited(_, let kind, let payload) = event,
               let body = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)).object {
                return (kind, body)
            }
        }
        return nil
    }

    func metrics(_ events: [TrialEvent]) -> [(String, Bool)] {
        events.compactMap { event in
            if case .metrics(_, let payload, let checkpoint) = event { return (String(decoding: payload, as: UTF8.self), checkpoint) }
            return nil
        }
    }

    func file(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// Alive and not a zombie (a container's init may be slow to reap orphans).
    func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    func waitUntilDead(_ pid: Int32, limit: Duration = .seconds(2)) -> Bool {
        let deadline = ContinuousClock.now + limit
        while isAlive(pid) && ContinuousClock.now < deadline { usleep(10_000) }
        return !isAlive(pid)
    }

    // MARK: - Tests

    @Test func aMetricLineBecomesAMetricsEvent() {
        let r = runner()
        let started = r.start(ref(), payload: shell(#"echo 'epoch 1'; echo '@hyperloom {"loss": 0.5, "checkpoint": true}'"#), now: .now)
        guard case .started(let startedRef, let pid)? = started.first else {
            Issue.record("not started: \(started)")
            return
        }
        #expect(startedRef == ref() && pid > 0)
        let events = drive(r, started)
        #expect(metrics(events).map(\.0) == [#"{"checkpoint":true,"loss":0.5}"#])
        #expect(metrics(events).map(\.1) == [true])
        #expect(r.runningCount == 0 && r.fileDescriptors.isEmpty)
    }

    @Test func exitZeroIsFinalWithTheLastMetrics() {
        let r = runner()
        let script = #"echo '@hyperloom {"epoch": 1, "loss": 0.9}'; echo '@hyperloom {"epoch": 2, "loss": 0.4}'; printf '@hyperloom {"epoch": 3}'"#
        let events = drive(r, r.start(ref(), payload: shell(script), now: .now))
        #expect(metrics(events).count == 3, "a last line without a newline still counts")
        let result = exit(events)
        #expect(result?.kind == .final)
        #expect(result?.body["metrics"] == .object(["epoch": .number(3)]))
        #expect(result?.body["exit_code"] == .number(0))
        #expect(result?.body["reports"] == .number(3))
        #expect(result?.body["duration_s"]?.double != nil)
        #expect(result?.body["error"] == nil)
    }

    @Test func exitThreeIsFailedWithTheTailOfStderr() {
        let r = runner()
        let events = drive(r, r.start(ref(), payload: shell(#"echo '@hyperloom {"loss": 2}'; echo 'something broke' >&2; exit 3"#), now: .now))
        let result = exit(events)
        #expect(result?.kind == .failed)
        #expect(result?.body["error"] == .string("exit code 3"))
        #expect(result?.body["message"] == .string("exit code 3"))
        #expect(result?.body["exit_code"] == .number(3))
        #expect(result?.body["signal"] == .null)
        #expect(result?.body["stderr_tail"] == .string("something broke\n"))
        #expect(result?.body["metrics"] == .object(["loss": .number(2)]))
    }

    @Test func placeholdersAndEnvironmentReachTheTrial() throws {
        let r = runner()
        let cwd = workDir + "/cwd"
        try FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: true)
        let script = #"printf '%s\n' "$1" "$2" "$HYPERLOOM_CONFIG" "$HYPERLOOM_TRIAL_ID" "$HYPERLOOM_ATTEMPT" "$HYPERLOOM_LEASE" "$HYPERLOOM_WORKER_ID" "$HYPERLOOM_CHECKPOINT_DIR" "$HYPERLOOM_ATTEMPT_DIR" "$HYPERLOOM_RESUME" "$EXTRA" "$(pwd)""#
        let payload = JobSpec(command: ["/bin/sh", "-c", script, "sh", "--lr={lr} --name={name}", "{trial_id}#{attempt} {unknown}"],
                              config: ["lr": .number(0.01), "name": .string("adam")], env: ["EXTRA": "extra value"], cwd: cwd).payload
        let trial = ref("study/9", attempt: 2, lease: 77)
        let events = drive(r, r.start(trial, payload: payload, now: .now))
        #expect(exit(events)?.kind == .final)
        let jobDir = workDir + "/study%2F9"
        let lines = file(jobDir + "/attempt-2/stdout.log").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines == ["--lr=0.01 --name=adam", "study/9#2 {unknown}", #"{"lr":0.01,"name":"adam"}"#, "study/9", "2", "77",
                          "w-test", jobDir + "/checkpoint", jobDir + "/attempt-2", "0", "extra value", cwd, ""])
    }

    @Test func aCheckpointLeftByAnEarlierAttemptSetsResume() {
        let r = runner()
        _ = drive(r, r.start(ref(attempt: 1, lease: 1), payload: shell(#"touch "$HYPERLOOM_CHECKPOINT_DIR/state""#), now: .now))
        let events = drive(r, r.start(ref(attempt: 2, lease: 2), payload: shell(#"echo "@hyperloom {\"resume\": $HYPERLOOM_RESUME}""#), now: .now))
        #expect(metrics(events).map(\.0) == [#"{"resume":1}"#])
    }

    /// Issue 15, failure 2: a resumed attempt whose checkpoint was already at its end prints
    /// nothing; its FINAL carries the metrics of the checkpoint this worker snapshotted and says
    /// which one they are.
    @Test func aResumedAttemptThatPrintsNothingEndsWithTheMetricsOfItsCheckpoint() throws {
        let r = runner()
        _ = drive(r, r.start(ref(attempt: 1, lease: 1), payload: shell(#"touch "$HYPERLOOM_CHECKPOINT_DIR/state""#), now: .now))
        let paths = AttemptPaths(workDir: workDir, ref: ref(attempt: 2, lease: 2), sharedCheckpoints: nil)
        CheckpointOrigin(job: "job-1", attempt: 1, seq: 6, metrics: .object(["loss": .number(0.25), "epoch": .number(9)]))
            .write(to: paths.checkpointOriginFile)
        let resumed = try #require(exit(drive(r, r.start(ref(attempt: 2, lease: 2), payload: shell("exit 0"), now: .now))))
        #expect(resumed.kind == .final)
        #expect(resumed.body["metrics"] == .object(["loss": .number(0.25), "epoch": .number(9)]))
        #expect(resumed.body["reports"] == .number(0))
        #expect(resumed.body["resumed_checkpoint"] == .object(["attempt": .number(1), "seq": .number(6)]))
        // One that prints its own line ends with it, and names no checkpoint.
        let printed = try #require(exit(drive(r, r.start(ref(attempt: 3, lease: 3), payload: shell(#"echo '@hyperloom {"loss": 0.2}'"#), now: .now))))
        #expect(printed.body["metrics"] == .object(["loss": .number(0.2)]))
        #expect(printed.body["resumed_checkpoint"] == nil)
        // One that fails is no result: its FAILED claims no checkpoint's metrics.
        let failed = try #require(exit(drive(r, r.start(ref(attempt: 4, lease: 4), payload: shell("exit 3"), now: .now))))
        #expect(failed.kind == .failed)
        #expect(failed.body["metrics"] == .object([:]) && failed.body["resumed_checkpoint"] == nil)
    }

    @Test func theAttemptDirectoryAndItsLogsHoldEverythingTheTrialPrinted() {
        let r = runner()
        _ = drive(r, r.start(ref("a/b"), payload: shell(#"echo out; echo '@hyperloom {"x": 1}'; echo err >&2"#), now: .now))
        let attemptDir = workDir + "/a%2Fb/attempt-1"
        #expect(file(attemptDir + "/stdout.log") == "out\n@hyperloom {\"x\": 1}\n")
        #expect(file(attemptDir + "/stderr.log") == "err\n")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: workDir + "/a%2Fb/checkpoint", isDirectory: &isDirectory) && isDirectory.boolValue)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: workDir + "/a%2Fb")) ?? []
        #expect(entries.sorted() == ["attempt-1", "checkpoint"])
    }

    @Test func aMalformedMetricLineIsNotedInStderrLogAndTheTrialContinues() {
        let r = runner()
        let events = drive(r, r.start(ref(), payload: shell(#"echo '@hyperloom [1, 2]'; echo '@hyperloom {"ok": 1}'"#), now: .now))
        #expect(metrics(events).map(\.0) == [#"{"ok":1}"#])
        #expect(exit(events)?.kind == .final)
        #expect(r.malformedMetricLines == 1)
        #expect(file(workDir + "/job-1/attempt-1/stderr.log").contains("hyperloom: ignored malformed metric line: @hyperloom [1, 2] (not a JSON object)"))
    }

    @Test func aTimeoutKillsTheWholeProcessGroupGrandchildrenToo() throws {
        let r = runner(killGrace: .milliseconds(500))
        let marker = workDir + "/grandchild.pid"
        let started = ContinuousClock.now
        let events = drive(r, r.start(ref(), payload: shell("sleep 30 & echo $! > \(marker); wait", timeout: 0.3), now: .now))
        let elapsed = started.duration(to: .now)
        let result = try #require(exit(events))
        #expect(result.kind == .failed)
        #expect(result.body["error"] == .string("timed out after 0.3s"))
        #expect(result.body["signal"] == .number(Double(SIGTERM)))
        #expect(elapsed < .seconds(2))
        let grandchild = try #require(Int32(file(marker).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(waitUntilDead(grandchild), "the grandchild \(grandchild) outlived the attempt")
    }

    @Test func aTrialThatIgnoresSigtermIsKilledAfterTheGrace() throws {
        let r = runner(killGrace: .milliseconds(300))
        var stopped = false
        let started = r.start(ref(lease: 5), payload: shell("trap '' TERM; echo ready; while :; do sleep 0.05; done"), now: .now)
        let events = drive(r, started) { events in
            // Stop once the trap is installed (the shell printed "ready").
            if !stopped, FileManager.default.contents(atPath: workDir + "/job-1/attempt-1/stdout.log")?.isEmpty == false {
                stopped = true
                r.stop(lease: 5, reason: "cancelled", now: .now)
            }
        }
        let result = try #require(exit(events))
        #expect(result.body["error"] == .string("cancelled: cancelled"))
        #expect(result.body["signal"] == .number(Double(SIGKILL)))
    }

    @Test func trialsStartWithDefaultSignalHandlingWhateverTheWorkerIgnores() {
        // The worker ignores SIGTERM and SIGINT for its stop latch; SIGUSR2 stands in for them
        // here so the test process's own SIGTERM handling is left alone.
        let previous = signal(SIGUSR2, SIG_IGN)
        let r = runner()
        let started = r.start(ref(), payload: JobSpec(command: ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]).payload, now: .now)
        signal(SIGUSR2, previous)
        #expect(exit(drive(r, started))?.kind == .final)
        let masks = Dictionary(uniqueKeysWithValues: file(workDir + "/job-1/attempt-1/stdout.log").split(separator: "\n").map { line in
            let parts = line.split(separator: ":\t")
            return (String(parts[0]), UInt64(parts[1], radix: 16) ?? .max)
        })
        #expect(masks["SigBlk"] == 0)
        #expect((masks["SigIgn"] ?? .max) & (1 << UInt64(SIGUSR2 - 1)) == 0, "SIGUSR2 still ignored in the trial")
    }

    @Test func stopReasonAppearsInTheFailedPayload() throws {
        let r = runner()
        let started = r.start(ref(lease: 9), payload: shell("exec sleep 30"), now: .now)
        #expect(r.nextDeadline == nil)
        r.stop(lease: 9, reason: "fenced", now: .now)
        #expect(r.nextDeadline != nil, "SIGKILL escalation is scheduled")
        let result = try #require(exit(drive(r, started)))
        #expect(result.kind == .failed)
        #expect(result.body["error"] == .string("cancelled: fenced"))
        #expect(result.body["message"] == .string("cancelled: fenced"))
        #expect(result.body["exit_code"] == .null)
        #expect(result.body["signal"] == .number(Double(SIGTERM)))
    }

    @Test func anUnknownProgramFailsWithoutStarting() {
        let r = runner()
        let events = r.start(ref(), payload: JobSpec(command: ["hyperloom-no-such-program", "x"]).payload, now: .now)
        #expect(events.count == 1)
        let result = exit(events)
        #expect(result?.kind == .failed)
        guard case .string(let error)? = result?.body["error"] else {
            Issue.record("no error in \(events)")
            return
        }
        #expect(error.hasPrefix("program not found: hyperloom-no-such-program"))
        #expect(r.runningCount == 0)
        #expect(file(workDir + "/job-1/attempt-1/stderr.log").contains("program not found"))

        let absolute = r.start(ref(lease: 2), payload: JobSpec(command: ["/nonexistent/train"]).payload, now: .now)
        #expect(exit(absolute)?.body["error"] == .string("cannot start /nonexistent/train: No such file or directory"))
    }

    @Test func anInvalidSpecOrMissingWorkingDirectoryFailsWithoutStarting() {
        let r = runner()
        let invalid = r.start(ref(), payload: Array(#"{"command": "not a list"}"#.utf8), now: .now)
        guard case .string(let error)? = exit(invalid)?.body["error"] else {
            Issue.record("no error in \(invalid)")
            return
        }
        #expect(error.hasPrefix("invalid job spec: ASSIGN: field payload"))
        let noCwd = r.start(ref(lease: 2), payload: shell("true", cwd: "/nonexistent-dir"), now: .now)
        #expect(exit(noCwd)?.body["error"] == .string("working directory /nonexistent-dir does not exist or is not a directory"))
    }

    @Test func anExitIsReportedEvenWhileADaemonisedGrandchildHoldsThePipes() throws {
        let r = runner()
        let marker = workDir + "/daemon.pid"
        let started = ContinuousClock.now
        let events = drive(r, r.start(ref(), payload: shell("setsid sleep 30 & echo $! > \(marker); echo '@hyperloom {\"a\": 1}'; exit 0"), now: .now))
        #expect(started.duration(to: .now) < .seconds(1))
        #expect(exit(events)?.kind == .final)
        #expect(metrics(events).count == 1)
        #expect(r.fileDescriptors.isEmpty)
        if let daemon = Int32(file(marker).trimmingCharacters(in: .whitespacesAndNewlines)) { kill(daemon, SIGKILL) }
    }

    @Test func stopAllEndsEveryTrialWithinTheGrace() {
        let r = runner(killGrace: .milliseconds(300))
        var pids: [Int32] = []
        for lease in UInt64(1)...3 {
            let script = lease == 3 ? "trap '' TERM; exec sleep 30" : "exec sleep 30"
            if case .started(_, let pid)? = r.start(ref("job-\(lease)", lease: lease), payload: shell(script), now: .now).first {
                pids.append(pid)
            }
        }
        #expect(pids.count == 3)
        usleep(100_000)
        let started = ContinuousClock.now
        r.stopAll(now: .now)
        #expect(started.duration(to: .now) < .seconds(2))
        #expect(r.runningCount == 0 && r.fileDescriptors.isEmpty)
        for pid in pids { #expect(!isAlive(pid)) }
    }
}

extension TrialEvent {
    var isExit: Bool { if case .exited = self { true } else { false } }
}
