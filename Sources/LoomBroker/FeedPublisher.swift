import Foundation
import LoomWire
import Logging
import ZeroMQ

/// The broker's side of the feed: journals every event before it is published, sends idle
/// heartbeats, and answers replay requests from the journal (Docs/protocol.md §8).
///
/// **Threading.** The broker's loop thread only; it owns the replay socket and the journal.
/// **Ordering.** Events are appended to the journal as the state machine emits them and
/// published only after the journal was flushed (`publishPending`), so a subscriber never sees
/// an event that a crash of the broker process could take out of the journal; the sequence
/// numbers the machine assigns continue from the journal's last one.
/// **Memory.** Pending events of one loop turn, the journal's sparse index; replays are read from
/// the file, at most `FeedReplay.maxEventsPerRequest` events per request.
public final class FeedPublisher {
    /// Publisher heartbeat when no event was published for this long: subscribers declare the
    /// publisher dead after three missed ones.
    public static let heartbeatInterval: Duration = .seconds(1)
    /// Journal records examined per replay request at most, so a filtered replay over a long
    /// history is served in bounded slices between two turns of the loop.
    static let replayScanLimit = 50_000
    /// Topic comparisons per replay request at most (records scanned × prefixes): a request with
    /// many prefixes scans fewer records, so every request costs about the same.
    static let replayComparisonLimit = 200_000
    /// Replay requests answered per loop turn at most; the rest wait in the socket for the next
    /// turn, so looping subscribers share the loop with the ROUTER instead of starving it.
    static let replaysPerTurn = 4

    public let journal: FeedJournal
    private var replay: ZMQSocket?
    private var replayPort: Int?
    private var outgoing: [[Frame]] = []
    private var lastPublished: ContinuousClock.Instant = .now
    private let logger: Logger
    /// Events the PUB socket refused (high-water mark): subscribers repair them by replay.
    public private(set) var dropped = 0
    /// Replay requests answered, malformed ones dropped, and ones refused because their key is
    /// no longer allowed.
    private(set) var replaysServed = 0
    /// Replay requests dropped as malformed or over the limits of `FeedReplay.Request`.
    public private(set) var replaysMalformed = 0
    /// Replay requests refused because the subscriber's key is no longer allowed.
    public private(set) var replaysRefused = 0
    /// Most prefixes one replay request may name (`--max-replay-prefixes`; at most
    /// `FeedReplay.maxPrefixes`, which the decoder enforces).
    public var maxReplayPrefixes = FeedReplay.maxPrefixes
    /// Refused replay requests waiting to be logged, rate-limited per reason.
    private var refusals = RefusalLog()
    /// The user ids (`ROLE/NAME`) that may replay, when the broker authenticates its peers: a
    /// key revoked by SIGHUP is refused on its open replay connection at its next request.
    var allowedUsers: Set<String>?

    public init(journal: FeedJournal, logger: Logger) {
        self.journal = journal
        self.logger = logger
    }

    /// Binds the replay ROUTER (a CURVE server in the feed's ZAP domain when `serverKey` is set);
    /// returns the endpoint bound.
    public func bindReplay(endpoint: String, context: ZMQContext, serverKey: ZMQCurveKeyPair?, zapDomain: String) throws(ZMQError) -> String {
        let socket = try context.socket(.router)
        try socket.setLinger(.zero)
        try socket.setRouterMandatory(true)
        // An answer is at most maxEventsPerRequest + 1 messages; room for a few subscribers at once.
        try socket.setSendHighWaterMark(Int(FeedReplay.maxEventsPerRequest) * 8)
        try socket.setMaxMessageSize(64 << 10)
        if let serverKey {
            try socket.setZAPDomain(zapDomain)
            try socket.setCurveServer(secretKey: serverKey.secretKey)
        }
        try socket.bind(endpoint)
        replay = socket
        let bound = try socket.lastEndpoint()
        replayPort = bound.split(separator: ":").last.flatMap { Int($0) }
        return bound
    }

    /// The replay socket, for the loop's poller.
    public var replaySocket: ZMQSocket? { replay }

    /// Journals an event the state machine emitted (stamping its wall-clock time) and queues it
    /// for publication.
    public func enqueue(_ frames: [Frame], time: Double) {
        guard let event = FeedEvent(frames: Self.stamped(frames, time: time)) else { return }
        journal.append(event)
        outgoing.append(event.frames)
    }

