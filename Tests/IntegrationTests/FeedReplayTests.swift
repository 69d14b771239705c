import Foundation
import LoomBroker
import LoomClient
import LoomEmbedded
import LoomWire
import Testing

/// A broker running in this process on ephemeral loopback ports, stopped by `stop()`.
final class InProcessBroker {
    let endpoint: String
    let feed: String
    let replay: String
    private let services = EmbeddedServices()

    init(journal: String? = nil, retention: FeedRetention = .keepEverything, feedHighWaterMark: Int = 1_000_000) throws {
        let service = try BrokerService(config: BrokerServiceConfig(
            endpoint: "tcp://127.0.0.1:*", feedEndpoint: "tcp://127.0.0.1:*", feedReplayEndpoint: "tcp://127.0.0.1:*",
            feedJournal: journal, feedRetention: retention, feedHighWaterMark: feedHighWaterMark, recoveryWindow: .zero))
        (endpoint, feed, replay) = try service.bind()
        services.start("broker") { stop in try service.run(until: stop) }
    }

    /// Stops the broker (gracefully: `broker/stopping`, journal fsynced) and waits for it. Idempotent.
    func stop() {
        services.stopAll(workersFirst: false)
    }

    /// Submits `count` jobs (no worker runs them): one `queued` event each, with the spec as payload.
    func submit(_ count: Int, prefix: String) throws {
        let client = try BrokerClient(endpoint: endpoint, name: "feed-test")
        defer { client.close() }
        try client.connect()
        var next = 0
        while next < count {
            let batch = (next..<min(count, next + 5_000)).map { i in
                JobSubmission(id: "\(prefix)/\(i)", requirements: Requirements(),
                              payload: JobSpec(command: ["true"], config: ["i": .number(Double(i))]).payload)
            }
            try client.submitAndWait(batch)
            next += batch.count
        }
    }
}

/// Reads `subscriber` until it has delivered events up to `seq` (or the time is up).
func drain(_ subscriber: FeedSubscriber, through seq: UInt64, timeout: Duration = .seconds(20)) throws -> [FeedEvent] {
    var events: [FeedEvent] = []
    let deadline = ContinuousClock.now + timeout
    while subscriber.position < seq, ContinuousClock.now < deadline {
        if let event = try subscriber.next(timeout: .milliseconds(200)) { events.append(event) }
    }
    while let event = try subscriber.next(timeout: .zero) { events.append(event) }
    return events
}

@Suite(.serialized, .timeLimit(.minutes(1))) struct FeedReplayTests {
    @Test func subscriberJoiningAfterAThousandEventsGetsThemAllInOrder() throws {
        let broker = try InProcessBroker()
        defer { broker.stop() }
        try broker.submit(1_000, prefix: "late")
        let subscriber = try FeedSubscriber(endpoint: broker.feed, topics: ["job/late/"], start: .beginning, replayEndpoint: broker.replay)
        defer { subscriber.close() }
        let events = try drain(subscriber, through: 1_000)
        #expect(events.map(\.seq) == Array(1...1_000))
        #expect(events.map(\.topic) == (0..<1_000).map { "job/late/\($0)/queued" })
        // The queued event carries the job spec (the plots read each trial's config from it).
        let spec = try JobSpec.decode(try #require(events.last?.payload))
        #expect(spec.config["i"] == .number(999))
    }

    @Test func gapAtATinyHighWaterMarkIsDetectedAndRepaired() throws {
        let broker = try InProcessBroker(feedHighWaterMark: 50)
        defer { broker.stop() }
        let subscriber = try FeedSubscriber(endpoint: broker.feed, start: .beginning, replayEndpoint: broker.replay,
                                            receiveHighWaterMark: 50)
        defer { subscriber.close() }
        // Connected and caught up (nothing yet) before the burst.
        _ = try subscriber.next(timeout: .milliseconds(500))
        try broker.submit(20_000, prefix: "burst")
        let events = try drain(subscriber, through: 20_000, timeout: .seconds(40))
        #expect(subscriber.gaps > 0, "the burst did not overflow the tiny high-water marks; the test forced no gap")
        #expect(events.map(\.seq) == Array(1...20_000))
    }

    @Test func sequenceContinuesAcrossABrokerRestartOnTheSameJournal() throws {
        let path = Harness.scratch.appendingPathComponent("restart-\(UUID().uuidString).journal").path
        let first = try InProcessBroker(journal: path)
        try first.submit(30, prefix: "before")
        first.stop()
        let second = try InProcessBroker(journal: path)
        defer { second.stop() }
        try second.submit(20, prefix: "after")
        let subscriber = try FeedSubscriber(endpoint: second.feed, topics: ["job/"], start: .beginning, replayEndpoint: second.replay)
        defer { subscriber.close() }
        let events = try drain(subscriber, through: 51)
        // 30 queued, broker/stopping (filtered out), 20 queued.
        #expect(events.map(\.seq) == Array(1...30) + Array(32...51))
        #expect(events.last?.topic == "job/after/19/queued")
    }

    @Test func resumingSubscriberGetsOnlyWhatFollowsItsPosition() throws {
        let broker = try InProcessBroker()
        defer { broker.stop() }
        try broker.submit(100, prefix: "resume")
        let subscriber = try FeedSubscriber(endpoint: broker.feed, start: .after(60), replayEndpoint: broker.replay)
        defer { subscriber.close() }
        #expect(try drain(subscriber, through: 100).map(\.seq) == Array(61...100))
    }

    @Test func idleFeedHeartbeatsAndTheReplayPortIsLearntFromThem() throws {
        let broker = try InProcessBroker()
        defer { broker.stop() }
        try broker.submit(5, prefix: "hb")
        // No replay endpoint given and the default (port + 1) is wrong: the heartbeat says where.
        let subscriber = try FeedSubscriber(endpoint: broker.feed, start: .beginning)
        defer { subscriber.close() }
        let events = try drain(subscriber, through: 5, timeout: .seconds(10))
        #expect(events.map(\.seq) == Array(1...5))
        #expect(!subscriber.isPublisherSilent)
    }
}
