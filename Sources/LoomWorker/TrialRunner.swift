import Foundation
import LoomWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What happened to a trial process.
public enum TrialEvent: Equatable, Sendable {
    /// The process runs with this pid (also its process group id).
    case started(AttemptRef, pid: Int32)
    /// The trial printed a metric line: the object as compact JSON, and whether it says
    /// `"checkpoint": true`.
    case metrics(AttemptRef, payload: Frame, checkpoint: Bool)
    /// The attempt ended: FINAL or FAILED with its payload (see `TrialResult`). Also sent, without
    /// `.started`, when the attempt could not start at all.
    case exited(AttemptRef, kind: UpdateKind, payload: Frame)
    /// Lines the trial wrote (metric lines included), batched and bounded by `LogBatcher`; all of
    /// an attempt's batches come before its `.exited`.
    case log(LogBatch)
}

/// Runs trials as child processes and turns what they do into `TrialEvent`s.
///
/// **Threading.** Not thread-safe: the agent's loop calls every method from one thread. It polls
/// `fileDescriptors` for input, calls `readable(fd:now:)` for each ready one, then `reap(now:)`
/// and `enforceDeadlines(now:)` on every turn, and wakes at `nextDeadline`.
///
/// **Ownership.** The runner owns each child it started, the read ends of its stdout and stderr
/// pipes and its two log files. Children are reaped with `waitpid` on their own pid only, so
/// several runners in one process (the embedded workers of `hyperloom run`) never take each other's children.
///
/// **Isolation.** A trial is its own process group: stops and timeouts send SIGTERM to the whole
/// group and SIGKILL `killGrace` later, and the end of an attempt SIGKILLs the group, so nothing
/// it started outlives it. Where the host allows (`AttemptIsolation.detect`), each attempt also
/// runs in a cgroup of its own, which catches what leaves the group (`setsid` daemons): signals
/// reach every process in it, and the end of the attempt kills them all.
///
/// **GPUs.** The runner places each attempt's GPU share (`JobSpec.gpu`) on its devices with a
/// `GPUAllocator` when the attempt starts and gives them back when its process has exited (not
/// when it is asked to stop: a stopping trial still holds its GPU memory). An attempt whose share
/// cannot be placed — a worker without GPUs, or fragmentation — fails at once without starting.
///
/// **Liveness.** Nothing blocks except `stopAll(now:)`, which waits at most `killGrace` plus one
/// second. Reads are non-blocking and bounded per call, so a chatty trial cannot starve the
/// socket. An exit is reported once `waitpid` has seen it and the pipes are drained; pipes that a
/// daemonised grandchild keeps open do not hold the report back.
public final class TrialRunner {
    /// The absolute work directory (a relative one is taken from the worker's working directory).
    public let workDir: String
    /// The shared checkpoint directory every worker mounts, when checkpoints do not travel.
    public let sharedCheckpoints: String?
    /// The worker's id: `{worker_id}` and `HYPERLOOM_WORKER_ID`.
    public let workerID: String
    /// Time between SIGTERM and SIGKILL.
    public let killGrace: Duration
    /// Metric lines that were not a JSON object (each also noted in the attempt's stderr.log).
    public private(set) var malformedMetricLines = 0
    /// Writes to attempt logs that failed (a full disk, for one); the trial goes on.
    public private(set) var logWriteFailures = 0
    /// The worker's GPUs and what the running attempts hold of them.
    public private(set) var gpus: GPUAllocator
    /// How each attempt's processes are contained.
    public let isolation: AttemptIsolation

    /// Bytes read from one pipe per `readable` call, so one trial cannot hold the loop.
    static let readBudget = 1 << 20
    /// Bytes read from one pipe after its process exited; beyond it a grandchild's output is lost.
    static let finalReadBudget = 4 << 20

    private var trials: [UInt64: Trial] = [:]
    private var pipeOwners: [Int32: UInt64] = [:]
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

