import Foundation
import LoomRuntime
import Synchronization

/// Long-running services (broker, workers) on threads of one process, each with its own stop
/// latch, for the embedded commands.
///
/// **Threading.** `start` and `stopAll` are called from the command's thread; each service runs
/// on a thread of its own and owns its sockets there.
public final class EmbeddedServices: @unchecked Sendable {
    private struct Entry {
        let name: String
        let stop: StopLatch
        let done: DispatchSemaphore
    }
    private var entries: [Entry] = []

    public init() {}

    /// Runs `body` on a new thread until its latch fires; a thrown error is printed. The caller
    /// gives up what `body` captures (`sending`): the service and its sockets belong to the new
    /// thread from then on.
    public func start(_ name: String, _ body: sending @escaping (StopLatch) throws -> Void) {
        let stop = StopLatch()
        let done = DispatchSemaphore(value: 0)
        entries.append(Entry(name: name, stop: stop, done: done))
        let transfer = Transfer(body: body)
        let thread = Thread {
            do { try transfer.body(stop) } catch { FileHandle.standardError.write(Data("\(name): \(error)\n".utf8)) }
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops every service and waits for each thread; the first one started (the broker) last
    /// when `workersFirst`, so workers can say DISCONNECT to it.
    public func stopAll(workersFirst: Bool) {
        let ordered = workersFirst ? Array(entries.dropFirst()) + entries.prefix(1) : entries
        for entry in ordered {
            entry.stop.requestStop()
            entry.done.wait()
        }
        entries.removeAll()
    }
}

/// Carries a closure that was passed as `sending` into `Thread`'s `@Sendable` block: the compiler
/// has already checked that the caller keeps no access to what it captures.
private struct Transfer: @unchecked Sendable {
    let body: (StopLatch) throws -> Void
}
