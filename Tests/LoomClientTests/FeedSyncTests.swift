import LoomClient
import LoomWire
import Testing

/// `FeedSync` pushed with scripted live events and replay answers, on a manual clock.
@Suite struct FeedSyncTests {
    let t0 = ContinuousClock.now

    static func event(_ seq: UInt64, _ topic: String = "job/s/1/queued") -> FeedEvent {
        FeedEvent(topic: topic, seq: seq, body: Array("{\"event\":\"x\"}".utf8))
    }

    static func heartbeat(_ seq: UInt64, journal: UInt64 = 9) -> FeedEvent {
        FeedEvent(frames: FeedHeartbeat(lastSeq: seq, journal: journal, replayPort: nil).frames(time: 0))!
    }

    static func delivered(_ actions: [FeedSyncAction]) -> [UInt64] {
        actions.compactMap { if case .deliver(let e) = $0 { e.seq } else { nil } }
    }

    static func requests(_ actions: [FeedSyncAction]) -> [FeedReplay.Request] {
        actions.compactMap { if case .requestReplay(let r) = $0 { r } else { nil } }
    }

    @Test func lateJoinerGetsHistoryThenOnlyNewerLiveEventsInOrder() {
        var sync = FeedSync(prefixes: [], after: 0, now: t0)
        #expect(Self.requests(sync.start(now: t0)) == [FeedReplay.Request(after: 0)])
        var out: [UInt64] = []
        // Live events 4 and 5 arrive while the history (1...4) is replayed: held back.
        out += Self.delivered(sync.receiveLive(Self.event(4), now: t0))
        out += Self.delivered(sync.receiveLive(Self.event(5), now: t0))
        #expect(out.isEmpty)
        for seq in 1...4 { out += Self.delivered(sync.receiveReplay(.event(Self.event(UInt64(seq))), now: t0)) }
        out += Self.delivered(sync.receiveReplay(.end(.init(through: 4, head: 4, journal: 9)), now: t0))
        out += Self.delivered(sync.receiveLive(Self.event(6), now: t0))
        #expect(out == [1, 2, 3, 4, 5, 6])
        #expect(sync.gaps == 0 && !sync.isReplaying)
    }

    @Test func liveGapIsReplayedAndHeldEventsApplyAfterIt() {
        var sync = FeedSync(prefixes: [], after: 2, now: t0)
        _ = sync.start(now: t0)
        _ = sync.receiveReplay(.end(.init(through: 2, head: 2, journal: 9)), now: t0)
        var out = Self.delivered(sync.receiveLive(Self.event(3), now: t0))
        let actions = sync.receiveLive(Self.event(7), now: t0)
        #expect(Self.requests(actions) == [FeedReplay.Request(after: 3)])
        #expect(sync.gaps == 3)
        out += Self.delivered(sync.receiveLive(Self.event(8), now: t0))
        for seq in 4...7 { out += Self.delivered(sync.receiveReplay(.event(Self.event(UInt64(seq))), now: t0)) }
        out += Self.delivered(sync.receiveReplay(.end(.init(through: 7, head: 7, journal: 9)), now: t0))
        #expect(out == [3, 4, 5, 6, 7, 8])
    }

    @Test func longHistoryIsRequestedSliceBySlice() {
        var sync = FeedSync(prefixes: [], after: 0, now: t0)
        _ = sync.start(now: t0)
        let next = sync.receiveReplay(.end(.init(through: 5_000, head: 12_000, journal: 9)), now: t0)
        #expect(Self.requests(next) == [FeedReplay.Request(after: 5_000)])
        #expect(sync.position == 5_000)
    }

    @Test func heartbeatAnnouncingUnseenEventsTriggersReplay() {
        var sync = FeedSync(prefixes: [], after: 0, now: t0)
        _ = sync.start(now: t0)
        _ = sync.receiveReplay(.end(.init(through: 0, head: 0, journal: 9)), now: t0)
        #expect(Self.requests(sync.receiveLive(Self.heartbeat(0), now: t0)).isEmpty)
        // The publisher sent 1...3 but they were lost: only the heartbeat tells.
        #expect(Self.requests(sync.receiveLive(Self.heartbeat(3), now: t0)) == [FeedReplay.Request(after: 0)])
    }

