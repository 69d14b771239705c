import CZeroMQ

/// A failed libzmq call, keeping the exact `zmq_errno()` and the C function that reported it.
///
/// Errors are errno-exact on purpose: callers branch on `code` (or on the named properties
/// below) instead of on text. `detail` says what the call was about (an endpoint, an option), so
/// a log line is actionable without a debugger.
public struct ZMQError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The errno value libzmq reported (`zmq_errno()`), e.g. `EINVAL` or `ETERM`.
    public let code: Int32
    /// The C function that failed, e.g. `"zmq_bind"`.
    public let function: String
    /// What the call was about, e.g. the endpoint of a `zmq_bind` or the option of a
    /// `zmq_setsockopt`; nil when there is nothing to add.
    public let detail: String?

    /// Creates an error; libzmq's own failures are made by the module's call helper.
    public init(code: Int32, function: String, detail: String? = nil) {
        self.code = code
        self.function = function
        self.detail = detail
    }

    /// `function(detail): <zmq_strerror(code)> (errno <code>)`.
    public var description: String {
        let message = String(cString: zmq_strerror(code))
        let subject = detail.map { "\(function)(\($0))" } ?? function
        return "\(subject): \(message) (errno \(code))"
    }

    /// `EHOSTUNREACH`: a ROUTER with `ROUTER_MANDATORY` was asked to route to an unknown peer.
    public var isHostUnreachable: Bool { code == EHOSTUNREACH }

    /// `ETERM`: the socket's context was shut down or is being terminated; close the socket.
    public var isTerminated: Bool { code == ETERM }

    /// `EAGAIN`: the operation would have blocked. `send` and `receive` report this as a value
    /// (`false`, `nil`); it is thrown only where blocking was not expected.
    public var wouldBlock: Bool { code == EAGAIN }
}
