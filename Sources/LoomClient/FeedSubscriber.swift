import LoomWire
import ZeroMQ

/// Reads the broker's event feed (its PUB socket).
///
/// **Threading.** One thread at a time (it owns a SUB socket).
/// **Delivery.** Plain PUB/SUB: events published before the subscription reached the broker, or
/// dropped at a full high-water mark, are not seen; `gaps` counts the sequence numbers skipped.
public final class FeedSubscriber {
    private let context: ZMQContext
    private let ownsContext: Bool
    private let socket: ZMQSocket
    private var lastSeq: UInt64?
    /// Sequence numbers skipped between received events.
    public private(set) var gaps: UInt64 = 0
    /// Messages that did not have the feed's shape.
    public private(set) var malformed = 0

    /// Connects to `endpoint` and subscribes to every topic starting with one of `topics`
    /// (the empty prefix selects everything).
    public init(endpoint: String, topics: [String] = [""], curve: CurveClientKeys? = nil, context: ZMQContext? = nil) throws(ZMQError) {
        (self.context, ownsContext) = try ZMQContext.borrowing(context)
        socket = try self.context.socket(.sub)
        try curve?.apply(to: socket)
        try socket.setLinger(.zero)
        try socket.setReceiveHighWaterMark(1_000_000)
        for topic in topics { try socket.subscribe(Array(topic.utf8)) }
        try socket.connect(endpoint)
    }

    deinit { close() }

    /// The next event, or nil when none arrived within `timeout`.
    public func next(timeout: Duration) throws(ZMQError) -> FeedEvent? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let frames = try socket.receive(dontWait: true) {
                guard let event = FeedEvent(frames: frames) else {
                    malformed += 1
                    continue
                }
                if let lastSeq, event.seq > lastSeq + 1 { gaps += event.seq - lastSeq - 1 }
                lastSeq = event.seq
                return event
            }
            let now = ContinuousClock.now
            guard now < deadline else { return nil }
            var poller = Poller()
            poller.add(socket)
            _ = try poller.poll(timeout: now.duration(to: deadline))
        }
    }

    /// Closes the socket (and the context when the subscriber made it). Idempotent.
    public func close() {
        socket.close()
        if ownsContext { context.terminate() }
    }
}
