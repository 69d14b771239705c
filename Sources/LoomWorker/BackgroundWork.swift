import Foundation
import LoomRuntime

/// A serial queue of I/O-heavy jobs (checkpoint snapshots) run on a thread of its own, so the
/// agent's ZeroMQ loop keeps heartbeating while a directory of 50,000 files is hashed and copied.
///
/// **Threading.** `submit`, `collect` and `close` are called from the loop thread only. Jobs run
/// on the queue's thread one at a time, in submission order. `wake.fd` becomes readable when a
/// result is ready; the loop polls it and calls `collect()`.
/// **Ownership.** A job owns what it captures and touches no loop state; its result is handed
/// back to the loop thread, which alone feeds it to the state machine. The thread starts with the
/// first job and ends at `close()`; a job running then finishes, its result unread.
final class BackgroundWork<Result: Sendable>: @unchecked Sendable {
    /// Readable while results wait for `collect()`.
    let wake = WakePipe()
    /// Jobs submitted and not yet collected (loop thread only).
    private(set) var outstanding = 0
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Result] = []
    private var results: [Result] = []
    private var closed = false
    private var started = false
    private let name: String

    init(name: String) { self.name = name }

    /// Queues `job`; its result comes back through `collect()`.
    func submit(_ job: @escaping @Sendable () -> Result) {
        outstanding += 1
        condition.lock()
        jobs.append(job)
        let start = !started && !closed
        started = true
        condition.signal()
        condition.unlock()
        if start {
            let thread = Thread { [self] in runJobs() }
            thread.name = name
            thread.start()
        }
    }

    /// The results ready now, in completion order.
    func collect() -> [Result] {
        wake.drain()
        condition.lock()
        let ready = results
        results.removeAll()
        condition.unlock()
        outstanding -= ready.count
        return ready
    }

    /// Drops the jobs not started and lets the thread end.
    func close() {
        condition.lock()
        closed = true
        jobs.removeAll()
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty && !closed { condition.wait() }
            if closed {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            let result = job()
            condition.lock()
            results.append(result)
            condition.unlock()
            wake.wake()
        }
    }
}
