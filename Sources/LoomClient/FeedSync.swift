import LoomWire

/// What `FeedSubscriber` does for its synchronisation state machine.
public enum FeedSyncAction: Equatable, Sendable {
    /// Hand the event to the application (in sequence order, once).
    case deliver(FeedEvent)
    /// Send a replay request on the replay socket.
    case requestReplay(FeedReplay.Request)
    /// The events after `after` up to `through` are gone: the broker's journal no longer holds
    /// them (retention). They will never be delivered; the position moved past them.
    case historyDropped(after: UInt64, through: UInt64)
    /// The broker's journal is not the one the subscriber followed (`previous`): its sequence
    /// started again, and the position restarted from 0 in journal `current`.
    case journalReplaced(previous: UInt64, current: UInt64)
}

/// The subscriber side of the Clone pattern, free of sockets and clocks: turns live events,
/// heartbeats and replay answers into the events to deliver, in order, each once.
///
/// **Position.** `position` is the highest sequence number up to which every event matching
/// `prefixes` was delivered. Live events are accepted only at `position + 1`; anything further
/// is a gap, held back while the missing range is replayed.
/// **Replay.** At most one request is outstanding. An answer's `END` moves `position` to its
/// `through`; while `through < head` the next slice is requested; then held live events are
/// applied (older ones dropped as duplicates). A request without an answer for `replayTimeout`
/// is sent again (the broker may have restarted in between).
/// **Filtering.** The SUB socket receives every topic, because gap detection needs every
/// sequence number; events outside `prefixes` advance `position` without being delivered, and
/// replay requests carry `prefixes` so the broker filters history.
/// **Journals.** A heartbeat or `END` naming another journal than the one seen so far (or the one
/// given at start: a logger's stored id), or a head below `position`, means the broker's sequence
/// started again: `position` restarts from 0, `journalResets` counts it and `.journalReplaced`
/// says so.
/// **Retention.** An `END` whose `through` is below its `first` answers a request for history the
/// journal dropped: `.historyDropped` names the lost seqs, `droppedEvents` counts them, and the
/// position moves past them (nothing waits for events that will never come).
/// **Liveness.** No message from the publisher for `silenceLimit` makes `isPublisherSilent` true.
public struct FeedSync: Sendable {
    /// Replay requests unanswered this long are sent again.
    public static let replayTimeout: Duration = .seconds(2)
    /// Live events held back during a replay, at most; later ones are dropped and recovered by
    /// the replay itself (it runs to the journal's head).
    public static let heldLimit = 100_000

    public let prefixes: [String]
    public private(set) var position: UInt64
    public private(set) var journal: UInt64?
    /// Sequence numbers found missing in the live stream (each was then replayed).
    public private(set) var gaps: UInt64 = 0
    /// Times the journal changed under the subscriber (its sequence started again).
    public private(set) var journalResets = 0
    /// Sequence numbers the subscriber will never see because retention dropped them.
    public private(set) var droppedEvents: UInt64 = 0
    /// Replay requests sent.
    public private(set) var replays = 0
    /// The last sequence number the publisher announced (events and heartbeats).
    public private(set) var publisherHead: UInt64 = 0
    /// Whether nothing came from the publisher for `silenceLimit`.
    public private(set) var isPublisherSilent = false
    public let silenceLimit: Duration

    /// False until the position is known: a subscriber that starts "from now" takes it from the
    /// first event or heartbeat it receives.
    private var anchored: Bool
    private var outstanding: (request: FeedReplay.Request, sentAt: ContinuousClock.Instant)?
    private var held: [FeedEvent] = []
    private var lastHeard: ContinuousClock.Instant
    /// A heartbeat or a replay's end told the publisher's head.
    private var headKnown = false
    /// Whether the broker confirmed the journal given at start (a heartbeat or an END naming it).
    /// Until then, replayed events wait in `unconfirmed`: they may belong to another journal.
    private var journalConfirmed = false
    private var unconfirmed: [FeedEvent] = []

    /// Starts after sequence number `position` (0: from the beginning; nil: from the first
    /// event or heartbeat received, without history) of the journal `journal` (nil: whichever
    /// the broker has).
    public init(prefixes: [String], after position: UInt64?, journal: UInt64? = nil, silenceLimit: Duration = .seconds(3),
                now: ContinuousClock.Instant) {
        self.prefixes = prefixes.filter { !$0.isEmpty }
        self.journal = journal
        self.position = position ?? 0
        anchored = position != nil
        self.silenceLimit = silenceLimit
        lastHeard = now
    }

    /// Whether a replay is under way (live events are held back meanwhile).
    public var isReplaying: Bool { outstanding != nil }

    /// Whether everything the publisher announced (in a heartbeat or a replay's end) was
    /// handled: no replay under way and `position` at the announced head.
    public var isCaughtUp: Bool { headKnown && outstanding == nil && position >= publisherHead }