    /// Flushes the journal, then publishes the queued events; sends a heartbeat when nothing was
    /// published for `heartbeatInterval`; fsyncs the journal at its interval.
    public func publishPending(on pub: ZMQSocket?, now: ContinuousClock.Instant, time: Double) throws {
        try journal.flush()
        if !outgoing.isEmpty {
            for frames in outgoing {
                if try !(pub?.send(frames, dontWait: true) ?? true) { dropped += 1 }
            }
            outgoing.removeAll(keepingCapacity: true)
            lastPublished = now
        } else if now - lastPublished >= Self.heartbeatInterval {
            let heartbeat = FeedHeartbeat(lastSeq: journal.lastSeq, journal: journal.id, replayPort: replayPort)
            _ = try pub?.send(heartbeat.frames(time: time), dontWait: true)
            lastPublished = now
        }
        try journal.syncIfDue(now: now)
    }

    /// Answers up to `replaysPerTurn` replay requests waiting on the replay socket; returns
    /// whether it stopped at that bound (more may wait: the socket stays readable).
    @discardableResult
    public func serveReplays() throws -> Bool {
        guard let replay else { return false }
        var handled = 0
        while handled < Self.replaysPerTurn, let message = try replay.receiveMessage(dontWait: true) {
            handled += 1
            let peer = message.userID ?? "replay connection"
            if let allowed = allowedUsers, !allowed.contains(message.userID ?? "") {
                replaysRefused += 1
                refusals.note(RefusalLog.Refusal(peer: peer, message: "REPLAY", reason: "revoked", detail: "key no longer allowed"), now: .now)
                continue
            }
            guard message.frames.count >= 2, let request = FeedReplay.Request(frames: Array(message.frames.dropFirst())) else {
                replaysMalformed += 1
                refusals.note(RefusalLog.Refusal(peer: peer, message: "REPLAY", reason: "malformed",
                                                 detail: "not a replay request within its limits (\(FeedReplay.maxPrefixes) prefixes of \(FeedReplay.maxPrefixBytes) bytes)"),
                              now: .now)
                continue
            }
            guard request.prefixes.count <= maxReplayPrefixes else {
                replaysMalformed += 1
                refusals.note(RefusalLog.Refusal(peer: peer, message: "REPLAY", reason: "malformed",
                                                 detail: "\(request.prefixes.count) prefixes; at most \(maxReplayPrefixes) (max_replay_prefixes)"),
                              now: .now)
                continue
            }
            try answer(request, to: message.frames[0], on: replay)
        }
        for line in refusals.take() { logger.warning("message refused", metadata: line.metadata.mapValues { .string($0) }) }
        return handled == Self.replaysPerTurn
    }

    /// Records scanned for a request with `prefixes`: `replayScanLimit`, less when many prefixes
    /// make each record cost more (at least 1,000).
    static func scanLimit(prefixes: Int) -> Int {
        min(replayScanLimit, max(1_000, replayComparisonLimit / max(1, prefixes)))
    }

    private func answer(_ request: FeedReplay.Request, to identity: Frame, on socket: ZMQSocket) throws {
        let limit = Int(min(max(request.limit, 1), FeedReplay.maxEventsPerRequest))
        let (events, scanned) = try journal.read(after: request.after, prefixes: request.prefixes,
                                                 limit: limit, scanLimit: Self.scanLimit(prefixes: request.prefixes.count))
        var through = scanned
        sending: for event in events {
            switch try send([identity] + FeedReplay.eventFrames(event), on: socket) {
            case .sent: continue
            case .full:
                // The subscriber's queue is full: end the answer before this event; it asks again.
                through = event.seq - 1
                break sending
            case .gone:
                return
            }
        }
        let end = FeedReplay.End(through: through, head: journal.lastSeq, journal: journal.id)
        _ = try send([identity] + end.frames, on: socket)
        replaysServed += 1
    }

    private enum SendOutcome { case sent, full, gone }

    private func send(_ frames: [Frame], on socket: ZMQSocket) throws(ZMQError) -> SendOutcome {
        do {
            return try socket.send(frames, dontWait: true) ? .sent : .full
        } catch {
            if error.isHostUnreachable { return .gone }
            throw error
        }
    }

    /// Closes the replay socket and the journal (fsynced). Idempotent.
    public func close() {
        replay?.close()
        replay = nil
        journal.close()
    }

    /// Adds the wall-clock `time` (seconds since the Unix epoch) to a feed body: the state
    /// machine has no clock, and subscribers want to plot events in time.
    static func stamped(_ frames: [Frame], time: Double) -> [Frame] {
        guard frames.count >= 3, frames[2].first == UInt8(ascii: "{") else { return frames }
        var out = frames
        var body: Frame = Array("{\"time\":\(time)".utf8)
        if frames[2].count > 2 { body.append(UInt8(ascii: ",")) }
        body.append(contentsOf: frames[2].dropFirst())
        out[2] = body
        return out
    }
}
