import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the worker contains each attempt's processes, so that nothing an attempt started outlives
/// it (reported in READY `isolation` and shown by `hyperloom status`).
public enum AttemptIsolation: Sendable {
    /// Each attempt is a process group: stops and the end of the attempt signal the group. A
    /// process that leaves the group (`setsid`) escapes it.
    case processGroup
    /// Each attempt is a process group inside a cgroup of its own: the end of the attempt kills
    /// every process in the cgroup, `setsid` daemons included.
    case cgroup(AttemptCgroups)

    /// The name READY and `hyperloom status` show: `process-group`, `cgroup2` or `cgroup1-freezer`.
    public var name: String {
        switch self {
        case .processGroup: "process-group"
        case .cgroup(let cgroups): cgroups.kind.rawValue
        }
    }

    /// The best isolation this host allows the worker: a cgroup v2 directory below the worker's
    /// own cgroup (delegated to it), else a cgroup v1 `freezer` directory, else process groups.
    /// A cgroup kind is used only after a probe process has joined a cgroup of that kind here.
    public static func detect(workerID: String) -> AttemptIsolation {
        for kind in [AttemptCgroups.Kind.v2, .v1Freezer] {
            if let cgroups = AttemptCgroups(kind: kind, workerID: workerID) { return .cgroup(cgroups) }
        }
        return .processGroup
    }
}

/// One cgroup directory per attempt, below a directory of the worker's own
/// (`<worker's cgroup>/hyperloom-<worker id>-<pid>/lease-<lease>`).
///
/// **Joining.** A trial joins its cgroup before it execs: the runner starts it through `/bin/sh`,
/// which writes its own pid to `cgroup.procs` and then execs the trial, so not even the trial's
/// first child is born outside the cgroup.
/// **Killing.** cgroup v2 writes `cgroup.kill` (Linux 5.14+), or freezes the cgroup, SIGKILLs
/// every pid in `cgroup.procs` and thaws it; cgroup v1 does the latter with the `freezer`
/// controller. A frozen cgroup cannot fork, so nothing escapes while it is being emptied.
/// **Threading.** Used from the agent's loop thread only. The blocking parts (a freeze settling,
/// a probe process) are bounded to milliseconds.
public final class AttemptCgroups: @unchecked Sendable {
    /// The cgroup hierarchy used.
    public enum Kind: String, Sendable {
        /// The unified hierarchy: `cgroup.kill` or `cgroup.freeze`.
        case v2 = "cgroup2"
        /// A v1 hierarchy with the `freezer` controller.
        case v1Freezer = "cgroup1-freezer"
    }

    public let kind: Kind
    /// The worker's directory, parent of one directory per attempt.
    public let parent: String
    /// Attempt directories killed but not yet removed (a dying process still holds them).
    private var pendingRemoval: Set<String> = []

