import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A flag raised each time the process receives one of its signals (e.g. SIGHUP: "reload"),
/// that a poll loop waits on.
///
/// **Threading.** Raised from a dispatch queue; `take()` is called by the polling thread only.
/// **Ownership.** Owns its wake pipe and its signal sources for the life of the process.
public final class SignalFlag: Sendable {
    private let pipe = WakePipe()
    private let raised = Atomic<Bool>(false)
    private let sources = Mutex<[SignalSources]>([])

    /// Starts listening for `signals`; their default action is replaced for the life of the process.
    public init(signals: [Int32]) {
        let listening = SignalSources(signals) { [weak self] in self?.raise() }
        sources.withLock { $0.append(listening) }
    }

    /// Raises the flag and wakes the loop (what a signal does).
    public func raise() {
        raised.store(true, ordering: .releasing)
        pipe.wake()
    }

    /// Readable while the flag is raised.
    public var fd: Int32 { pipe.fd }

    /// Whether a signal arrived since the last call; lowers the flag.
    public func take() -> Bool {
        pipe.drain()
        return raised.exchange(false, ordering: .acquiringAndReleasing)
    }
}

/// Dispatch signal sources that run `handler` for each of `signals`, kept alive with their owner.
final class SignalSources: Sendable {
    private let sources = Mutex<[any DispatchSourceSignal]>([])

    init(_ signals: [Int32], handler: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "hyperloom.signals")
        // The sources are made inside the lock: they are not Sendable, so they never leave it.
        sources.withLock { list in
            for sig in signals {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler(handler: handler)
                source.resume()
                list.append(source)
            }
        }
    }
}
