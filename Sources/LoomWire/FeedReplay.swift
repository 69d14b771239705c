import Foundation

/// The feed's replay protocol (the ZeroMQ guide's Clone pattern): a subscriber subscribes to the
/// PUB socket first, then asks the broker's replay ROUTER for the history after the last sequence
/// number it holds, and applies only live events newer than what the replay gave it.
///
/// Every message on the replay socket starts with the protocol frame `HLF1` and a one-byte
/// command. A subscriber (DEALER) sends `REPLAY`; the broker answers with zero or more `EVENT`s
/// and one `END`. See Docs/protocol.md §8.
public enum FeedReplay {
    /// Protocol frame of the replay socket, `"HLF1"`.
    public static let header: Frame = Array("HLF1".utf8)
    /// Topic of the publisher's idle heartbeats. Heartbeats repeat the last sequence number
    /// published; they are never journaled, replayed or delivered as events.
    public static let heartbeatTopic = "broker/heartbeat"
    /// Largest number of events one `REPLAY` may ask for; the broker serves at most this many
    /// per request so one late joiner cannot stall its loop.
    public static let maxEventsPerRequest: UInt32 = 5_000
    /// Most topic prefixes one `REPLAY` may name: every journal record scanned is compared with
    /// each prefix, so the prefixes multiply the work of a request.
    public static let maxPrefixes = 64
    /// Longest prefix, in bytes of UTF-8 (a topic is a job id and a few words).
    public static let maxPrefixBytes = 1024

    /// Commands of the replay socket.
    public enum Command: UInt8, Sendable {
        /// Subscriber → broker: `HLF1, 0x01, u64 after, u32 limit, prefix…` (no prefix: every topic).
        case replay = 0x01
        /// Broker → subscriber: `HLF1, 0x02, topic, u64 seq, body[, payload]`.
        case event = 0x02
        /// Broker → subscriber: `HLF1, 0x03, u64 through, u64 head, u64 journal, u64 first`.
        case end = 0x03
    }

    /// A subscriber's request: events with `seq > after` whose topic starts with one of
    /// `prefixes`, at most `limit` of them.
    public struct Request: Equatable, Sendable {
        public var after: UInt64
        public var limit: UInt32
        /// Empty: every topic.
        public var prefixes: [String]

        public init(after: UInt64, limit: UInt32 = FeedReplay.maxEventsPerRequest, prefixes: [String] = []) {
            self.after = after
            self.limit = limit
            self.prefixes = prefixes
        }

        public var frames: [Frame] {
            [FeedReplay.header, [Command.replay.rawValue], BigEndian.frame(after), BigEndian.frame(limit)]
                + prefixes.map { Array($0.utf8) }
        }

        /// Decodes a request; nil when the frames are not one, or name more than `maxPrefixes`
        /// prefixes or one longer than `maxPrefixBytes`.
        public init?(frames: [Frame]) {
            guard frames.count >= 4, frames.count - 4 <= FeedReplay.maxPrefixes, frames[0] == FeedReplay.header,
                  frames[1] == [Command.replay.rawValue],
                  let after = BigEndian.uint64(frames[2]), let limit = BigEndian.uint32(frames[3]) else { return nil }
            var prefixes: [String] = []
            for frame in frames[4...] {
                guard frame.count <= FeedReplay.maxPrefixBytes, let prefix = String(validating: frame, as: UTF8.self) else { return nil }
                prefixes.append(prefix)
            }
            self.init(after: after, limit: limit, prefixes: prefixes)
        }
    }

    /// The last message of an answer to `REPLAY`.
    public struct End: Equatable, Sendable {
        /// Every event with `seq <= through` that matches the request was sent (fewer than asked
        /// when `through < head`: ask again after `through`).
        public var through: UInt64
        /// The last sequence number in the journal when the answer was made.
        public var head: UInt64
        /// The journal's id: a new id means sequence numbers started again from 1.
        public var journal: UInt64
        /// The first sequence number the journal still holds (retention drops older history;
        /// 1 when nothing was dropped). An answer whose `through` is below `first` sent nothing:
        /// the events after the request's `after` up to `through` were dropped.
        public var first: UInt64

