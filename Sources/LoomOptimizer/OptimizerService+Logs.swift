import LoomClient
import LoomStore
import LoomWire
import Logging

/// Trial output: the optimizer stores what the feed's `log/` topics carry.
///
/// The feed is the durable path (LOG is never acknowledged by anyone): the subscription starts
/// after the highest feed sequence number already stored, and `FeedSubscriber` replays any gap,
/// so lines published while the optimizer was down or slow are stored when it catches up. The
/// store ignores a line it already holds, so a replay never stores one twice.
extension OptimizerService {
    /// Most log events stored per turn, so a burst of output cannot hold back results.
    static let logEventsPerTurn = 2_000

    func subscribeToLogs(_ endpoints: (feed: String, replay: String?)) {
        guard let logs = store as? any TrialLogStore else { return }
        do {
            let position = try logs.logFeedPosition()
            logFeed = try FeedSubscriber(endpoint: endpoints.feed, topics: ["log/"], start: .after(config.feedIsNew ? 0 : position),
                                         replayEndpoint: endpoints.replay, curve: config.curve, context: context)
        } catch {
            logger.warning("cannot subscribe to the feed's log topics; trial output is not stored", metadata: ["error": "\(error)"])
        }
    }

    /// Stores the log lines the feed delivered since the last turn (at most `logEventsPerTurn`).
    func recordLogs() {
        guard let feed = logFeed, let logs = store as? any TrialLogStore else { return }
        for _ in 0..<Self.logEventsPerTurn {
            guard let event = try? feed.next(timeout: .zero) else { return }
            guard let lines = Self.logLines(event) else {
                logger.warning("ignored a malformed log event", metadata: ["feed.topic": "\(event.topic)", "feed.seq": "\(event.seq)"])
                continue
            }
            do {
                try logs.recordLogLines(lines)
            } catch {
                // A trial this store does not hold (another optimizer's study) is not ours to keep.
                logger.debug("log lines not stored", metadata: ["feed.topic": "\(event.topic)", "error": "\(error)"])
            }
        }
    }

    /// The store rows of a `log` feed event; nil when it is not one.
    static func logLines(_ event: FeedEvent) -> [LogLineRecord]? {
        guard case .object(let body)? = try? JSONValue(parsing: event.body), body["event"] == .string("log"),
              case .string(let job)? = body["job"], let (study, trial) = parseJobID(job),
              let attempt = body["attempt"]?.double, let first = body["first"]?.double, first >= 1,
              case .string(let stream)? = body["stream"], LogBatch.Stream(rawValue: stream) != nil,
              case .array(let lines)? = body["lines"] else { return nil }
        var records: [LogLineRecord] = []
        records.reserveCapacity(lines.count)
        for (i, line) in lines.enumerated() {
            guard case .string(let text) = line else { return nil }
            records.append(LogLineRecord(study: study, trial: trial, attempt: Int(attempt), stream: stream,
                                         line: Int(first) + i, text: text, feedSeq: event.seq))
        }
        return records
    }
}