    @Test func filteredSubscriberAdvancesOverOtherTopicsAndAsksTheBrokerToFilter() {
        var sync = FeedSync(prefixes: ["job/a/"], after: 0, now: t0)
        #expect(Self.requests(sync.start(now: t0)) == [FeedReplay.Request(after: 0, prefixes: ["job/a/"])])
        _ = sync.receiveReplay(.end(.init(through: 0, head: 0, journal: 9)), now: t0)
        var out = Self.delivered(sync.receiveLive(Self.event(1, "job/b/1/queued"), now: t0))
        out += Self.delivered(sync.receiveLive(Self.event(2, "job/a/1/queued"), now: t0))
        #expect(out == [2])
        #expect(sync.position == 2 && sync.gaps == 0)
    }

    @Test func duplicatesFromAReplayAndTheLiveStreamAreDeliveredOnce() {
        var sync = FeedSync(prefixes: [], after: 0, now: t0)
        _ = sync.start(now: t0)
        var out: [UInt64] = []
        for seq in [1, 2, 2, 1] as [UInt64] { out += Self.delivered(sync.receiveReplay(.event(Self.event(seq)), now: t0)) }
        out += Self.delivered(sync.receiveReplay(.end(.init(through: 2, head: 2, journal: 9)), now: t0))
        out += Self.delivered(sync.receiveLive(Self.event(2), now: t0))
        out += Self.delivered(sync.receiveLive(Self.event(3), now: t0))
        #expect(out == [1, 2, 3])
    }

    @Test func unansweredReplayIsSentAgainAfterTheTimeout() {
        var sync = FeedSync(prefixes: [], after: 0, now: t0)
        _ = sync.start(now: t0)
        #expect(sync.expire(now: t0 + .seconds(1)).isEmpty)
        #expect(Self.requests(sync.expire(now: t0 + FeedSync.replayTimeout)) == [FeedReplay.Request(after: 0)])
    }

    @Test func silentPublisherIsNoticedAndForgivenByTheNextMessage() {
        var sync = FeedSync(prefixes: [], after: nil, silenceLimit: .seconds(3), now: t0)
        _ = sync.expire(now: t0 + .seconds(2))
        #expect(!sync.isPublisherSilent)
        _ = sync.expire(now: t0 + .seconds(3))
        #expect(sync.isPublisherSilent)
        _ = sync.receiveLive(Self.heartbeat(10), now: t0 + .seconds(4))
        #expect(!sync.isPublisherSilent && sync.position == 10)
    }

    @Test func newJournalRestartsFromItsBeginning() {
        var sync = FeedSync(prefixes: [], after: 0, now: t0)
        _ = sync.start(now: t0)
        _ = sync.receiveReplay(.event(Self.event(1)), now: t0)
        _ = sync.receiveReplay(.end(.init(through: 1, head: 1, journal: 9)), now: t0)
        let actions = sync.receiveLive(Self.heartbeat(1, journal: 10), now: t0)
        #expect(Self.requests(actions) == [FeedReplay.Request(after: 0)])
        #expect(sync.journalResets == 1)
        #expect(Self.delivered(sync.receiveReplay(.event(Self.event(1)), now: t0)) == [1])
    }

    @Test func resumePositionBeyondTheBrokersHistoryMeansAReplacedJournal() {
        var sync = FeedSync(prefixes: [], after: 500, now: t0)
        _ = sync.start(now: t0)
        let actions = sync.receiveReplay(.end(.init(through: 500, head: 20, journal: 3)), now: t0)
        #expect(Self.requests(actions) == [FeedReplay.Request(after: 0)])
        #expect(sync.journalResets == 1)
    }

    @Test func startingFromNowTakesThePositionFromTheFirstMessage() {
        var sync = FeedSync(prefixes: [], after: nil, now: t0)
        #expect(sync.start(now: t0).isEmpty)
        #expect(Self.delivered(sync.receiveLive(Self.event(41), now: t0)) == [41])
        #expect(Self.delivered(sync.receiveLive(Self.event(42), now: t0)) == [42])
        #expect(sync.gaps == 0)
    }
}