        public init(through: UInt64, head: UInt64, journal: UInt64, first: UInt64 = 1) {
            self.through = through
            self.head = head
            self.journal = journal
            self.first = first
        }

        /// Whether the history the request asked for starts before what the journal holds: seqs
        /// after the request's `after` up to `through` are gone.
        public var isHistoryDropped: Bool { through < first }

        public var frames: [Frame] {
            [FeedReplay.header, [Command.end.rawValue], BigEndian.frame(through), BigEndian.frame(head), BigEndian.frame(journal),
             BigEndian.frame(first)]
        }
    }

    /// One message of an answer, decoded.
    public enum Answer: Equatable, Sendable {
        case event(FeedEvent)
        case end(End)

        /// Decodes an answer; nil when the frames are not one.
        public init?(frames: [Frame]) {
            guard frames.count >= 2, frames[0] == FeedReplay.header, frames[1].count == 1 else { return nil }
            switch Command(rawValue: frames[1][0]) {
            case .event?:
                guard let event = FeedEvent(frames: Array(frames[2...])) else { return nil }
                self = .event(event)
            case .end?:
                // A broker from before retention sends no `first` (it kept everything).
                guard frames.count == 5 || frames.count == 6, let through = BigEndian.uint64(frames[2]),
                      let head = BigEndian.uint64(frames[3]), let journal = BigEndian.uint64(frames[4]) else { return nil }
                let first = frames.count == 6 ? BigEndian.uint64(frames[5]) : 1
                guard let first else { return nil }
                self = .end(End(through: through, head: head, journal: journal, first: first))
            default:
                return nil
            }
        }
    }

    /// The frames of an `EVENT` answer carrying `event`.
    public static func eventFrames(_ event: FeedEvent) -> [Frame] {
        [header, [Command.event.rawValue]] + event.frames
    }

    /// Whether `topic` is selected by `prefixes` (empty: every topic).
    public static func matches(_ topic: String, prefixes: [String]) -> Bool {
        prefixes.isEmpty || prefixes.contains { topic.hasPrefix($0) }
    }
}

/// An idle heartbeat of the feed, decoded from its body.
public struct FeedHeartbeat: Equatable, Sendable {
    /// The last sequence number published (0: none yet).
    public var lastSeq: UInt64
    /// The journal's id (see `FeedReplay.End.journal`).
    public var journal: UInt64
    /// The TCP port of the replay socket, when it listens on TCP.
    public var replayPort: Int?

    public init(lastSeq: UInt64, journal: UInt64, replayPort: Int?) {
        self.lastSeq = lastSeq
        self.journal = journal
        self.replayPort = replayPort
    }

    /// The PUB frames of this heartbeat at wall-clock `time`.
    public func frames(time: Double) -> [Frame] {
        var body = JSONObjectWriter()
        body.add("event", "heartbeat")
        body.add("time", time)
        body.add("journal", String(journal, radix: 16))
        if let replayPort { body.add("replay_port", replayPort) }
        return FeedEvent(topic: FeedReplay.heartbeatTopic, seq: lastSeq, body: body.finish()).frames
    }

    /// Decodes a heartbeat event; nil when `event` is not one.
    public init?(_ event: FeedEvent) {
        guard event.topic == FeedReplay.heartbeatTopic,
              case .object(let body)? = try? JSONValue(parsing: event.body),
              case .string(let journalText)? = body["journal"], let journal = UInt64(journalText, radix: 16) else { return nil }
        self.init(lastSeq: event.seq, journal: journal, replayPort: body["replay_port"]?.double.map { Int($0) })
    }
}
