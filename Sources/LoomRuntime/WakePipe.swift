#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A non-blocking self-pipe: any thread calls `wake()`, the thread that owns a poll loop polls
/// `fd` for input and calls `drain()` once woken.
///
/// **Threading.** `wake()` is safe from any thread (and from a signal handler); `drain()` is
/// called by the polling thread only.
/// **Ownership.** The pipe owns both descriptors (close-on-exec) and closes them in `deinit`.
public final class WakePipe: Sendable {
    /// The read end: readable after a `wake()` until `drain()`.
    public let fd: Int32
    private let writeEnd: Int32

    /// Creates the pipe; traps only if the process is out of file descriptors.
    public init() {
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0, "pipe() failed: errno \(errno)")
        fd = fds[0]
        writeEnd = fds[1]
        for end in fds {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
    }

    deinit {
        close(fd)
        close(writeEnd)
    }

    /// Makes `fd` readable. A full pipe is already readable, so a failed write loses nothing.
    public func wake() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Empties the pipe.
    public func drain() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(fd, &buffer, buffer.count) > 0 {}
    }
}
