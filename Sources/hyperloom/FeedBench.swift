import ArgumentParser
import Foundation
import LoomBroker
import LoomClient
import Logging
import LoomRuntime
import LoomWire
import ZeroMQ

/// `hyperloom bench feed`: events per second through the broker's journal and PUB socket into a
/// gap-free subscriber.
struct FeedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Feed throughput: events/s through the journal and PUB socket to a FeedSubscriber, every one in order.")

    @Option(help: "Events per run (report events with a metric payload, published in batches of 1,000).")
    var events = 200_000

    @Option(help: "Runs; the median is reported.")
    var runs = 3

    @OptionGroup var logging: BenchLogging

    func validate() throws {
        guard events >= 1, runs >= 1 else { throw ValidationError("--events and --runs must be at least 1") }
    }

    func run() throws {
        logging.options.bootstrap(default: .warning)
        var rates: [Double] = []
        for run in 1...runs {
            let (rate, gaps) = try measure(run: run)
            rates.append(rate)
            Console.line(String(format: "run %d: %d events delivered in order, %.0f events/s (%llu missed live, replayed)",
                                run, events, rate, gaps))
        }
        let median = rates.sorted()[rates.count / 2]
        Console.line(String(format: "feed: median %.0f events/s over %d runs (%d events each, journal fsynced every 1 s)",
                            median, runs, events))
        var json = JSONObjectWriter()
        json.add("bench", "feed")
        json.add("events_per_s", median.rounded())
        json.add("events", events)
        json.add("runs", runs)
        Console.line(String(decoding: json.finish(), as: UTF8.self))
    }

    /// One run: the broker's feed path alone — `FeedPublisher` journaling to disk (written every
    /// batch of 1,000, fsynced every second), PUB and replay sockets on loopback — in one thread,
    /// and a `FeedSubscriber` from the beginning in this one. The clock runs from the first event
    /// published to the last one delivered. Job handling is left out: `bench fabric` measures it.
    private func measure(run: Int) throws -> (rate: Double, gaps: UInt64) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-feedbench-\(getpid())-\(run)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let context = try ZMQContext()
        defer { context.terminate() }
        let journal = try FeedJournal(path: directory.appendingPathComponent("feed.journal").path)
        let publisher = FeedPublisher(journal: journal, logger: Logger(label: "hyperloom.bench"))
        let pub = try context.socket(.pub)
        try pub.setSendHighWaterMark(100_000)
        try pub.setLinger(.zero)
        try pub.bind("tcp://127.0.0.1:*")
        let replay = try publisher.bindReplay(endpoint: "tcp://127.0.0.1:*", context: context, serverKey: nil, zapDomain: "")
        let subscriber = try FeedSubscriber(endpoint: try pub.lastEndpoint(), topics: ["job/"], start: .beginning,
                                            replayEndpoint: replay, context: context)
        defer { subscriber.close() }
        // Subscribed and caught up (an empty journal) before the clock starts.
        let ready = ContinuousClock.now + .seconds(5)
        while !subscriber.isCaughtUp, ContinuousClock.now < ready {
            _ = try subscriber.next(timeout: .milliseconds(50))
            try publisher.publishPending(on: pub, now: .now, time: Date().timeIntervalSince1970)
            try publisher.serveReplays()
        }
        let total = UInt64(events)
        let payload = Array(#"{"loss":0.0328,"epoch":3}"#.utf8)
        var published: UInt64 = 0
        var delivered: UInt64 = 0
        let started = ContinuousClock.now
        let deadline = started + .seconds(120)
        while delivered < total, ContinuousClock.now < deadline {
            if published < total {
                for _ in 0..<min(1_000, total - published) {
                    published += 1
                    let event = BrokerEvent.update(.report, AttemptRef(job: "bench/\(published % 100)", attempt: 1, lease: 7),
                                                   worker: "w1", updateSeq: published, backup: false)
                    publisher.enqueue(FeedEvent(seq: published, event: event, payload: payload).frames,
                                      time: Date().timeIntervalSince1970)
                }
            }
            try publisher.publishPending(on: pub, now: .now, time: Date().timeIntervalSince1970)
            try publisher.serveReplays()
            while let event = try subscriber.next(timeout: .zero) {
                delivered += 1
                guard event.seq == delivered else { throw Failure("event \(event.seq) delivered where \(delivered) was due") }
            }
        }
        let elapsed = started.duration(to: .now)
        pub.close()
        publisher.close()
        guard delivered == total else { throw Failure("run \(run): \(delivered) of \(total) events delivered in 120 s") }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(total) / seconds, subscriber.gaps)
    }
}
