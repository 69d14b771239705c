import Foundation
import LoomBroker
import LoomClient
import LoomWire
import Testing
import ZeroMQ

/// Feed retention end to end: a broker whose journal dropped old segments, subscribers and the
/// logger asking for that history, and a logger meeting a replaced journal.
@Suite(.serialized, .timeLimit(.minutes(2))) struct FeedRetentionTests {
    /// 8 KiB segments, at most 32 KiB kept: a few hundred queued events drop the first segments.
    static let tight = FeedRetention(segmentBytes: 8_192, maxBytes: 32_768)

    static func journalPath(_ name: String) -> String {
        Harness.scratch.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8)).journal").path
    }

    static func objects(_ path: String) -> [[String: JSONValue]] {
        FeedLoggerTests.lines(path).compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)).object }
    }

    @Test func subscriberFromTheBeginningIsToldWhatWasDroppedThenGetsEveryKeptEvent() throws {
        let broker = try InProcessBroker(journal: Self.journalPath("dropped"), retention: Self.tight)
        defer { broker.stop() }
        try broker.submit(600, prefix: "old")
        let subscriber = try FeedSubscriber(endpoint: broker.feed, topics: ["job/"], start: .beginning, replayEndpoint: broker.replay)
        defer { subscriber.close() }
        var items: [FeedItem] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while subscriber.position < 600, ContinuousClock.now < deadline {
            if let item = try subscriber.nextItem(timeout: .milliseconds(200)) { items.append(item) }
        }
        while let item = try subscriber.nextItem(timeout: .zero) { items.append(item) }
        guard case .historyDropped(let after, let through)? = items.first else {
            Issue.record("the first item is not the notice of dropped history: \(items.prefix(2))")
            return
        }
        #expect(after == 0 && through > 0 && through < 600 && subscriber.droppedEvents == through, "dropped \(after)…\(through)")
        let seqs = items.dropFirst().compactMap { if case .event(let e) = $0 { e.seq } else { nil } }
        #expect(seqs == Array(stride(from: through + 1, through: 600, by: 1)), "every event the journal kept, once, in order")
    }

    @Test func loggerRecordsTheGapInsteadOfWaitingAndKeepsTheJournalId() throws {
        let broker = try InProcessBroker(journal: Self.journalPath("logger-gap"), retention: Self.tight)
        defer { broker.stop() }
        try broker.submit(600, prefix: "gone")
        let out = Harness.scratch.appendingPathComponent("gap-\(UUID().uuidString).jsonl").path
        let logger = try Spawned("logger", ["logger", "--feed", broker.feed, "--replay", broker.replay, "--out", out])
        defer { logger.stop() }
        #expect(FeedLoggerTests.waitUntil { Self.objects(out).last?["seq"]?.double == 600 }, "logger:\n\(logger.output)")
        logger.signal(SIGTERM)
        #expect(logger.waitForExit() == 0, "\(logger.output)")
        let lines = Self.objects(out)
        let gap = try #require(lines.first)
        #expect(gap["topic"] == .string("feed/gap") && gap["event"] == .string("gap") && gap["from"] == .number(1))
        let through = try #require(gap["through"]?.double.map { UInt64($0) })
        #expect(gap["seq"]?.double.map { UInt64($0) } == through)
        #expect(through < 600, "dropped 1…\(through)")
        #expect(lines.dropFirst().compactMap { $0["seq"]?.double.map { UInt64($0) } } == Array(stride(from: through + 1, through: 600, by: 1)))
        #expect(logger.output.contains("were dropped by the broker's feed retention"), "\(logger.output)")
        let stored = try String(contentsOfFile: out + ".journal", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(UInt64(stored, radix: 16) != nil && gap["journal"] == .string(stored))
    }

    @Test func restartedLoggerNoticesAReplacedJournalEvenPastItsPosition() throws {
        let out = Harness.scratch.appendingPathComponent("replaced-\(UUID().uuidString).jsonl").path
        let first = try InProcessBroker(journal: Self.journalPath("first"))
        try first.submit(50, prefix: "first")
        let logger = try Spawned("logger", ["logger", "--feed", first.feed, "--replay", first.replay, "--out", out])
        #expect(FeedLoggerTests.waitUntil { Self.objects(out).count == 50 }, "logger:\n\(logger.output)")
        logger.signal(SIGTERM)
        #expect(logger.waitForExit() == 0)
        first.stop()
        let firstID = try String(contentsOfFile: out + ".journal", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        // A fresh data directory: a new journal whose head (120) lies beyond the logger's position (50).
        let second = try InProcessBroker(journal: Self.journalPath("second"))
        defer { second.stop() }
        try second.submit(120, prefix: "second")
        let again = try Spawned("logger", ["logger", "--feed", second.feed, "--replay", second.replay, "--out", out])
        defer { again.stop() }
        #expect(FeedLoggerTests.waitUntil { Self.objects(out).count == 50 + 1 + 120 }, "logger:\n\(again.output)")
        let lines = Self.objects(out)
        let notice = lines[50]
        #expect(notice["topic"] == .string("feed/journal") && notice["seq"] == .number(0) && notice["previous"] == .string(firstID))
        #expect(lines[51...].compactMap { $0["seq"]?.double.map { UInt64($0) } } == Array(1...120))
        #expect(lines.last?["topic"] == .string("job/second/119/queued"))
        let secondID = try String(contentsOfFile: out + ".journal", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(secondID != firstID && notice["journal"] == .string(secondID))
    }

    /// Requests around the journal's ends, raw on a DEALER: dropped history gets END alone with
    /// `through = first - 1`; a position past the head (even the largest seq) gets an empty END.
    @Test func replayAnswersAtTheEdgesOfTheKeptHistory() throws {
        let broker = try InProcessBroker(journal: Self.journalPath("edges"), retention: Self.tight)
        defer { broker.stop() }
        try broker.submit(600, prefix: "edge")
        let context = try ZMQContext()
        defer { context.terminate() }
        let dealer = try context.socket(.dealer)
        defer { dealer.close() }
        try dealer.setLinger(.zero)
        try dealer.connect(broker.replay)
        func ask(after: UInt64) throws -> [FeedReplay.Answer] {
            _ = try dealer.send(FeedReplay.Request(after: after, limit: 10).frames)
            var answers: [FeedReplay.Answer] = []
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                guard let frames = try dealer.receive(dontWait: true) else { Thread.sleep(forTimeInterval: 0.01); continue }
                let answer = try #require(FeedReplay.Answer(frames: frames))
                answers.append(answer)
                if case .end = answer { break }
            }
            return answers
        }
        let dropped = try ask(after: 0)
        guard case .end(let end)? = dropped.first, dropped.count == 1 else {
            Issue.record("expected END alone for dropped history: \(dropped)")
            return
        }
        #expect(end.first > 1 && end.through == end.first - 1 && end.head == 600 && end.isHistoryDropped)
        let kept = try ask(after: end.first - 1)
        let seqs = kept.compactMap { if case .event(let e) = $0 { e.seq } else { nil } }
        #expect(seqs == Array(end.first..<(end.first + 10)) && kept.count == 11)
        for after in [600, UInt64.max] as [UInt64] {
            let past = try ask(after: after)
            guard case .end(let last)? = past.first, past.count == 1 else {
                Issue.record("expected an empty END after \(after): \(past)")
                continue
            }
            #expect(last.head == 600 && !last.isHistoryDropped)
        }
    }
}
