import Foundation
@testable import LoomBroker
import LoomWire
import Logging
import Testing
import ZeroMQ

/// The replay socket serves a bounded number of requests per loop turn, bounds the prefixes of
/// one request, and refuses keys that are no longer allowed (issue 16).
@Suite(.serialized, .timeLimit(.minutes(1))) struct ReplayFairness {
    /// A publisher on an inproc replay socket and `count` DEALERs connected to it.
    func setUp(_ count: Int) throws -> (ZMQContext, FeedPublisher, [ZMQSocket]) {
        let context = try ZMQContext()
        let publisher = FeedPublisher(journal: try FeedJournal(path: nil), logger: Logger(label: "test"))
        let endpoint = "inproc://replay-\(UUID().uuidString)"
        _ = try publisher.bindReplay(endpoint: endpoint, context: context, serverKey: nil, zapDomain: "")
        let dealers = try (0..<count).map { _ in
            let dealer = try context.socket(.dealer)
            try dealer.setLinger(.zero)
            try dealer.connect(endpoint)
            return dealer
        }
        return (context, publisher, dealers)
    }

    func tearDown(_ context: ZMQContext, _ publisher: FeedPublisher, _ dealers: [ZMQSocket]) {
        dealers.forEach { $0.close() }
        publisher.close()
        context.terminate()
    }

    /// Waits (bounded) until the replay socket has something to read.
    func waitReadable(_ publisher: FeedPublisher) throws {
        var poller = Poller()
        _ = poller.add(publisher.replaySocket!)
        _ = try poller.poll(timeout: .seconds(2))
    }

    @Test func sixteenLoopingSubscribersAreServedAFewPerTurn() throws {
        let (context, publisher, dealers) = try setUp(16)
        defer { tearDown(context, publisher, dealers) }
        for dealer in dealers { _ = try dealer.send(FeedReplay.Request(after: 0).frames) }
        var turns = 0
        while publisher.replaysServed < 16 && turns < 100 {
            try waitReadable(publisher)
            let before = publisher.replaysServed
            try publisher.serveReplays()
            #expect(publisher.replaysServed - before <= FeedPublisher.replaysPerTurn)
            turns += 1
        }
        #expect(publisher.replaysServed == 16)
        #expect(turns >= 16 / FeedPublisher.replaysPerTurn)
    }

    @Test func aRequestWithTwentyThousandPrefixesIsDroppedAsMalformed() throws {
        let (context, publisher, dealers) = try setUp(1)
        defer { tearDown(context, publisher, dealers) }
        let request = FeedReplay.Request(after: 0, prefixes: (0..<20_000).map { "\($0 % 10)" })
        #expect(FeedReplay.Request(frames: request.frames) == nil)
        _ = try dealers[0].send(request.frames)
        try waitReadable(publisher)
        try publisher.serveReplays()
        #expect(publisher.replaysMalformed == 1)
        #expect(publisher.replaysServed == 0)
        #expect(FeedPublisher.scanLimit(prefixes: FeedReplay.maxPrefixes) * FeedReplay.maxPrefixes <= FeedPublisher.replayComparisonLimit)
    }

    @Test func aKeyThatIsNoLongerAllowedIsRefusedOnItsOpenReplayConnection() throws {
        let (context, publisher, dealers) = try setUp(1)
        defer { tearDown(context, publisher, dealers) }
        _ = try dealers[0].send(FeedReplay.Request(after: 0).frames)
        try waitReadable(publisher)
        try publisher.serveReplays()
        #expect(publisher.replaysServed == 1)
        // The allowlist no longer holds the connection's key (here: it has none).
        publisher.allowedUsers = ["subscriber/other"]
        _ = try dealers[0].send(FeedReplay.Request(after: 0).frames)
        try waitReadable(publisher)
        try publisher.serveReplays()
        #expect(publisher.replaysRefused == 1)
        #expect(publisher.replaysServed == 1)
    }
}
