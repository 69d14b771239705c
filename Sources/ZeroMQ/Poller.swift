import CZeroMQ

/// Waits on several sockets and plain file descriptors at once (`zmq_poll`).
///
/// **Threading.** Use it on the thread that owns its sockets.
/// **Ownership.** Holds every added socket strongly, so none is freed while the poller can
/// still hand its handle to libzmq; a socket closed after `add` makes `poll` throw `ENOTSOCK`.
/// **Timing.** `zmq_poll` counts milliseconds: a positive timeout is rounded up to the next
/// millisecond (so a loop waiting for a sub-millisecond deadline sleeps instead of spinning),
/// an interrupted wait (`EINTR`) resumes with the time left until the same deadline, and `[]`
/// comes back only once the whole timeout has elapsed.
public struct Poller {
    /// What an item waits for.
    public struct Events: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        /// A message can be received, or the descriptor has input (`ZMQ_POLLIN`).
        public static let readable = Events(rawValue: Int16(ZMQ_POLLIN))
        /// A message can be sent without blocking, or the descriptor can be written (`ZMQ_POLLOUT`).
        public static let writable = Events(rawValue: Int16(ZMQ_POLLOUT))
    }

    private var items: [zmq_pollitem_t] = []
    /// Parallel to `items`: the socket of each socket item, nil for descriptor items.
    private var sockets: [ZMQSocket?] = []

    /// An empty poller.
    public init() {}

    /// Number of items added.
    public var count: Int { items.count }

    /// Adds a socket; returns its index in `poll`'s result.
    @discardableResult
    public mutating func add(_ socket: ZMQSocket, events: Events = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Adds a plain file descriptor (a pipe, an eventfd, a TCP socket); returns its index. The
    /// poller does not own the descriptor.
    @discardableResult
    public mutating func add(fd: Int32, events: Events = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fd, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Waits until at least one item is ready or `timeout` elapsed; returns the indices of the
    /// ready items in ascending order (`[]` on timeout).
    ///
    /// - Parameter timeout: nil waits forever (an empty poller then never returns); `.zero`
    ///   (or less) checks once and returns.
    /// - Throws: `ETERM` when the context is terminated, `ENOTSOCK` for a closed socket.
    public func poll(timeout: Duration?) throws(ZMQError) -> [Int] {
        var ready = items
        for case let (index, socket?) in sockets.enumerated() {
            ready[index].socket = try socket.openHandle("zmq_poll")
        }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let count = Int32(ready.count)
        while true {
            let readyCount = try zmqCall("zmq_poll", detail: "\(count) items") {
                zmq_poll(&ready, count, Self.milliseconds(until: deadline))
            } ?? 0
            if readyCount > 0 {
                return ready.indices.filter { ready[$0].revents != 0 }
            }
            if let deadline, ContinuousClock.now >= deadline { return [] }
        }
    }

    /// The `zmq_poll` timeout until `deadline`: -1 for none, 0 once passed, else milliseconds
    /// rounded up (capped at `Int32.max`, after which `poll` simply waits again).
    static func milliseconds(until deadline: ContinuousClock.Instant?) -> Int {
        guard let deadline else { return -1 }
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero else { return 0 }
        let milliseconds = remaining.roundedUpCount(perSecond: 1000) ?? Int64(Int32.max)
        return Int(min(milliseconds, Int64(Int32.max)))
    }
}
