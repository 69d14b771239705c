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

    func subscribeToLogs(feed: String) {
        guard let logs = store as? any TrialLogStore else { return }
        do {
            let position = try logs.logFeedPosition()
            logFeed = try FeedSubscriber(endpoint: feed, topics: ["log/"], start: .after(config.feedIsNew ? 0 : position),
                                         curve: config.curve, context: context)
        } catch {
            logger.warning("cannot subscribe to the feed's log topics; trial output is not stored", metadata: ["error": "\(error)"])
        }
    }
}
