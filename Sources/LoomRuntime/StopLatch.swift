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
/// **Ownership.** The latch owns its wake pipe.
public final class StopLatch: Sendable {
    private let pipe = WakePipe()
    private let stopped = Atomic<Bool>(false)
    private let signalSources = Mutex<[SignalSources]>([])

    /// Creates the latch and its pipe.
    public init() {}

    /// The read end of the pipe: readable once a stop was requested.
    public var fd: Int32 { pipe.fd }

    /// Whether a stop was requested.
    public var isStopRequested: Bool { stopped.load(ordering: .acquiring) }

    /// Requests the stop and wakes the loop. Idempotent.
    public func requestStop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        pipe.wake()
    }

    /// Requests the stop when the process receives one of `signals` (default SIGTERM, SIGINT):
    /// the graceful path that `docker stop` and Ctrl-C take. The default action of those signals
    /// is replaced for the life of the process.
    public func stopOnSignals(_ signals: [Int32] = [SIGTERM, SIGINT]) {
        let sources = SignalSources(signals) { [weak self] in self?.requestStop() }
        signalSources.withLock { $0.append(sources) }
    }
}
