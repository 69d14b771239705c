import LoomWire
import ZeroMQ

/// Reads the broker's event feed without gaps: the ZeroMQ guide's Clone pattern around the PUB
/// socket and the broker's replay socket (Docs/protocol.md §8).
///
/// **Threading.** One thread at a time (it owns a SUB and a DEALER socket).
/// **Delivery.** Subscribes first, then asks for the history after its start position; live
/// events that arrive meanwhile are held back and applied after the history. A gap in the live
/// sequence (a full high-water mark, a reconnect), or a heartbeat announcing events it never
/// received, triggers a replay of the missing range. Every event matching `topics` is returned
/// by `next` exactly once, in sequence order. The decisions are `FeedSync`'s (pure); this type
/// moves frames.
/// **Replay endpoint.** Given, or the feed's host with the feed's port + 1 (the broker's
/// default); a heartbeat announcing another port moves the replay socket there.
public final class FeedSubscriber {
    /// Where a subscriber starts.
    public enum Start: Sendable, Equatable {
        /// Every event the broker's journal holds.
        case beginning
        /// The events after this sequence number (resuming).
        case after(UInt64)
        /// The events published from now on (gaps are still repaired).
        case now
    }

    private let context: ZMQContext
    private let ownsContext: Bool
    private let socket: ZMQSocket
    private let replay: ZMQSocket
    private let feedEndpoint: String
    private var replayEndpoint: String
    private var sync: FeedSync
    private var ready: [FeedItem] = []
    private var readyIndex = 0
    /// Messages that did not have the feed's (or the replay protocol's) shape.
    public private(set) var malformed = 0

    /// Connects to the feed at `endpoint` and its replay socket, and starts at `start`. Only
    /// events whose topic starts with one of `topics` are returned (the empty prefix: all).
    /// `journal`: the id of the journal `start` refers to (a logger's stored id), so a replaced
    /// journal is noticed even when its head lies beyond the start position.
    public init(endpoint: String, topics: [String] = [""], start: Start = .now, replayEndpoint: String? = nil,
                journal: UInt64? = nil, receiveHighWaterMark: Int = 1_000_000, curve: CurveClientKeys? = nil,
                context: ZMQContext? = nil) throws(ZMQError) {
        (self.context, ownsContext) = try ZMQContext.borrowing(context)
        feedEndpoint = endpoint
        self.replayEndpoint = replayEndpoint ?? Self.defaultReplayEndpoint(feed: endpoint)
        socket = try self.context.socket(.sub)
        try curve?.apply(to: socket)
        try socket.setLinger(.zero)
        try socket.setReceiveHighWaterMark(receiveHighWaterMark)
        // Every topic: gap detection needs every sequence number; FeedSync filters.
        try socket.subscribe([])
        try socket.connect(endpoint)
        replay = try self.context.socket(.dealer)
        try curve?.apply(to: replay)
        try replay.setLinger(.zero)
        try replay.setReceiveHighWaterMark(Int(FeedReplay.maxEventsPerRequest) * 4)
        try replay.connect(self.replayEndpoint)
        let position: UInt64? = switch start {
        case .beginning: 0
        case .after(let seq): seq
        case .now: nil
        }
        sync = FeedSync(prefixes: topics, after: position, journal: journal, now: .now)
        try perform(sync.start(now: .now))
    }

    deinit { close() }

    /// Everything up to this sequence number that matches the topics was returned.
    public var position: UInt64 { sync.position }
    /// Sequence numbers found missing in the live stream (each was then replayed).
    public var gaps: UInt64 { sync.gaps }
    /// Replay requests sent.
    public var replays: Int { sync.replays }
    /// Times the broker's journal was replaced (its sequence started again from 1).
    public var journalResets: Int { sync.journalResets }
    /// Whether nothing (not even a heartbeat) came from the publisher for three heartbeats.
    public var isPublisherSilent: Bool { sync.isPublisherSilent }
    /// Whether a replay is under way.
    public var isReplaying: Bool { sync.isReplaying }
    /// Whether every event the publisher announced so far was returned (or filtered out).
    public var isCaughtUp: Bool { sync.isCaughtUp }
    /// The last sequence number the publisher announced.
    public var publisherHead: UInt64 { sync.publisherHead }

