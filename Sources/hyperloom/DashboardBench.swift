import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LoomBench
import LoomBroker
import Logging
import LoomWire
import ZeroMQ

/// `hyperloom bench dashboard`: `hyperloom dashboard` (a child process) following a feed whose
/// journal holds a study of 10,000 finished trials, then a live feed of 500 events/s. Reports
/// the catch-up time, the study page's first answers, the update latency and the dashboard's CPU.
struct DashboardBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Dashboard: first answers of a study page of 10,000 trials, update latency and CPU share at 500 events/s.")

    @Option(help: "Trials in the journal before the dashboard starts (each: queued, assigned, started, 3 reports, finished).")
    var trials = 10_000

    @Option(help: "Live feed rate, events per second.")
    var rate = 500

    @Option(help: "Seconds of live feed measured.")
    var seconds = 20

    @OptionGroup var logging: BenchLogging

    func validate() throws {
        guard trials >= 1, rate >= 1, seconds >= 2 else { throw ValidationError("--trials and --rate must be at least 1, --seconds at least 2") }
    }

    /// The study's name on the feed.
    static let study = "bench"

    func run() throws {
        logging.options.bootstrap(default: .warning)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-dashbench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let context = try ZMQContext()
        defer { context.terminate() }
        let publisher = FeedPublisher(journal: try FeedJournal(path: directory.appendingPathComponent("feed.journal").path),
                                      logger: Logger(label: "hyperloom.bench"))
        let pub = try context.socket(.pub)
        try pub.setSendHighWaterMark(100_000)
        try pub.setLinger(.zero)
        try pub.bind("tcp://127.0.0.1:*")
        let replay = try publisher.bindReplay(endpoint: "tcp://127.0.0.1:*", context: context, serverKey: nil, zapDomain: "")
        var feed = SyntheticFeed()

        // The history: every trial's life, journaled before the dashboard starts.
        var events: [(BrokerEvent, Frame?)] = [(.workerJoined(worker: "w1", host: "bench", pid: 1, slots: 64, gpus: 0, heartbeatMs: 1_000,
                                                              rejoined: false, holds: 0), nil)]
        for n in 1...trials { events += feed.trial(n) }
        for chunk in stride(from: 0, to: events.count, by: 1_000) {
            for (event, payload) in events[chunk..<min(chunk + 1_000, events.count)] { feed.publish(event, payload: payload, on: publisher) }
            try publisher.publishPending(on: pub, now: .now, time: Date().timeIntervalSince1970)
        }
        let history = feed.seq
        Console.line("journal: \(trials) trials, \(history) events")

        let dashboard = try ChildProcess("dashboard", executable: ChildProcess.currentExecutable,
                                         arguments: ["dashboard", "--feed", try pub.lastEndpoint(), "--replay", replay, "--port", "0",
                                                     "--metric", "loss", "--broker", "tcp://127.0.0.1:1", "--timeout", "1s"],
                                         log: directory.appendingPathComponent("dashboard.log"))
        defer { dashboard.stop() }
        let started = ContinuousClock.now
        var url: String?
        while url == nil, started.duration(to: .now) < .seconds(30) {
            try publisher.serveReplays()
            try publisher.publishPending(on: pub, now: .now, time: Date().timeIntervalSince1970)
            url = dashboard.output.split(separator: "\n").first { $0.hasPrefix("dashboard: ") }.map { String($0.dropFirst("dashboard: ".count)) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        guard let url else { throw Failure("the dashboard did not start: \(dashboard.output)") }
        let http = HTTP(base: url)
        // Caught up: the dashboard's position is the journal's head.
        while (try? http.position()) ?? 0 < history {
            guard started.duration(to: .now) < .seconds(120) else { throw Failure("the dashboard did not catch up in 120 s: \(dashboard.output)") }
            try publisher.serveReplays()
            try publisher.publishPending(on: pub, now: .now, time: Date().timeIntervalSince1970)
            Thread.sleep(forTimeInterval: 0.01)
        }
        let catchUp = started.duration(to: .now).seconds
        Console.line(String(format: "caught up with %llu events in %.2f s (process start included)", history, catchUp))

        // First paint of a study page: the page, the study view (first 100 rows), the charts (cold).
        let page = try http.timed("/")
        let studyView = try http.timed("/api/study?id=\(Self.study)")
        let charts = try http.timed("/api/charts?id=\(Self.study)")
        Console.line(String(format: "study page, first answers: page %.1f ms, study view %.1f ms (%d bytes), charts %.1f ms (%d bytes): %.1f ms",
                            page.ms, studyView.ms, studyView.bytes, charts.ms, charts.bytes, page.ms + studyView.ms + charts.ms))

        // Live: `rate` events/s; every 0.5 s a marker, whose arrival a WebSocket client of `/ws`
        // times as an open page sees it (the push that tells the page to fetch again). In the
        // second half a study page is open: its view every 400 ms and its charts every 2 s, as
        // `DashboardPage` asks for them while the study changes.
        let latencies = LatencyLog()
        let stopPolling = LockedBox(false)
        guard let port = URL(string: url)?.port.flatMap({ UInt16(exactly: $0) }) else { throw Failure("no port in \(url)") }
        let pushes = try PushReader(port: port)
        defer { pushes.close() }
        let pushThread = Thread {
            while !stopPolling.get(), !pushes.closed {
                if let position = pushes.next() { latencies.seen(position, at: .now) }
            }
        }
        pushThread.start()
        // The first half without a page open (the feed alone), the second with one.
        let pageOpen = LockedBox(false)
        let pageThread = Thread {
            let http = HTTP(base: url)
            var lastCharts: ContinuousClock.Instant?
            while !stopPolling.get() {
                if pageOpen.get() {
                    if let t = try? http.timed("/api/study?id=\(Self.study)") { latencies.fetched(t.ms) }
                    if lastCharts.map({ $0.duration(to: .now) >= .seconds(DashboardServerInterval.charts) }) ?? true {
                        lastCharts = .now
                        if let t = try? http.timed("/api/charts?id=\(Self.study)") { latencies.charted(t.ms) }
                    }
                }
                Thread.sleep(forTimeInterval: DashboardServerInterval.render)
            }
        }
        pageThread.start()
        let before = ProcessSample(pid: dashboard.pid)
        var half: ProcessSample?
        let live = ContinuousClock.now
        var sent = 0
        var nextMarker = live
        var liveTrial = trials
        while live.duration(to: .now) < .seconds(seconds) {
            let due = Int(live.duration(to: .now).seconds * Double(rate))
            while sent < due {
                if sent % 7 == 0 { liveTrial += 1 }
                let (event, payload) = feed.live(trial: liveTrial, step: sent % 7)
                feed.publish(event, payload: payload, on: publisher)
                sent += 1
            }
            if half == nil, live.duration(to: .now) >= .seconds(seconds) / 2 {
                half = ProcessSample(pid: dashboard.pid)
                pageOpen.set(true)
            }
            if ContinuousClock.now >= nextMarker {
                latencies.published(feed.seq, at: .now)
                nextMarker = nextMarker + .milliseconds(500)
            }
            try publisher.publishPending(on: pub, now: .now, time: Date().timeIntervalSince1970)
            try publisher.serveReplays()
            Thread.sleep(forTimeInterval: 0.002)
        }
        let wall = live.duration(to: .now).seconds
        let after = ProcessSample(pid: dashboard.pid)
        Thread.sleep(forTimeInterval: 0.5)
        stopPolling.set(true)
        let cpuAlone = ((half?.cpuSeconds ?? 0) - (before?.cpuSeconds ?? 0)) / (wall / 2)
        let cpuWithPage = ((after?.cpuSeconds ?? 0) - (half?.cpuSeconds ?? 0)) / (wall / 2)
        let lat = latencies.latenciesMs().sorted()
        let fetches = latencies.fetchesMs().sorted()
        let chartFetches = latencies.chartsMs().sorted()
        func pct(_ xs: [Double], _ p: Double) -> Double { xs.isEmpty ? .nan : xs[min(xs.count - 1, Int(Double(xs.count) * p))] }
        Console.line(String(format: "live %.0f s at %d events/s (%d sent): feed→push latency p50 %.0f ms, p95 %.0f ms, max %.0f ms (%d markers); "
                            + "study view under load p50 %.1f ms, p95 %.1f ms; charts under load p50 %.1f ms (%d); dashboard CPU %.1f%% of a core "
                            + "following the feed alone, %.1f%% with a study page open, RSS %d MB",
                            wall, rate, sent, pct(lat, 0.5), pct(lat, 0.95), lat.last ?? .nan, lat.count,
                            pct(fetches, 0.5), pct(fetches, 0.95), pct(chartFetches, 0.5), chartFetches.count,
                            100 * cpuAlone, 100 * cpuWithPage, (after?.residentBytes ?? 0) >> 20))
        var json = JSONObjectWriter()
        json.add("bench", "dashboard")
        json.add("trials", trials)
        json.add("rate", rate)
        json.add("catch_up_s", catchUp)
        json.add("first_answers_ms", page.ms + studyView.ms + charts.ms)
        json.add("charts_ms", charts.ms)
        json.add("latency_p50_ms", pct(lat, 0.5))
        json.add("latency_p95_ms", pct(lat, 0.95))
        json.add("study_view_p50_ms", pct(fetches, 0.5))
        json.add("charts_p50_ms", pct(chartFetches, 0.5))
        json.add("cpu_percent_feed_alone", 100 * cpuAlone)
        json.add("cpu_percent_page_open", 100 * cpuWithPage)
        Console.line(String(decoding: json.finish(), as: UTF8.self))
    }
}

/// How often an open study page fetches (`DashboardPage`): its view at most every 400 ms, its
/// charts at most every 2 s.
enum DashboardServerInterval {
    static let render = 0.4
    static let charts = 2
}

/// The bench's feed: numbered events journaled through the real `FeedPublisher`.
struct SyntheticFeed {
    private(set) var seq: UInt64 = 0

    mutating func publish(_ event: BrokerEvent, payload: Frame?, on publisher: FeedPublisher) {
        seq += 1
        publisher.enqueue(FeedEvent(seq: seq, event: event, payload: payload).frames, time: Date().timeIntervalSince1970)
    }

    /// A whole trial: queued, assigned, started, three reports, finished.
    func trial(_ n: Int) -> [(BrokerEvent, Frame?)] { (0..<7).map { live(trial: n, step: $0) } }

    /// Step `step` (0…6) of trial `n`'s life.
    func live(trial n: Int, step: Int) -> (BrokerEvent, Frame?) {
        let ref = AttemptRef(job: "\(DashboardBench.study)/\(n)", attempt: 1, lease: UInt64(1) << 32 | UInt64(n))
        let lr = pow(10, -4 + 4 * Double((n * 7_919) % 1_000) / 1_000)
        let loss = 0.2 + abs(log10(lr) + 2) / 4
        switch step {
        case 0: return (.queued(job: ref.job, client: "opt", attempt: 1, cpu: 1, gpu: 0, resync: false, held: false),
                        Array(#"{"command":["x"],"config":{"lr":\#(lr),"batch_size":\#([16, 32, 64][n % 3])}}"#.utf8))
        case 1: return (.assigned(ref, worker: "w1", backup: false), nil)
        case 2: return (.started(ref, worker: "w1", backup: false), nil)
        case 3, 4, 5: return (.update(.report, ref, worker: "w1", updateSeq: UInt64(step - 2), backup: false),
                              Array(#"{"epoch":\#(step - 2),"loss":\#(loss + 0.3 / Double(step - 2))}"#.utf8))
        default: return (.update(.final, ref, worker: "w1", updateSeq: 4, backup: false),
                         Array(#"{"metrics":{"epoch":3,"loss":\#(loss)},"exit_code":0}"#.utf8))
        }
    }
}

/// Markers published and when the dashboard's state reached them.
final class LatencyLog: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [(seq: UInt64, at: ContinuousClock.Instant)] = []
    private var latencies: [Double] = []
    private var fetches: [Double] = []
    private var charts: [Double] = []

    func published(_ seq: UInt64, at time: ContinuousClock.Instant) {
        lock.lock(); pending.append((seq, time)); lock.unlock()
    }

    func seen(_ position: UInt64, at time: ContinuousClock.Instant) {
        lock.lock()
        while let first = pending.first, first.seq <= position {
            latencies.append(first.at.duration(to: time).seconds * 1_000)
            pending.removeFirst()
        }
        lock.unlock()
    }

    func fetched(_ ms: Double) { lock.lock(); fetches.append(ms); lock.unlock() }
    func charted(_ ms: Double) { lock.lock(); charts.append(ms); lock.unlock() }
    func chartsMs() -> [Double] { lock.lock(); defer { lock.unlock() }; return charts }
    func latenciesMs() -> [Double] { lock.lock(); defer { lock.unlock() }; return latencies }
    func fetchesMs() -> [Double] { lock.lock(); defer { lock.unlock() }; return fetches }
}

/// Blocking GETs against the dashboard.
struct HTTP: Sendable {
    let base: String

    func get(_ path: String) throws -> Data {
        let url = URL(string: base.hasSuffix("/") ? String(base.dropLast()) + path : base + path)!
        let done = DispatchSemaphore(value: 0)
        let result = LockedBox<Result<Data, any Error>?>(nil)
        URLSession.shared.dataTask(with: url) { data, response, error in
            if let data, (response as? HTTPURLResponse)?.statusCode == 200 { result.set(.success(data)) }
            else { result.set(.failure(error ?? Failure("GET \(path): status \((response as? HTTPURLResponse)?.statusCode ?? 0)"))) }
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + 10) == .success, let outcome = result.get() else { throw Failure("GET \(path): no answer in 10 s") }
        return try outcome.get()
    }

    func timed(_ path: String) throws -> (ms: Double, bytes: Int) {
        let start = ContinuousClock.now
        let data = try get(path)
        return (start.duration(to: .now).seconds * 1_000, data.count)
    }

    func position() throws -> UInt64 {
        let doc = try JSONValue(parsing: Array(try get("/api/position")))
        return UInt64(doc.object?["position"]?.double ?? 0)
    }
}

/// A WebSocket client of the dashboard's `/ws`, as an open page: it reads the pushed
/// `{"position":…,"version":…}` messages (unmasked text frames from the server) and sends
/// nothing after the handshake. Blocking reads with a 1 s timeout, on one thread.
final class PushReader: @unchecked Sendable {
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// The server closed the connection (or it failed).
    private(set) var closed = false

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { let e = errno; Glibc.close(fd); throw Failure("connect to 127.0.0.1:\(port): errno \(e)") }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8)
        guard write(fd, request, request.count) == request.count else { Glibc.close(fd); throw Failure("/ws: the handshake could not be sent") }
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if let range = buffer.firstRange(of: end) {
                let head = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<range.upperBound)
                guard head.hasPrefix("HTTP/1.1 101") else { Glibc.close(fd); throw Failure("/ws answered: \(head.prefix(80))") }
                return
            }
            guard fill() else { Glibc.close(fd); throw Failure("/ws: no handshake answer") }
        }
    }

    /// Reads more bytes; false when the connection closed or nothing came within the timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4_096)
        let n = read(fd, &chunk, chunk.count)
        guard n > 0 else {
            if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { closed = true }
            return false
        }
        buffer += chunk[..<n]
        return true
    }

    /// The position of the next pushed message; nil when nothing came within 1 s or the
    /// connection closed.
    func next() -> UInt64? {
        while true {
            if buffer.count >= 2 {
                var length = Int(buffer[1] & 0x7f)
                var header = 2
                if length == 126, buffer.count >= 4 { length = Int(buffer[2]) << 8 | Int(buffer[3]); header = 4 }
                else if length == 127 { return nil }
                if length != 126, buffer.count >= header + length {
                    let payload = Array(buffer[header..<header + length])
                    let opcode = buffer[0] & 0x0f
                    buffer.removeFirst(header + length)
                    guard opcode == 1 else { if opcode == 8 { closed = true; return nil } else { continue } }
                    if let doc = try? JSONValue(parsing: payload), let position = doc.object?["position"]?.double { return UInt64(position) }
                    continue
                }
            }
            guard fill() else { return nil }
        }
    }

    func close() { Glibc.close(fd) }
}
