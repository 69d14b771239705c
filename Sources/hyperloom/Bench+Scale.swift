import ArgumentParser
import Foundation
import LoomBench
import Logging
import LoomClient
import LoomWire
import ZeroMQ

/// A thousand simulated workers heartbeating at one broker while jobs flow: the broker's CPU,
/// memory and dispatch latency.
struct ScaleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Many simulated workers (one process, one DEALER each) at one broker: broker CPU, memory, dispatch latency.")

    @Option(help: "Simulated workers, one slot each.") var workers = 1000
    @Option(help: "Jobs submitted per second while measuring.") var rate = 200
    @Option(help: "Seconds of measurement with jobs flowing (after an idle measurement of the same length).") var seconds = 10
    @Option(help: "Threads the simulated workers are spread over (each polls its share of the sockets).") var poolThreads = 4
    @OptionGroup var logging: BenchLogging

    func validate() throws {
        guard workers >= 1, rate >= 1, seconds >= 1, poolThreads >= 1, poolThreads <= workers else {
            throw ValidationError("--workers, --rate, --seconds and --pool-threads must be at least 1, and --pool-threads at most --workers")
        }
    }

    func run() throws {
        logging.options.bootstrap(default: .warning)
        let limit = raiseDescriptorLimit()
        guard limit == 0 || limit > UInt64(workers + 256) else {
            throw Failure("\(workers) workers need more descriptors than this process may open (\(limit)); raise `ulimit -n`")
        }
        let services = try BenchServices(label: "scale")
        defer { services.stop() }
        guard let brokerPID = services.broker?.pid else { throw Failure("no broker") }

        let context = try ZMQContext()
        defer { context.terminate() }
        try context.setMaxSockets(Int32(workers + 64))
        let stop = StopFlag()
        let done = DispatchSemaphore(value: 0)
        let box = PoolBox()
        let endpoint = services.endpoint
        // The workers are spread over a few threads: one thread polling a thousand sockets would
        // add its own poll time (zmq_poll checks every socket) to the latency it measures.
        let shards = (0..<poolThreads).map { t in (first: workers * t / poolThreads, count: workers * (t + 1) / poolThreads - workers * t / poolThreads) }
        for shard in shards {
            let thread = Thread {
                defer { done.signal() }
                do {
                    let pool = try SimulatedWorkerPool(count: shard.count, firstID: shard.first, endpoint: endpoint,
                                                       heartbeat: .seconds(1), context: context)
                    box.add(progress: pool.progress)
                    try pool.run(until: { stop.isSet })
                    box.add(latencies: pool.dispatchLatencies)
                    pool.close()
                } catch {
                    box.set(error: "\(error)")
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        var joined = false
        defer {
            if !joined {
                stop.set()
                for _ in shards { done.wait() }
            }
        }

        let registerStart = ContinuousClock.now
        while box.registered < workers {
            if let error = box.error { throw Failure("simulated workers: \(error)") }
            guard ContinuousClock.now - registerStart < .seconds(60) else {
                throw Failure("only \(box.registered) of \(workers) simulated workers registered in 60 s")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let registration = (ContinuousClock.now - registerStart).seconds
        Console.line(String(format: "%d simulated workers registered in %.2f s", workers, registration))

        // Idle: heartbeats only.
        guard let idle0 = ProcessSample(pid: brokerPID) else { throw Failure("cannot read /proc/\(brokerPID)") }
        let idleStart = ContinuousClock.now
        Thread.sleep(forTimeInterval: Double(seconds))
        guard let idle1 = ProcessSample(pid: brokerPID) else { throw Failure("the broker exited") }
        let idleCPU = (idle1.cpuSeconds - idle0.cpuSeconds) / (ContinuousClock.now - idleStart).seconds

        // Jobs flowing at `rate` per second, submitted in batches every 20 ms.
        let client = try BrokerClient(endpoint: services.endpoint, name: "bench scale")
        defer { client.close() }
        try client.connect()
        guard let busy0 = ProcessSample(pid: brokerPID) else { throw Failure("the broker exited") }
        let busyStart = ContinuousClock.now
        var submitted = 0
        var finished = 0
        let total = rate * seconds
        while ContinuousClock.now - busyStart < .seconds(seconds) {
            let due = min(total, Int((ContinuousClock.now - busyStart).seconds * Double(rate)))
            if due > submitted {
                let jobs = (submitted..<due).map { n in
                    JobSubmission(id: "scale/\(n)", payload: Array(#"{"sent_ns": \#(monotonicNanos()), "command": ["true"]}"#.utf8))
                }
                _ = try client.submit(jobs)
                submitted = due
            }
            for event in try client.poll(timeout: .milliseconds(20)) {
                if case .update(let update) = event {
                    try client.acknowledge(update)
                    if update.kind.isTerminal { finished += 1 }
                }
            }
        }
        let busyElapsed = (ContinuousClock.now - busyStart).seconds
        guard let busy1 = ProcessSample(pid: brokerPID) else { throw Failure("the broker exited") }
        let busyCPU = (busy1.cpuSeconds - busy0.cpuSeconds) / busyElapsed
        // Drain the last results so none is left unacknowledged.
        let drain = ContinuousClock.now
        while finished < submitted && ContinuousClock.now - drain < .seconds(10) {
            for event in try client.poll(timeout: .milliseconds(50)) {
                if case .update(let update) = event {
                    try client.acknowledge(update)
                    if update.kind.isTerminal { finished += 1 }
                }
            }
        }
        stop.set()
        for _ in shards { done.wait() }
        joined = true
        guard let latency = Summary(box.latencies) else { throw Failure("no job was dispatched") }
        Console.line(String(format: "scale: %d workers; broker CPU idle %.1f%%, with %d jobs/s %.1f%% of one core; "
                            + "submit→ASSIGN p50 %.2f ms, p99 %.2f ms over %d jobs (%d results); broker RSS %.1f MiB (peak %.1f MiB)",
                            workers, idleCPU * 100, rate, busyCPU * 100, latency.p50 * 1000, latency.p99 * 1000, latency.count,
                            finished, Double(busy1.residentBytes) / 1_048_576, Double(busy1.peakResidentBytes) / 1_048_576))
        var figure = BenchFigure(bench: "scale")
        figure.add("workers", workers)
        figure.add("jobs_per_s", rate)
        figure.add("broker_cpu_idle_percent", idleCPU * 100, digits: 1)
        figure.add("broker_cpu_percent", busyCPU * 100, digits: 1)
        figure.add("dispatch_ms", latency, milliseconds: true)
        figure.add("broker_rss_mib", Double(busy1.residentBytes) / 1_048_576, digits: 1)
        figure.add("registration_s", registration)
        figure.add("pool_threads", poolThreads)
        Console.line(figure.line())
    }
}

/// A flag one thread sets and another polls.
final class StopFlag: @unchecked Sendable {
    // @unchecked: `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// What the pool's thread hands back to the benchmark.
final class PoolBox: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var _progress: [PoolProgress] = []
    private var _latencies: [Double] = []
    private var _error: String?
    /// Simulated workers registered, over every pool.
    var registered: Int { lock.withLock { _progress.reduce(0) { $0 + $1.registered } } }
    var latencies: [Double] { lock.withLock { _latencies } }
    var error: String? { lock.withLock { _error } }
    func add(progress: PoolProgress) { lock.withLock { _progress.append(progress) } }
    func add(latencies: [Double]) { lock.withLock { _latencies += latencies } }
    func set(error: String) { lock.withLock { _error = error } }
}

extension Duration {
    /// This duration in seconds, as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
