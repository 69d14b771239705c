import ArgumentParser
import Foundation
import LoomBroker
import LoomClient
import LoomEmbedded
import Logging
import LoomRuntime
import LoomWire

/// `hyperloom bench feed`: events per second through the broker's journal and PUB socket into a
/// gap-free subscriber.
struct FeedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Feed throughput: events/s delivered to a FeedSubscriber, every one in order (journal on disk).")

    @Option(help: "Events per run (each a job's queued event, submitted in batches of 5,000).")
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

    /// One run: a broker on loopback with a journal in a scratch directory, a subscriber from the
    /// beginning, and a client submitting `events` jobs; the clock runs from the first submission
    /// to the last event delivered.
    private func measure(run: Int) throws -> (rate: Double, gaps: UInt64) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-feedbench-\(getpid())-\(run)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try BrokerService(config: BrokerServiceConfig(
            endpoint: "tcp://127.0.0.1:*", feedEndpoint: "tcp://127.0.0.1:*", feedReplayEndpoint: "tcp://127.0.0.1:*",
            feedJournal: directory.appendingPathComponent("feed.journal").path, recoveryWindow: .zero))
        let bound = try broker.bind()
        let services = EmbeddedServices()
        services.start("broker") { stop in try broker.run(until: stop) }
        defer { services.stopAll(workersFirst: false) }
        let subscriber = try FeedSubscriber(endpoint: bound.feed, topics: ["job/"], start: .beginning, replayEndpoint: bound.replay)
        defer { subscriber.close() }
        _ = try subscriber.next(timeout: .milliseconds(300))
        let total = events
        let submitter = Thread {
            guard let client = try? BrokerClient(endpoint: bound.endpoint, name: "feed-bench") else { return }
            defer { client.close() }
            guard (try? client.connect()) != nil else { return }
            let spec = JobSpec(command: ["true"]).payload
            var next = 0
            while next < total {
                let batch = (next..<min(total, next + 5_000)).map {
                    JobSubmission(id: "bench/\($0)", requirements: Requirements(), payload: spec)
                }
                guard (try? client.submitAndWait(batch, timeout: .seconds(60))) != nil else { return }
                next += batch.count
            }
        }
        let started = ContinuousClock.now
        submitter.start()
        var delivered = 0
        var expected: UInt64 = 1
        let deadline = started + .seconds(120)
        while delivered < total, ContinuousClock.now < deadline {
            guard let event = try subscriber.next(timeout: .milliseconds(500)) else { continue }
            guard event.seq == expected else { throw Failure("event \(event.seq) delivered where \(expected) was due") }
            expected += 1
            delivered += 1
        }
        let elapsed = started.duration(to: .now)
        guard delivered == total else { throw Failure("run \(run): \(delivered) of \(total) events delivered in 120 s") }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(total) / seconds, subscriber.gaps)
    }
}
