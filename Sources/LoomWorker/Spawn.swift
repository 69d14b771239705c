#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts trial processes with `posix_spawn`: each in a process group of its own (so a stop
/// reaches its children too), stdin from /dev/null, stdout and stderr into the given pipes, every
/// signal at its default action and none blocked (the worker itself ignores SIGTERM and SIGINT
/// for its stop latch; a trial must not inherit that), and no other descriptor of the worker.
enum Spawn {
    /// A pipe whose read end (the worker's) is non-blocking; both ends close on exec.
    static func makePipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        if let pipe2 = GNU.pipe2 {
            try Syscall.call("pipe2") { pipe2(&fds, O_CLOEXEC) }
        } else {
            try Syscall.call("pipe") { pipe(&fds) }
            for fd in fds { try Syscall.call("fcntl F_SETFD") { fcntl(fd, F_SETFD, FD_CLOEXEC) } }
        }
        do {
            let flags = try Syscall.call("fcntl F_GETFL") { fcntl(fds[0], F_GETFL) } ?? 0
            try Syscall.call("fcntl F_SETFL") { fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) }
        } catch {
            Syscall.closeQuietly(fds[0])
            Syscall.closeQuietly(fds[1])
            throw error
        }
        return (fds[0], fds[1])
    }

    /// Spawns `executable` with `arguments` (argv[0] included) and `environment`; returns the
    /// pid, which is also the process group id. Throws the error `posix_spawn` reported (ENOENT,
    /// EACCES, ENOEXEC, ...), or ENOSYS when `directory` is given but this C library cannot
    /// change directory in a spawn.
    static func spawn(executable: String, arguments: [String], environment: [String], directory: String?,
                      stdout: Int32, stderr: Int32) throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        if let directory {
            guard let addChdir = GNU.addChdir else { throw SystemError("chdir \(directory)", errno: ENOSYS) }
            try check("chdir \(directory)", addChdir(&actions, directory))
        }
        try check("open /dev/null", posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0))
        try check("dup2 stdout", posix_spawn_file_actions_adddup2(&actions, stdout, 1))
        try check("dup2 stderr", posix_spawn_file_actions_adddup2(&actions, stderr, 2))
        // Belt and braces: descriptors another thread opened without O_CLOEXEC do not leak in.
        if let addCloseFrom = GNU.addCloseFrom { try check("closefrom", addCloseFrom(&actions, 3)) }

        var defaults = sigset_t()
        sigemptyset(&defaults)
        // Every signal up to SIGRTMAX; glibc refuses its two internal ones, which is fine.
        for signal in Int32(1)...64 where signal != SIGKILL && signal != SIGSTOP { sigaddset(&defaults, signal) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        try check("setsigdefault", posix_spawnattr_setsigdefault(&attributes, &defaults))
        try check("setsigmask", posix_spawnattr_setsigmask(&attributes, &unblocked))
        try check("setpgroup", posix_spawnattr_setpgroup(&attributes, 0))
        let flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        try check("setflags", posix_spawnattr_setflags(&attributes, Int16(flags)))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw SystemError("posix_spawn \(executable)", errno: result) }
        return pid
    }

    private static func check(_ call: String, _ result: Int32) throws(SystemError) {
        guard result == 0 else { throw SystemError(call, errno: result) }
    }
}

/// GNU extensions the Swift Glibc module does not import (they sit behind `_GNU_SOURCE`),
/// looked up once at run time; `nil` where the C library lacks them.
enum GNU {
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29).
    static let addChdir: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")
    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34).
    static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    /// `pipe2`, which sets O_CLOEXEC atomically.
    static let pipe2: Pipe2? = symbol("pipe2")

    private static func symbol<F>(_ name: String) -> F? {
        // A null handle is RTLD_DEFAULT: search the process's global symbols.
        guard let address = dlsym(nil, name) else { return nil }
        return unsafeBitCast(address, to: F.self)
    }
}