    /// The worker's directory of `kind`, made and probed; nil when this host does not allow it.
    init?(kind: Kind, workerID: String) {
        guard let base = Self.ownCgroupDirectory(kind: kind) else { return nil }
        let safeID = String(workerID.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }.prefix(64))
        Self.removeStale(in: base, prefix: "hyperloom-\(safeID)-")
        let parent = "\(base)/hyperloom-\(safeID)-\(getpid())"
        guard mkdir(parent, 0o755) == 0 || errno == EEXIST else { return nil }
        self.kind = kind
        self.parent = parent
        if kind == .v2, !FileManager.default.fileExists(atPath: parent + "/cgroup.kill"),
           !FileManager.default.fileExists(atPath: parent + "/cgroup.freeze") {
            rmdir(parent)
            return nil
        }
        guard probe() else {
            rmdir(parent)
            return nil
        }
    }

    /// The directory of the attempt with this lease, made empty: the trial joins it through
    /// `joinArguments`.
    func create(lease: UInt64) throws(SystemError) -> String {
        let directory = "\(parent)/lease-\(lease)"
        if FileManager.default.fileExists(atPath: directory) { killAll(in: directory) }
        try Syscall.call("mkdir \(directory)") { mkdir(directory, 0o755) == 0 || errno == EEXIST ? 0 : -1 }
        return directory
    }

    /// `argv` prefixed so that the process writes itself into `directory` and then execs `argv`
    /// (the first element is the program's path). A failed join ends it with status 125 and a
    /// line on stderr saying so.
    static func joinArguments(_ directory: String, then argv: [String]) -> (executable: String, arguments: [String]) {
        let script = #"echo $$ 2>/dev/null >"$0/cgroup.procs" || { echo "hyperloom: cannot join the attempt's cgroup $0" >&2; exit 125; }; exec "$@""#
        return ("/bin/sh", ["sh", "-c", script, directory] + argv)
    }

    /// Sends `signal` to every process in the attempt's cgroup (SIGTERM at a stop: a `setsid`
    /// daemon gets the same grace as the trial).
    func signalAll(_ directory: String, _ signal: Int32) {
        for pid in Self.pids(in: directory) { kill(pid, signal) }
    }

    /// Kills every process in the attempt's cgroup and removes it once empty (now, or at a
    /// later `sweep()`).
    func killAttempt(_ directory: String) {
        killAll(in: directory)
        if rmdir(directory) != 0 { pendingRemoval.insert(directory) }
    }

    /// Removes the attempt directories whose last process has since died.
    func sweep() {
        for directory in pendingRemoval where rmdir(directory) == 0 || errno == ENOENT {
            pendingRemoval.remove(directory)
        }
    }

    /// Kills what is left in every attempt directory and removes them and the worker's
    /// directory, waiting at most `timeout` for the processes to die.
    func removeAll(timeout: Duration = .seconds(1)) {
        let children = ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter { $0.hasPrefix("lease-") }
        for child in children { killAttempt("\(parent)/\(child)") }
        let deadline = ContinuousClock.now + timeout
        while !pendingRemoval.isEmpty && ContinuousClock.now < deadline {
            usleep(5_000)
            sweep()
        }
        rmdir(parent)
    }

    /// Whether any process is left in the attempt's cgroup.
    func isEmpty(_ directory: String) -> Bool { Self.pids(in: directory).isEmpty }

    // MARK: - Killing

    private func killAll(in directory: String) {
        if kind == .v2, Self.write("1", to: directory + "/cgroup.kill") { return }
        // Freeze, kill every pid, thaw: a frozen cgroup cannot fork while it is emptied.
        let frozen = freeze(directory, true)
        for pid in Self.pids(in: directory) { kill(pid, SIGKILL) }
        if frozen { _ = freeze(directory, false) }
    }

    /// Freezes (or thaws) the cgroup; a freeze waits up to 100 ms for it to settle.
    private func freeze(_ directory: String, _ on: Bool) -> Bool {
        switch kind {
        case .v2:
            guard Self.write(on ? "1" : "0", to: directory + "/cgroup.freeze") else { return false }
            guard on else { return true }
            return settle { Self.read(directory + "/cgroup.events")?.contains("frozen 1") ?? false }
        case .v1Freezer:
            guard Self.write(on ? "FROZEN" : "THAWED", to: directory + "/freezer.state") else { return false }
            guard on else { return true }
            return settle { Self.read(directory + "/freezer.state")?.hasPrefix("FROZEN") ?? false }
        }
    }

    private func settle(_ done: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(100)
        while !done() {
            guard ContinuousClock.now < deadline else { return false }
            usleep(1_000)
        }
        return true
    }

    /// Empties and removes what an earlier process of the same worker left (it was SIGKILLed, so
    /// it removed nothing): its directories are named after its pid, which no longer runs. What
    /// still ran in them — `setsid` daemons of its trials — is killed now.
    private static func removeStale(in base: String, prefix: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid != getpid(),
                  kill(pid, 0) != 0 && errno == ESRCH else { continue }
            let directory = "\(base)/\(name)"
            for child in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where child.hasPrefix("lease-") || child == "probe" {
                let attempt = "\(directory)/\(child)"
                if !write("1", to: attempt + "/cgroup.kill") {
                    // v1 (or v2 without cgroup.kill): the stragglers are killed one by one.
                    for pid in pids(in: attempt) { kill(pid, SIGKILL) }
                }
                let deadline = ContinuousClock.now + .milliseconds(200)
                while rmdir(attempt) != 0 && errno == EBUSY && ContinuousClock.now < deadline { usleep(2_000) }
            }
            rmdir(directory)
        }
    }

    // MARK: - Probing

    /// Runs a process that joins a fresh cgroup below `parent`, as a trial would.
    private func probe() -> Bool {
        let directory = "\(parent)/probe"
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else { return false }
        defer { rmdir(directory) }
        let (executable, arguments) = Self.joinArguments(directory, then: ["/bin/true"])
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        guard devNull >= 0 else { return false }
        defer { Syscall.closeQuietly(devNull) }
        guard let pid = try? Spawn.spawn(executable: executable, arguments: arguments, environment: [],
                                         directory: nil, stdout: devNull, stderr: devNull) else { return false }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS == 0.
        return status & 0x7f == 0 && (status >> 8) & 0xff == 0
    }

    // MARK: - Files

    /// The directory of the worker's own cgroup in the hierarchy of `kind`, from
    /// /proc/self/mountinfo and /proc/self/cgroup; nil when that hierarchy is not mounted.
    static func ownCgroupDirectory(kind: Kind) -> String? {
        guard let mountinfo = read("/proc/self/mountinfo"), let membership = read("/proc/self/cgroup") else { return nil }
        var mount: (root: String, point: String)?
        for line in mountinfo.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let fields = halves[0].split(separator: " ").map(String.init)
            let tail = halves[1].split(separator: " ").map(String.init)
            guard fields.count >= 5, tail.count >= 3 else { continue }
            let matches = switch kind {
            case .v2: tail[0] == "cgroup2"
            case .v1Freezer: tail[0] == "cgroup" && tail[2].split(separator: ",").contains("freezer")
            }
            if matches {
                mount = (fields[3], fields[4])
                break
            }
        }
        guard let mount else { return nil }
        var own: String?
        for line in membership.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            let matches = switch kind {
            case .v2: parts[0] == "0" && parts[1].isEmpty
            case .v1Freezer: parts[1].split(separator: ",").contains("freezer")
            }
            if matches { own = parts[2] }
        }
        guard var path = own else { return nil }
        // Without a cgroup namespace a container's mount root is its own cgroup.
        if mount.root != "/", path.hasPrefix(mount.root) { path = String(path.dropFirst(mount.root.count)) }
        let directory = mount.point + (path == "/" ? "" : path)
        return access(directory, W_OK) == 0 ? directory : nil
    }

    static func pids(in directory: String) -> [pid_t] {
        (read(directory + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { pid_t($0) }
    }

    static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes `text` to a cgroup control file; whether the kernel took it.
    @discardableResult
    static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Syscall.closeQuietly(fd) }
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { (try? Syscall.writeAll(fd, UnsafeRawBufferPointer($0))) != nil }
    }
}
