/// Refusals of peers' messages, for the log: which to write now, which to hold back.
///
/// Every message the broker or the optimizer refuses (out of range, over a budget, outside the
/// key's role or studies, an unverified lease) is counted by reason by its machine, always
/// (`BrokerCounters.refused`, `OptimizerCounters.refused`), and logged as one line naming the peer, the message and the reason, at most `burst` lines per reason per
/// `interval`. A hostile peer that sends a million refused messages therefore costs a few lines
/// a minute, and the first line after a quiet spell says how many were held back.
///
/// **Threading.** A value type that reads no clock: every call takes `now`.
public struct RefusalLog: Sendable {
    /// One refusal: who sent what, and why it was refused.
    public struct Refusal: Equatable, Sendable {
        /// The peer in short form: its key's user id `ROLE/NAME` when the broker authenticates,
        /// else the worker or client id it registered, else its connection.
        public var peer: String
        /// The message's command (`READY`, `FETCH`, …) or request (`submit`, `cancel`, …).
        public var message: String
        /// The counter it is counted under (`capacity`, `lease`, `fetch`, `value`, …).
        public var reason: String
        /// What was wrong, in words (the ERROR the peer was sent).
        public var detail: String

        public init(peer: String, message: String, reason: String, detail: String) {
            self.peer = peer
            self.message = message
            self.reason = reason
            self.detail = detail
        }

        /// Log metadata with dotted keys.
        public var metadata: [String: String] {
            ["peer.key": peer, "message.kind": message, "refusal.reason": reason, "refusal.detail": String(detail.prefix(512))]
        }
    }

    /// A line to log: the refusal, and how many of its reason were held back before it.
    public struct Line: Equatable, Sendable {
        public var refusal: Refusal
        public var suppressed: Int

        /// Log metadata: the refusal's, with `refusal.suppressed` when some were held back.
        public var metadata: [String: String] {
            var metadata = refusal.metadata
            if suppressed > 0 { metadata["refusal.suppressed"] = "\(suppressed)" }
            return metadata
        }
    }

    private struct Window: Sendable {
        var start: ContinuousClock.Instant
        var logged: Int
        var suppressed: Int
    }

    /// Lines per reason per interval: enough to see who and what, too few to flood a disk.
    public let burst: Int
    public let interval: Duration
    private var windows: [String: Window] = [:]
    private var pending: [Line] = []
    /// Most lines held for `take()`; beyond, they are counted as suppressed (a caller that never
    /// drains them cannot grow the log without bound).
    static let maxPending = 256

    public init(burst: Int = 5, interval: Duration = .seconds(10)) {
        self.burst = max(1, burst)
        self.interval = interval
    }

    /// Keeps a line for `refusal` unless its reason had `burst` lines in this
    /// interval already. Returns whether it is logged.
    @discardableResult
    public mutating func note(_ refusal: Refusal, now: ContinuousClock.Instant) -> Bool {
        var window = windows[refusal.reason] ?? Window(start: now, logged: 0, suppressed: 0)
        if now - window.start >= interval { window = Window(start: now, logged: 0, suppressed: window.suppressed) }
        guard window.logged < burst, pending.count < Self.maxPending else {
            window.suppressed += 1
            windows[refusal.reason] = window
            return false
        }
        pending.append(Line(refusal: refusal, suppressed: window.suppressed))
        window.logged += 1
        window.suppressed = 0
        windows[refusal.reason] = window
        return true
    }

    /// The lines to log since the last call, oldest first.
    public mutating func take() -> [Line] {
        defer { pending = [] }
        return pending
    }
}