    /// A runner with no trials; directories are made as attempts start. `gpuDevices` are the
    /// device ids it hands to trials (`WorkerAgentConfig.gpuDevices`).
    public init(workDir: String, workerID: String, killGrace: Duration, gpuDevices: [String] = [],
                sharedCheckpoints: String? = nil, isolation: AttemptIsolation = .processGroup) {
        self.isolation = isolation
        self.workDir = workDir.hasPrefix("/") ? workDir : FileManager.default.currentDirectoryPath + "/" + workDir
        self.sharedCheckpoints = sharedCheckpoints
        self.workerID = workerID
        self.killGrace = killGrace
        gpus = GPUAllocator(devices: gpuDevices)
    }

    deinit {
        for trial in trials.values { releaseResources(trial) }
        if case .cgroup(let cgroups) = isolation { cgroups.removeAll() }
        buffer.deallocate()
    }

    /// The read ends of the running trials' stdout and stderr pipes.
    public var fileDescriptors: [Int32] { pipeOwners.keys.sorted() }

    /// Trials started and not yet reported as exited.
    public var runningCount: Int { trials.count }

    /// The earliest attempt timeout, SIGKILL escalation or log batch due still to come.
    public var nextDeadline: ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for trial in trials.values where trial.waitStatus == nil {
            if trial.intervention == nil, let at = trial.timeoutAt { earliest = min(earliest ?? at, at) }
            if !trial.killed, let at = trial.killAt { earliest = min(earliest ?? at, at) }
        }
        for trial in trials.values {
            if let at = trial.log.nextFlush { earliest = min(earliest ?? at, at) }
        }
        return earliest
    }

    // MARK: - Start

    /// Starts the attempt: `.started`, or `.exited(.failed)` naming what was wrong.
    public func start(_ ref: AttemptRef, payload: Frame, now: ContinuousClock.Instant) -> [TrialEvent] {
        guard trials[ref.lease] == nil else { return [] }
        func notStarted(_ error: String, _ paths: AttemptPaths?) -> [TrialEvent] {
            [.exited(ref, kind: .failed, payload: TrialResult.notStarted(error, attemptDir: paths?.attemptDir))]
        }
        let spec: JobSpec
        do {
            spec = try JobSpec.decode(payload)
        } catch {
            return notStarted("invalid job spec: \(error)", nil)
        }
        let paths = AttemptPaths(workDir: workDir, ref: ref, sharedCheckpoints: sharedCheckpoints)
        do {
            try Self.makeDirectories(paths.checkpointDir)
            try Self.makeDirectories(paths.attemptDir)
        } catch {
            return notStarted("cannot create the attempt directory: \(error)", nil)
        }
        let logs: (out: Int32, err: Int32)
        do {
            let out = try Self.openLog(paths.stdoutLog)
            do {
                logs = (out, try Self.openLog(paths.stderrLog))
            } catch {
                Syscall.closeQuietly(out)
                throw error
            }
        } catch {
            return notStarted("cannot open the attempt's logs: \(error)", paths)
        }
        func failed(_ error: String) -> [TrialEvent] {
            gpus.release(lease: ref.lease)
            writeLog(logs.err, "hyperloom: \(error)\n")
            Syscall.closeQuietly(logs.out)
            Syscall.closeQuietly(logs.err)
            return notStarted(error, paths)
        }

        var gpuDevices: [String] = []
        let gpuShare = spec.gpu ?? 0
        // NaN and negative shares fail in `placementFailure`, like shares that do not fit.
        if gpuShare != 0 {
            guard let placed = gpus.allocate(lease: ref.lease, share: gpuShare) else {
                return failed(gpus.placementFailure(share: gpuShare))
            }
            gpuDevices = placed
        }
        let baseEnvironment = ProcessInfo.processInfo.environment
        let resume = Self.hasEntries(paths.checkpointDir)
        let origin = resume ? CheckpointOrigin.read(paths.checkpointOriginFile) : nil
        let launch = TrialLaunch(spec: spec, ref: ref, paths: paths, workerID: workerID,
                                 baseEnvironment: baseEnvironment, resume: resume,
                                 resumedFrom: origin?.attempt,
                                 gpuDevices: gpuDevices, gpuShare: gpuShare)
        if let cwd = spec.cwd, !Self.isDirectory(cwd) {
            return failed("working directory \(cwd) does not exist or is not a directory")
        }
        let program = launch.arguments[0]
        let searchPath = spec.env["PATH"] ?? baseEnvironment["PATH"]
        guard let executable = TrialLaunch.resolve(program: program, path: searchPath, isExecutable: Self.isExecutable) else {
            return failed("program not found: \(program) (searched PATH=\(searchPath ?? ""))")
        }

        let stdoutPipe: (read: Int32, write: Int32)
        let stderrPipe: (read: Int32, write: Int32)
        let pid: pid_t
        do {
            stdoutPipe = try Spawn.makePipe()
            do {
                stderrPipe = try Spawn.makePipe()
            } catch {
                Syscall.closeQuietly(stdoutPipe.read)
                Syscall.closeQuietly(stdoutPipe.write)
                throw error
            }
        } catch {
            return failed("cannot create pipes: \(error)")
        }
        // Through setpriv --pdeathsig when it is there: the kernel then kills the trial if the
        // worker dies without stopping it (SIGKILL, OOM), so an attempt the broker requeues never
        // goes on running as an orphan beside its successor.
        // setpriv would only fail after the start: check what posix_spawn would have refused.
        if Self.deathSignalHelper != nil || cgroups != nil, access(executable, X_OK) != 0 {
            return failed("cannot start \(program): \(String(cString: strerror(errno)))")
        }
        var (spawned, argv) = Self.deathSignalHelper.map {
            ($0, ["setpriv", "--pdeathsig", "KILL", "--", executable] + launch.arguments.dropFirst())
        } ?? (executable, launch.arguments)
        var cgroup: String?
        if let cgroups {
            do {
                let directory = try cgroups.create(lease: ref.lease)
                cgroup = directory
                // The shell execs what would have been spawned, by its path.
                (spawned, argv) = AttemptCgroups.joinArguments(directory, then: [spawned] + argv.dropFirst())
            } catch {
                for fd in [stdoutPipe.read, stdoutPipe.write, stderrPipe.read, stderrPipe.write] { Syscall.closeQuietly(fd) }
                return failed("cannot create the attempt's cgroup: \(error)")
            }
        }
        do {
            pid = try Spawn.spawn(executable: spawned, arguments: argv, environment: launch.environment,
                                  directory: spec.cwd, stdout: stdoutPipe.write, stderr: stderrPipe.write)
        } catch {
            for fd in [stdoutPipe.read, stdoutPipe.write, stderrPipe.read, stderrPipe.write] { Syscall.closeQuietly(fd) }
            if let cgroup { cgroups?.killAttempt(cgroup) }
            return failed("cannot start \(program): \(error.reason)")
        }
        // The child has its copies; the worker keeps only the read ends.
        Syscall.closeQuietly(stdoutPipe.write)
        Syscall.closeQuietly(stderrPipe.write)

        let timeout = spec.timeoutS.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
        let trial = Trial(ref: ref, pid: pid, started: now, timeout: timeout, paths: paths,
                          stdoutPipe: stdoutPipe.read, stderrPipe: stderrPipe.read,
                          stdoutLog: logs.out, stderrLog: logs.err)
        trial.cgroup = cgroup
        // Another trial's checkpoint (a `restore_from`) is not this trial's line.
        trial.resumedFrom = origin.flatMap { $0.job == ref.job ? $0 : nil }
        trials[ref.lease] = trial
        pipeOwners[stdoutPipe.read] = ref.lease
        pipeOwners[stderrPipe.read] = ref.lease
        return [.started(ref, pid: pid)]
    }

    // MARK: - Output

    /// Reads what a trial wrote to `fd` (one of `fileDescriptors`); returns its metric lines, and
    /// its exit when both pipes closed and the process has exited.
    public func readable(fd: Int32, now: ContinuousClock.Instant) -> [TrialEvent] {
        guard let lease = pipeOwners[fd], let trial = trials[lease] else { return [] }
        var events = drain(trial, fd: fd, budget: Self.readBudget, now: now)
        if trial.stdoutPipe == nil && trial.stderrPipe == nil { events += collect(trial, now: now) }
        return events
    }

    /// Reads from one pipe until it would block, closes, or the budget is spent.
    private func drain(_ trial: Trial, fd: Int32, budget: Int, now: ContinuousClock.Instant) -> [TrialEvent] {
        let isStdout = fd == trial.stdoutPipe
        var events: [TrialEvent] = []
        var total = 0
        while total < budget {
            let result: Syscall.ReadResult
            do {
                result = try Syscall.readChunk(fd, into: buffer)
            } catch {
                // A read error other than "would block" ends the stream as EOF would.
                result = .endOfFile
            }
            switch result {
            case .wouldBlock:
                return events
            case .endOfFile:
                if isStdout, let line = trial.scanner.finish() { events += metrics(trial, line) }
                closePipe(trial, fd)
                return events
            case .bytes(let count):
                total += count
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                writeLog(isStdout ? trial.stdoutLog : trial.stderrLog, chunk)
                events += trial.log.feed(chunk, stream: isStdout ? .stdout : .stderr, now: now).map(TrialEvent.log)
                if isStdout {
                    for line in trial.scanner.feed(chunk) { events += metrics(trial, line) }
                } else {
                    trial.tail.append(chunk)
                }
            }
        }
        return events
    }

    private func metrics(_ trial: Trial, _ line: MetricLineScanner.Line) -> [TrialEvent] {
        switch MetricLine.parse(line) {
        case .metrics(let payload, let checkpoint, let object):
            trial.lastMetrics = object
            trial.reports += 1
            return [.metrics(trial.ref, payload: payload, checkpoint: checkpoint)]
        case .malformed(let reason):
            malformedMetricLines += 1
            writeLog(trial.stderrLog, MetricLine.warning(reason, line: line))
            return []
        }
    }

    // MARK: - Exit

    /// Collects every trial whose process has exited: its last output, then `.exited`.
    public func reap(now: ContinuousClock.Instant) -> [TrialEvent] {
        cgroups?.sweep()
        var events: [TrialEvent] = []
        for lease in trials.keys.sorted() {
            guard let trial = trials[lease] else { continue }
            events += collect(trial, now: now)
        }
        return events
    }

    /// `waitpid` without blocking; on an exit, drains the pipes and reports.
    private func collect(_ trial: Trial, now: ContinuousClock.Instant) -> [TrialEvent] {
        guard poll(trial) else { return [] }
        // Whatever else the attempt started ends with it; its output already written is kept.
        signalGroup(trial, SIGKILL)
        if let cgroup = trial.cgroup { cgroups?.killAttempt(cgroup) }
        var events: [TrialEvent] = []
        for fd in [trial.stdoutPipe, trial.stderrPipe].compactMap({ $0 }) {
            events += drain(trial, fd: fd, budget: Self.finalReadBudget, now: now)
        }
        // A pipe still open is held by a process outside the group: stop listening to it.
        if trial.stdoutPipe != nil, let line = trial.scanner.finish() { events += metrics(trial, line) }
        events += trial.log.finish(now: now).map(TrialEvent.log)
        releaseResources(trial)
        trials[trial.ref.lease] = nil
        let result = TrialResult(
            termination: trial.waitStatus.map(TrialResult.Termination.init(waitStatus:)) ?? .lost,
            intervention: trial.intervention, lastMetrics: trial.lastMetrics, reports: trial.reports,
            stderrTail: trial.tail.text, duration: trial.started.duration(to: now), attemptDir: trial.paths.attemptDir,
            resumedFrom: trial.resumedFrom)
        events.append(.exited(trial.ref, kind: result.kind, payload: result.payload))
        return events
    }

    /// Whether the trial's process has exited (and is reaped).
    private func poll(_ trial: Trial) -> Bool {
        if trial.exited { return true }
        var status: Int32 = 0
        do {
            guard let pid = try Syscall.call("waitpid \(trial.pid)", { waitpid(trial.pid, &status, WNOHANG) }),
                  pid == trial.pid else { return false }
            trial.waitStatus = status
        } catch {
            // ECHILD: something else in this process reaped it; the status is lost, the exit is not.
            trial.lostStatus = true
        }
        return true
    }

    // MARK: - Stopping

    /// Times out attempts past their `timeout_s` (SIGTERM to the group) and escalates to SIGKILL
    /// `killGrace` after any SIGTERM. Exits are reported by `reap(now:)`.
    public func enforceDeadlines(now: ContinuousClock.Instant) -> [TrialEvent] {
        var events: [TrialEvent] = []
        for lease in trials.keys.sorted() {
            guard let trial = trials[lease] else { continue }
            events += trial.log.flushDue(now: now).map(TrialEvent.log)
            guard !trial.exited else { continue }
            if trial.intervention == nil, let at = trial.timeoutAt, now >= at, let seconds = trial.timeout {
                trial.intervention = .timedOut(after: seconds)
                terminate(trial, now: now)
            }
            if !trial.killed, let at = trial.killAt, now >= at {
                signalGroup(trial, SIGKILL)
                if let cgroup = trial.cgroup { cgroups?.killAttempt(cgroup) }
                trial.killed = true
            }
        }
        return events
    }

    /// Stops the attempt with this lease: SIGTERM to its group, SIGKILL after `killGrace`. Its
    /// exit is reported as FAILED "cancelled: <reason>". A trial already being stopped keeps its
    /// first reason; an unknown lease is ignored.
    public func stop(lease: UInt64, reason: String, now: ContinuousClock.Instant) {
        guard let trial = trials[lease], !trial.exited, trial.intervention == nil else { return }
        trial.intervention = .cancelled(reason: reason)
        terminate(trial, now: now)
    }

    /// Kills every trial and waits for them (blocking, at most `killGrace` plus one second); their
    /// exits are not reported; removes the worker's cgroup directory. For the worker's last moments.
    public func stopAll(now: ContinuousClock.Instant) {
        guard !trials.isEmpty else {
            cgroups?.removeAll()
            return
        }
        let all = trials.values.sorted { $0.ref.lease < $1.ref.lease }
        for trial in all where !trial.exited {
            signalGroup(trial, SIGTERM)
            if let cgroup = trial.cgroup { cgroups?.signalAll(cgroup, SIGTERM) }
        }
        let graceEnd = now + killGrace
        while all.contains(where: { !poll($0) }) && ContinuousClock.now < graceEnd { usleep(10_000) }
        for trial in all where !trial.exited { signalGroup(trial, SIGKILL) }
        let hardEnd = ContinuousClock.now + .seconds(1)
        while all.contains(where: { !poll($0) }) && ContinuousClock.now < hardEnd { usleep(5_000) }
        for trial in all {
            signalGroup(trial, SIGKILL)
            if let cgroup = trial.cgroup { cgroups?.killAttempt(cgroup) }
            releaseResources(trial)
        }
        trials.removeAll()
        // The worker's cgroup directory goes too: this is the runner's end.
        cgroups?.removeAll()
    }

    private func terminate(_ trial: Trial, now: ContinuousClock.Instant) {
        signalGroup(trial, SIGTERM)
        if let cgroup = trial.cgroup { cgroups?.signalAll(cgroup, SIGTERM) }
        trial.killAt = now + killGrace
    }

    /// The attempt cgroups, when the isolation uses them.
    private var cgroups: AttemptCgroups? {
        if case .cgroup(let cgroups) = isolation { cgroups } else { nil }
    }

    private func signalGroup(_ trial: Trial, _ signal: Int32) {
        // ESRCH (the group is already gone) is the common, harmless failure.
        _ = try? Syscall.call("kill -\(trial.pid)") { kill(-trial.pid, signal) }
    }

    // MARK: - Descriptors

    private func closePipe(_ trial: Trial, _ fd: Int32) {
        Syscall.closeQuietly(fd)
        pipeOwners[fd] = nil
        if trial.stdoutPipe == fd { trial.stdoutPipe = nil }
        if trial.stderrPipe == fd { trial.stderrPipe = nil }
    }

    /// Closes the trial's pipes and logs and gives back its GPUs.
    private func releaseResources(_ trial: Trial) {
        gpus.release(lease: trial.ref.lease)
        for fd in [trial.stdoutPipe, trial.stderrPipe].compactMap({ $0 }) { closePipe(trial, fd) }
        if trial.stdoutLog >= 0 { Syscall.closeQuietly(trial.stdoutLog) }
        if trial.stderrLog >= 0 { Syscall.closeQuietly(trial.stderrLog) }
        trial.stdoutLog = -1
        trial.stderrLog = -1
    }

    private func writeLog(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
        guard fd >= 0 else { return }
        do { try Syscall.writeAll(fd, bytes) } catch { logWriteFailures += 1 }
    }

    private func writeLog(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { writeLog(fd, UnsafeRawBufferPointer($0)) }
    }
}

