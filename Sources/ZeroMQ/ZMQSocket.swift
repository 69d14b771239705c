import CZeroMQ

/// A ZeroMQ socket: endpoints and lifetime here; messages in `ZMQSocket+Messages.swift`,
/// options in `ZMQSocket+Options.swift`, CURVE in `ZMQSocket+Curve.swift`.
///
/// **Threading.** Not thread-safe and not `Sendable`: make, use and close a socket on one
/// thread (libzmq sockets may migrate between threads only with a full memory barrier, which
/// this type does not provide). Share the `ZMQContext`, never the socket.
/// **Ownership.** The socket holds its context strongly, so the context outlives it. `close()`
/// calls `zmq_close` exactly once; later calls are no-ops and every other method then throws
/// `ENOTSOCK`. `deinit` closes a socket that is still open: it never blocks and never throws,
/// because `zmq_close` returns at once and libzmq's I/O thread applies the linger to unsent
/// messages in the background (`ZMQContext.terminate()` is what waits for that).
public final class ZMQSocket {
    /// The context the socket was made from, kept alive by the socket.
    public let context: ZMQContext
    /// The socket's kind.
    public let type: ZMQSocketType
    /// The libzmq socket; nil once closed.
    private(set) var handle: UnsafeMutableRawPointer?

    init(context: ZMQContext, type: ZMQSocketType, handle: UnsafeMutableRawPointer) {
        self.context = context
        self.type = type
        self.handle = handle
    }

    deinit { close() }

    /// Whether `close()` has been called.
    public var isClosed: Bool { handle == nil }

    /// Closes the socket (`zmq_close`) without changing its linger. Idempotent.
    public func close() {
        guard let handle else { return }
        self.handle = nil
        // Fails only for an invalid handle (ENOTSOCK), which `handle == nil` rules out.
        _ = try? zmqCall("zmq_close") { zmq_close(handle) }
    }

    /// The open handle, or `ENOTSOCK` reported under `function` when the socket is closed.
    func openHandle(_ function: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(code: ENOTSOCK, function: function, detail: "socket is closed") }
        return handle
    }

    /// Accepts connections on `endpoint` (`zmq_bind`), e.g. `tcp://127.0.0.1:*` for an
    /// ephemeral port (read it back with `lastEndpoint()`) or `inproc://name`.
    public func bind(_ endpoint: String) throws(ZMQError) {
        let handle = try openHandle("zmq_bind")
        try zmqCall("zmq_bind", detail: endpoint) { zmq_bind(handle, endpoint) }
    }

    /// Stops accepting on `endpoint` (`zmq_unbind`); `ENOENT` if it was not bound.
    public func unbind(_ endpoint: String) throws(ZMQError) {
        let handle = try openHandle("zmq_unbind")
        try zmqCall("zmq_unbind", detail: endpoint) { zmq_unbind(handle, endpoint) }
    }

    /// Connects to `endpoint` (`zmq_connect`). Returns at once; libzmq connects (and
    /// reconnects) in the background.
    public func connect(_ endpoint: String) throws(ZMQError) {
        let handle = try openHandle("zmq_connect")
        try zmqCall("zmq_connect", detail: endpoint) { zmq_connect(handle, endpoint) }
    }

    /// Drops the connection to `endpoint` (`zmq_disconnect`); `ENOENT` if not connected.
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        let handle = try openHandle("zmq_disconnect")
        try zmqCall("zmq_disconnect", detail: endpoint) { zmq_disconnect(handle, endpoint) }
    }

    /// The endpoint last bound or connected (`ZMQ_LAST_ENDPOINT`), with a wildcard port
    /// resolved: `tcp://127.0.0.1:*` reads back as `tcp://127.0.0.1:41234`.
    public func lastEndpoint() throws(ZMQError) -> String {
        try stringOption(ZMQ_LAST_ENDPOINT, "ZMQ_LAST_ENDPOINT")
    }

    /// Subscribes a SUB socket to messages whose first frame starts with `prefix`
    /// (`ZMQ_SUBSCRIBE`); the empty prefix matches everything.
    public func subscribe(_ prefix: [UInt8]) throws(ZMQError) {
        try setBytesOption(ZMQ_SUBSCRIBE, "ZMQ_SUBSCRIBE", prefix)
    }

    /// Removes one earlier `subscribe(prefix)` (`ZMQ_UNSUBSCRIBE`).
    public func unsubscribe(_ prefix: [UInt8]) throws(ZMQError) {
        try setBytesOption(ZMQ_UNSUBSCRIBE, "ZMQ_UNSUBSCRIBE", prefix)
    }
}

/// A socket belongs to one thread (see **Threading** on `ZMQSocket`).
@available(*, unavailable)
extension ZMQSocket: Sendable {}
