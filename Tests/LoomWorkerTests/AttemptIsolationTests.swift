import Foundation
import Testing
@testable import LoomWorker
import LoomWire
#if canImport(Glibc)
import Glibc
#endif

/// Nothing an attempt started outlives it: its process group always, its cgroup where the host
/// allows one (a `setsid` daemon leaves the group but not the cgroup).
extension TrialRunnerBehaviour {
    /// Starts `script`, which writes the pid of what it leaves behind to a marker file and exits
    /// 0; returns that pid once the runner has reported the exit.
    func leftBehind(by script: String, in runner: TrialRunner) throws -> Int32 {
        let marker = workDir + "/left-behind.pid"
        let events = drive(runner, runner.start(ref(), payload: shell("\(script) & echo $! > \(marker); exit 0"), now: .now))
        #expect(exit(events)?.kind == .final)
        return try #require(Int32(file(marker).trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test func aChildLeftRunningInTheProcessGroupDiesWithItsAttempt() throws {
        let r = runner()
        #expect(r.isolation.name == "process-group")
        let child = try leftBehind(by: "sleep 1000", in: r)
        defer { kill(child, SIGKILL) }
        #expect(waitUntilDead(child), "the attempt's process group is killed when it ends")
    }

    @Test(.enabled(if: AttemptCgroups.ownCgroupDirectory(kind: .v2) != nil, "no writable cgroup v2 hierarchy on this host"))
    func aSetsidDaemonDiesWithItsAttemptInACgroupV2() throws {
        try setsidDaemonDies(kind: .v2)
    }

    @Test(.enabled(if: AttemptCgroups.ownCgroupDirectory(kind: .v1Freezer) != nil, "no writable cgroup v1 freezer hierarchy on this host"))
    func aSetsidDaemonDiesWithItsAttemptInACgroupV1Freezer() throws {
        try setsidDaemonDies(kind: .v1Freezer)
    }

    func setsidDaemonDies(kind: AttemptCgroups.Kind) throws {
        let cgroups = try #require(AttemptCgroups(kind: kind, workerID: "w-test-\(UUID().uuidString.prefix(8))"),
                                   "the hierarchy is writable, yet a probe process could not join a cgroup in it")
        let r = TrialRunner(workDir: workDir, workerID: "w-test", killGrace: .seconds(1), isolation: .cgroup(cgroups))
        #expect(r.isolation.name == kind.rawValue)
        let daemon = try leftBehind(by: "setsid sleep 1000", in: r)
        defer { kill(daemon, SIGKILL) }
        #expect(waitUntilDead(daemon), "a setsid daemon leaves the process group, not the cgroup")
        r.stopAll(now: .now)
        #expect(!FileManager.default.fileExists(atPath: cgroups.parent), "the worker's cgroup directory is removed at its end")
    }

    @Test(.enabled(if: AttemptCgroups.ownCgroupDirectory(kind: .v2) != nil, "no writable cgroup v2 hierarchy on this host"))
    func whatAKilledWorkerLeftInItsCgroupsIsKilledByItsSuccessor() throws {
        let base = try #require(AttemptCgroups.ownCgroupDirectory(kind: .v2))
        let id = "w-stale-\(UUID().uuidString.prefix(8))"
        // A pid that no longer runs: the predecessor's.
        let gone = try #require(try? Spawn.spawn(executable: "/bin/true", arguments: ["true"], environment: [], directory: nil,
                                                 stdout: 2, stderr: 2))
        var status: Int32 = 0
        waitpid(gone, &status, 0)
        let stale = "\(base)/hyperloom-\(id)-\(gone)/lease-7"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        let (executable, arguments) = AttemptCgroups.joinArguments(stale, then: ["/bin/sleep", "1000"])
        let daemon = try Spawn.spawn(executable: executable, arguments: arguments, environment: [], directory: nil, stdout: 2, stderr: 2)
        defer { kill(daemon, SIGKILL); waitpid(daemon, &status, WNOHANG) }
        let deadline = ContinuousClock.now + .seconds(2)
        while AttemptCgroups.pids(in: stale).isEmpty && ContinuousClock.now < deadline { usleep(5_000) }
        #expect(AttemptCgroups.pids(in: stale) == [daemon])
        let successor = try #require(AttemptCgroups(kind: .v2, workerID: id))
        defer { successor.removeAll() }
        #expect(waitUntilDead(daemon))
        #expect(!FileManager.default.fileExists(atPath: "\(base)/hyperloom-\(id)-\(gone)"))
    }

    @Test(.enabled(if: AttemptCgroups.ownCgroupDirectory(kind: .v2) != nil || AttemptCgroups.ownCgroupDirectory(kind: .v1Freezer) != nil,
                   "no writable cgroup hierarchy on this host"))
    func aStoppedAttemptsDaemonGetsTheGraceThenDies() throws {
        let isolation = AttemptIsolation.detect(workerID: "w-test-\(UUID().uuidString.prefix(8))")
        guard case .cgroup = isolation else {
            Issue.record("a cgroup hierarchy is writable, yet detection chose \(isolation.name)")
            return
        }
        let r = TrialRunner(workDir: workDir, workerID: "w-test", killGrace: .seconds(1), isolation: isolation)
        defer { r.stopAll(now: .now) }
        let marker = workDir + "/daemon.pid"
        let termed = workDir + "/daemon.termed"
        // The daemon notes SIGTERM and ignores it; only the SIGKILL after the grace ends it.
        // It writes its pid once its trap is set, so the stop cannot come before the trap.
        let daemon = "setsid sh -c 'trap \"echo > \(termed)\" TERM; echo $$ > \(marker); while :; do sleep 0.05; done'"
        // The trial ignores SIGTERM too (set after the daemon starts: an ignored signal cannot be
        // trapped by a child shell), so the whole grace passes before anything is killed.
        let started = r.start(ref(), payload: shell("\(daemon) & trap '' TERM; exec sleep 30"), now: .now)
        var pid: Int32?
        let deadline = ContinuousClock.now + .seconds(3)
        while pid == nil && ContinuousClock.now < deadline {
            pid = Int32(file(marker).trimmingCharacters(in: .whitespacesAndNewlines))
            usleep(10_000)
        }
        let daemonPID = try #require(pid)
        defer { kill(daemonPID, SIGKILL) }
        r.stop(lease: 1, reason: "cancelled", now: .now)
        let result = exit(drive(r, started))
        #expect(result?.kind == .failed)
        #expect(waitUntilDead(daemonPID))
        #expect(FileManager.default.fileExists(atPath: termed), "the daemon got SIGTERM with the trial")
    }
}

/// The worker says in READY how it isolates attempts; `hyperloom status` shows it.
@Suite struct IsolationInReady {
    @Test func readySaysHowAttemptsAreIsolated() {
        var config = WorkerTest.config
        config.isolation = "cgroup2"
        var m = WorkerStateMachine(config: config, now: .now)
        #expect(WorkerTest.ready(m.start(now: .now))?.isolation == "cgroup2")
        var plain = WorkerStateMachine(config: WorkerTest.config, now: .now)
        #expect(WorkerTest.ready(plain.start(now: .now))?.isolation == nil)
    }
}
