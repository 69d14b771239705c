import LoomClient
import LoomWire
import Testing

/// `FeedSync` against a journal that dropped history (retention) or was replaced.
@Suite struct FeedSyncRetentionTests {
    let t0 = ContinuousClock.now

    @Test func droppedHistoryIsReportedOnceAndTheRestIsStillReplayed() {
        var sync = FeedSync(prefixes: [], after: 10, now: t0)
        _ = sync.start(now: t0)
        // The journal now starts at 101: the broker answers END only, through 100.
        let first = sync.receiveReplay(.end(.init(through: 100, head: 150, journal: 9, first: 101)), now: t0)
        #expect(first == [.historyDropped(after: 10, through: 100), .requestReplay(FeedReplay.Request(after: 100))])
        #expect(sync.position == 100 && sync.droppedEvents == 90)
        var out: [FeedSyncAction] = []
        for seq in 101...150 as ClosedRange<UInt64> {
            out += sync.receiveReplay(.event(FeedEvent(topic: "job/s/1/queued", seq: seq, body: Array("{}".utf8))), now: t0)
        }
        out += sync.receiveReplay(.end(.init(through: 150, head: 150, journal: 9, first: 101)), now: t0)
        #expect(out.count == 50 && !out.contains { if case .historyDropped = $0 { true } else { false } })
        #expect(sync.isCaughtUp)
    }

    @Test func anAnswerThatKeptEverythingReportsNothingDropped() {
        var sync = FeedSync(prefixes: [], after: 0, now: t0)
        _ = sync.start(now: t0)
        let actions = sync.receiveReplay(.end(.init(through: 0, head: 0, journal: 9, first: 1)), now: t0)
        #expect(actions.isEmpty && sync.droppedEvents == 0)
    }

    @Test func aStoredJournalIdThatTheBrokerNoLongerHasRestartsFromTheNewJournalsBeginning() {
        // A logger resumes after seq 500 of journal 7; the broker's journal is 9 with 1,000 events
        // (its head is beyond 500, so only the id tells the two apart).
        var sync = FeedSync(prefixes: [], after: 500, journal: 7, now: t0)
        _ = sync.start(now: t0)
        let actions = sync.receiveReplay(.end(.init(through: 1_000, head: 1_000, journal: 9)), now: t0)
        #expect(actions == [.journalReplaced(previous: 7, current: 9), .requestReplay(FeedReplay.Request(after: 0))])
        #expect(sync.position == 0 && sync.journalResets == 1 && sync.journal == 9)
    }

    @Test func endFromABrokerWithoutRetentionDecodesWithFirstOne() {
        let old: [Frame] = [FeedReplay.header, [FeedReplay.Command.end.rawValue], BigEndian.frame(UInt64(5)),
                            BigEndian.frame(UInt64(9)), BigEndian.frame(UInt64(3))]
        #expect(FeedReplay.Answer(frames: old) == .end(.init(through: 5, head: 9, journal: 3, first: 1)))
        let end = FeedReplay.End(through: 40, head: 90, journal: 3, first: 41)
        #expect(FeedReplay.Answer(frames: end.frames) == .end(end))
        #expect(end.isHistoryDropped)
    }
}