    /// The first request: the history after the start position (none when starting from now).
    public mutating func start(now: ContinuousClock.Instant) -> [FeedSyncAction] {
        anchored ? [request(now: now)] : []
    }

    /// A message arrived on the SUB socket.
    public mutating func receiveLive(_ event: FeedEvent, now: ContinuousClock.Instant) -> [FeedSyncAction] {
        lastHeard = now
        isPublisherSilent = false
        let heartbeat = FeedHeartbeat(event)
        if !anchored {
            anchored = true
            position = heartbeat?.lastSeq ?? event.seq - 1
        }
        if let heartbeat {
            headKnown = true
            publisherHead = max(publisherHead, heartbeat.lastSeq)
            if let journal, journal != heartbeat.journal { return resetJournal(heartbeat.journal, now: now) }
            journal = heartbeat.journal
            journalConfirmed = true
            if outstanding == nil, heartbeat.lastSeq > position { return [request(now: now)] }
            return []
        }
        publisherHead = max(publisherHead, event.seq)
        if outstanding != nil {
            if held.count < Self.heldLimit { held.append(event) }
            return []
        }
        return apply(event, now: now)
    }

    /// A message arrived on the replay socket.
    public mutating func receiveReplay(_ answer: FeedReplay.Answer, now: ContinuousClock.Instant) -> [FeedSyncAction] {
        guard let sent = outstanding?.request else { return [] }
        switch answer {
        case .event(let event):
            guard event.seq > position, event.seq > sent.after else { return [] }
            if journal != nil && !journalConfirmed {
                if unconfirmed.count < Int(FeedReplay.maxEventsPerRequest) { unconfirmed.append(event) }
                return []
            }
            position = event.seq
            return FeedReplay.matches(event.topic, prefixes: prefixes) ? [.deliver(event)] : []
        case .end(let end):
            outstanding = nil
            headKnown = true
            publisherHead = max(publisherHead, end.head)
            if let journal, journal != end.journal { return resetJournal(end.journal, now: now) }
            journal = end.journal
            journalConfirmed = true
            if end.head < position {
                // The broker's history ends before what we hold: its journal was replaced.
                return resetJournal(end.journal, now: now)
            }
            var actions: [FeedSyncAction] = []
            for event in unconfirmed where event.seq > position {
                position = event.seq
                if FeedReplay.matches(event.topic, prefixes: prefixes) { actions.append(.deliver(event)) }
            }
            unconfirmed.removeAll()
            if end.isHistoryDropped, end.through > position {
                actions.append(.historyDropped(after: position, through: end.through))
                droppedEvents += end.through - position
            }
            position = max(position, end.through)
            if end.through < end.head { return actions + [request(now: now)] }
            return actions + drainHeld(now: now)
        }
    }

    /// Re-sends a replay request left unanswered; notes a silent publisher.
    public mutating func expire(now: ContinuousClock.Instant) -> [FeedSyncAction] {
        if now - lastHeard >= silenceLimit { isPublisherSilent = true }
        guard let outstanding, now - outstanding.sentAt >= Self.replayTimeout else { return [] }
        return [request(now: now)]
    }

    // MARK: - Internals

    private mutating func apply(_ event: FeedEvent, now: ContinuousClock.Instant) -> [FeedSyncAction] {
        if event.seq <= position { return [] }
        if event.seq > position + 1 {
            gaps += event.seq - position - 1
            held.append(event)
            return [request(now: now)]
        }
        position = event.seq
        return FeedReplay.matches(event.topic, prefixes: prefixes) ? [.deliver(event)] : []
    }

    private mutating func drainHeld(now: ContinuousClock.Instant) -> [FeedSyncAction] {
        var actions: [FeedSyncAction] = []
        let pending = held.sorted { $0.seq < $1.seq }
        held.removeAll()
        for (index, event) in pending.enumerated() {
            actions += apply(event, now: now)
            if outstanding != nil {
                // A hole again: keep the rest for after this replay.
                held.append(contentsOf: pending[(index + 1)...])
                break
            }
        }
        return actions
    }

    private mutating func resetJournal(_ id: UInt64, now: ContinuousClock.Instant) -> [FeedSyncAction] {
        let previous = journal
        journal = id
        journalConfirmed = true
        unconfirmed.removeAll()
        journalResets += 1
        position = 0
        held.removeAll()
        return (previous.map { [.journalReplaced(previous: $0, current: id)] } ?? []) + [request(now: now)]
    }

    private mutating func request(now: ContinuousClock.Instant) -> FeedSyncAction {
        let request = FeedReplay.Request(after: position, prefixes: prefixes)
        outstanding = (request, now)
        replays += 1
        return .requestReplay(request)
    }
}