    /// The id of the broker's journal, once a heartbeat or a replay told it.
    public var journal: UInt64? { sync.journal }

    /// Sequence numbers that retention dropped before this subscriber could read them.
    public var droppedEvents: UInt64 { sync.droppedEvents }

    /// The next event, or nil when none arrived within `timeout`; notices of dropped history and
    /// replaced journals are skipped (see `nextItem`).
    public func next(timeout: Duration) throws(ZMQError) -> FeedEvent? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = ContinuousClock.now < deadline ? ContinuousClock.now.duration(to: deadline) : .zero
            switch try nextItem(timeout: left) {
            case .event(let event)?: return event
            case nil: return nil
            default: continue
            }
        }
    }

    /// The next event or notice, in sequence order, or nil when none arrived within `timeout`.
    public func nextItem(timeout: Duration) throws(ZMQError) -> FeedItem? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if readyIndex < ready.count {
                defer { readyIndex += 1 }
                return ready[readyIndex]
            }
            ready.removeAll(keepingCapacity: true)
            readyIndex = 0
            var progressed = false
            while let frames = try replay.receive(dontWait: true) {
                progressed = true
                guard let answer = FeedReplay.Answer(frames: frames) else { malformed += 1; continue }
                try perform(sync.receiveReplay(answer, now: .now))
                if ready.count >= 1_000 { break }
            }
            while ready.count < 1_000, let frames = try socket.receive(dontWait: true) {
                progressed = true
                guard let event = FeedEvent(frames: frames) else { malformed += 1; continue }
                if let heartbeat = FeedHeartbeat(event) { try adoptReplayPort(heartbeat.replayPort) }
                try perform(sync.receiveLive(event, now: .now))
            }
            try perform(sync.expire(now: .now))
            if !ready.isEmpty || progressed { continue }
            let now = ContinuousClock.now
            guard now < deadline else { return nil }
            var poller = Poller()
            poller.add(socket)
            poller.add(replay)
            _ = try poller.poll(timeout: min(now.duration(to: deadline), FeedSync.replayTimeout))
        }
    }

    /// Closes the sockets (and the context when the subscriber made it). Idempotent.
    public func close() {
        socket.close()
        replay.close()
        if ownsContext { context.terminate() }
    }

    private func perform(_ actions: [FeedSyncAction]) throws(ZMQError) {
        for action in actions {
            switch action {
            case .deliver(let event): ready.append(.event(event))
            case .requestReplay(let request): _ = try replay.send(request.frames, dontWait: true)
            case .historyDropped(let after, let through): ready.append(.historyDropped(after: after, through: through))
            case .journalReplaced(let previous, let current): ready.append(.journalReplaced(previous: previous, current: current))
            }
        }
    }

    private func adoptReplayPort(_ port: Int?) throws(ZMQError) {
        guard let port, let host = Self.host(of: feedEndpoint) else { return }
        let endpoint = "tcp://\(host):\(port)"
        guard endpoint != replayEndpoint else { return }
        try? replay.disconnect(replayEndpoint)
        replayEndpoint = endpoint
        try replay.connect(endpoint)
    }

    /// `tcp://HOST:PORT` → `tcp://HOST:PORT+1`; other endpoints get `-replay` appended (as the
    /// broker's default).
    public static func defaultReplayEndpoint(feed: String) -> String {
        guard let host = host(of: feed), let port = feed.split(separator: ":").last.flatMap({ Int($0) }) else { return feed + "-replay" }
        return "tcp://\(host):\(port + 1)"
    }

    static func host(of endpoint: String) -> String? {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return nil }
        let host = endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon]
        return host == "*" || host == "0.0.0.0" ? "127.0.0.1" : String(host)
    }
}

/// What `FeedSubscriber.nextItem` hands out, in sequence order.
public enum FeedItem: Equatable, Sendable {
    /// An event matching the subscriber's topics.
    case event(FeedEvent)
    /// Seqs `after + 1 … through` were dropped by the broker's retention before they were read.
    case historyDropped(after: UInt64, through: UInt64)
    /// The broker's journal was replaced: seqs start again from 1 in `current`.
    case journalReplaced(previous: UInt64, current: UInt64)
}