/// One running trial's bookkeeping.
final class Trial {
    let ref: AttemptRef
    let pid: pid_t
    let started: ContinuousClock.Instant
    /// `timeout_s` of the spec, when it has one.
    let timeout: Double?
    let timeoutAt: ContinuousClock.Instant?
    let paths: AttemptPaths
    /// The attempt's cgroup directory, when the runner isolates attempts in cgroups.
    var cgroup: String?
    var stdoutPipe: Int32?
    var stderrPipe: Int32?
    var stdoutLog: Int32
    var stderrLog: Int32
    /// Why the worker is ending the process, when it is.
    var intervention: TrialResult.Intervention?
    /// When SIGKILL follows the SIGTERM already sent.
    var killAt: ContinuousClock.Instant?
    var killed = false
    /// The raw `waitpid` status, once the process has exited.
    var waitStatus: Int32?
    /// The process was reaped by someone else; its status is unknown.
    var lostStatus = false
    var scanner = MetricLineScanner()
    /// The attempt's output on its way to the broker.
    var log: LogBatcher
    var tail = OutputTail()
    var lastMetrics: [String: JSONValue]?
    var reports = 0
    /// The checkpoint of this trial the attempt resumed from (its metrics when this worker
    /// snapshotted it).
    var resumedFrom: CheckpointOrigin?

    var exited: Bool { waitStatus != nil || lostStatus }

    init(ref: AttemptRef, pid: pid_t, started: ContinuousClock.Instant, timeout: Double?, paths: AttemptPaths,
         stdoutPipe: Int32, stderrPipe: Int32, stdoutLog: Int32, stderrLog: Int32) {
        self.ref = ref
        self.pid = pid
        self.started = started
        self.timeout = timeout
        // Clamped to a century so an absurd `timeout_s` cannot overflow the instant.
        timeoutAt = timeout.map { started + .milliseconds(Int64(min($0, 3e9) * 1000)) }
        self.paths = paths
        self.stdoutPipe = stdoutPipe
        self.stderrPipe = stderrPipe
        self.stdoutLog = stdoutLog
        self.stderrLog = stderrLog
        log = LogBatcher(attempt: ref)
    }
}
