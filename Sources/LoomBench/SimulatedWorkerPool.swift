import Foundation
import LoomWire
import ZeroMQ

/// Many workers in one process, each a DEALER socket that speaks the worker protocol with no
/// trial behind it: it registers, heartbeats, and answers every ASSIGN at once with STARTED and
/// a FINAL. The broker-scale benchmark points a thousand of them at one broker.
///
/// **Threading.** `run(until:)` owns the sockets: call it on one thread; read the results after
/// it returns.
/// **Latency.** A job's payload carries `{"sent_ns": T}`, the submitter's `monotonicNanos()`
/// when it sent the job; the pool measures ASSIGN's arrival against the same clock.
public final class SimulatedWorkerPool {
    public let count: Int
    public let firstID: Int
    private let context: ZMQContext
    private var sockets: [ZMQSocket] = []
    private var lastSent: [UInt64] = []
    private var poller = Poller()
    private let heartbeatNanos: UInt64

    /// Workers that received WELCOME (re-registrations counted once).
    public private(set) var registered = Set<Int>()
    /// Submit-to-ASSIGN latencies in seconds, one per job assigned.
    public private(set) var dispatchLatencies: [Double] = []
    /// Messages the pool could not decode.
    public private(set) var undecodable = 0
    /// Counts other threads may read while `run` goes on.
    public let progress = PoolProgress()

    /// - Parameter firstID: the number of the first worker (`sim-<n>`), so that several pools on
    ///   several threads give their workers distinct ids.
    public init(count: Int, firstID: Int = 0, endpoint: String, heartbeat: Duration, context: ZMQContext) throws {
        self.count = count
        self.firstID = firstID
        self.context = context
        heartbeatNanos = UInt64(heartbeat.components.seconds) * 1_000_000_000
            + UInt64(heartbeat.components.attoseconds / 1_000_000_000)
        let now = monotonicNanos()
        for i in 0..<count {
            let socket = try context.socket(.dealer)
            try socket.setLinger(.zero)
            try socket.connect(endpoint)
            sockets.append(socket)
            poller.add(socket)
            // Staggered, so the heartbeats spread over the interval as real workers' would.
            lastSent.append(now - UInt64(i) * heartbeatNanos / UInt64(max(1, count)))
            try send(i, .ready(readyInfo(i)))
        }
    }

    deinit { close() }

    /// Polls every socket until `stop()` is true (checked at least every 50 ms).
    public func run(until stop: () -> Bool) throws {
        while !stop() {
            for index in try poller.poll(timeout: .milliseconds(50)) {
                while let frames = try sockets[index].receive(dontWait: true) {
                    try handle(frames, from: index)
                }
            }
            let now = monotonicNanos()
            for i in sockets.indices where now &- lastSent[i] >= heartbeatNanos && registered.contains(i) {
                try send(i, .heartbeat)
            }
        }
    }

    public func close() {
        for socket in sockets { socket.close() }
        sockets.removeAll()
    }

    private func handle(_ frames: [Frame], from i: Int) throws {
        guard let message = try? WireDecoder.brokerToWorker(frames) else {
            undecodable += 1
            return
        }
        switch message {
        case .welcome:
            registered.insert(i)
            progress.set(registered: registered.count, assigned: dispatchLatencies.count)
        case .assign(let ref, let payload, _):
            let arrived = monotonicNanos()
            if let sent = Self.sentNanos(payload), sent <= arrived {
                dispatchLatencies.append(Double(arrived - sent) / 1e9)
            }
            progress.set(registered: registered.count, assigned: dispatchLatencies.count)
            try send(i, .started(ref))
            try send(i, .update(Update(kind: .final, attempt: ref, seq: 1, payload: Array(#"{"metrics":{"loss":0}}"#.utf8))))
        case .disconnect(let reason) where reason == DisconnectReason.reregister:
            try send(i, .ready(readyInfo(i)))
        case .heartbeat, .ack, .cancel, .disconnect, .error, .transfer:
            break
        }
    }

    private func send(_ i: Int, _ message: WorkerMessage) throws {
        _ = try sockets[i].send(message.frames, dontWait: true)
        lastSent[i] = monotonicNanos()
    }

    private func readyInfo(_ i: Int) -> ReadyInfo {
        ReadyInfo(worker: "sim-\(firstID + i)", slots: 1, heartbeatMs: Int(heartbeatNanos / 1_000_000), liveness: 3,
                  host: "simulated", pid: getpid(), version: "bench", running: [])
    }

    /// The `sent_ns` of a job payload `{"sent_ns": T, ...}`, read without a JSON decoder.
    static func sentNanos(_ payload: Frame) -> UInt64? {
        let key = Array(#""sent_ns":"#.utf8)
        guard let start = payload.firstRange(of: key)?.upperBound else { return nil }
        var value: UInt64 = 0
        var i = start
        while i < payload.count, payload[i] == UInt8(ascii: " ") { i += 1 }
        let digits = i
        while i < payload.count, payload[i] >= 0x30, payload[i] <= 0x39 {
            value = value &* 10 &+ UInt64(payload[i] - 0x30)
            i += 1
        }
        return i > digits ? value : nil
    }
}

/// Nanoseconds of the monotonic clock (`CLOCK_MONOTONIC`), comparable across threads of a process.
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// The pool's counts, readable from any thread.
public final class PoolProgress: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var _registered = 0
    private var _assigned = 0

    public var registered: Int { lock.withLock { _registered } }
    public var assigned: Int { lock.withLock { _assigned } }

    func set(registered: Int, assigned: Int) {
        lock.withLock {
            _registered = registered
            _assigned = assigned
        }
    }
}
