import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-way "please stop" flag that a poll loop can wait on.
///
/// **Threading.** `requestStop()` may be called from any thread, any number of times; the loop
/// that owns the latch polls `fd` for input and checks `isStopRequested`.
/// **Ownership.** The latch owns both ends of its pipe and closes them in `deinit`.
public final class StopLatch: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32
    private let stopped = Atomic<Bool>(false)
    private let signalSources = Mutex<[any DispatchSourceSignal]>([])

    /// Creates the latch and its pipe; traps only if the process is out of file descriptors.
    public init() {
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0, "pipe() failed: errno \(errno)")
        readEnd = fds[0]
        writeEnd = fds[1]
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// The read end of the pipe: readable once a stop was requested.
    public var fd: Int32 { readEnd }

    /// Whether a stop was requested.
    public var isStopRequested: Bool { stopped.load(ordering: .acquiring) }

    /// Requests the stop and wakes the loop. Idempotent.
    public func requestStop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Requests the stop when the process receives one of `signals` (default SIGTERM, SIGINT):
    /// the graceful path that `docker stop` and Ctrl-C take. The default action of those signals
    /// is replaced for the life of the process.
    public func stopOnSignals(_ signals: [Int32] = [SIGTERM, SIGINT]) {
        let queue = DispatchQueue(label: "hyperloom.signals")
        // The sources are made inside the lock: they are not Sendable, so they never leave it.
        signalSources.withLock { sources in
            for sig in signals {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler { [weak self] in self?.requestStop() }
                source.resume()
                sources.append(source)
            }
        }
    }
}
