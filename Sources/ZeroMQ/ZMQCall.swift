import CZeroMQ

/// How a libzmq function's return value signals failure (the reason is then in `zmq_errno()`).
protocol ZMQReturnValue {
    /// What a successful call yields.
    associatedtype Success
    /// The successful result, or nil when the call failed.
    var success: Success? { get }
}

/// `int`-returning functions fail with -1.
extension Int32: ZMQReturnValue {
    var success: Int32? { self == -1 ? nil : self }
}

/// Pointer-returning functions (`zmq_ctx_new`, `zmq_socket`) fail with NULL.
extension Optional: ZMQReturnValue where Wrapped == UnsafeMutableRawPointer {
    var success: UnsafeMutableRawPointer? { self }
}

/// The one place where libzmq calls that can fail are checked.
///
/// Runs `body`; retries it while libzmq reports `EINTR` (so `body` must be safe to repeat, and
/// recompute anything time-dependent such as a poll timeout); returns nil when libzmq reports
/// `EAGAIN` ("would block" is a value, not an error); throws any other failure as a `ZMQError`
/// carrying the exact errno, the function name and `detail`.
///
/// Callers that cannot meaningfully see `EAGAIN` (bind, setsockopt, ...) ignore the optional;
/// those that can (send, receive, poll) branch on it.
@discardableResult
func zmqCall<R: ZMQReturnValue>(
    _ function: StaticString,
    detail: @autoclosure () -> String? = nil,
    _ body: () -> R
) throws(ZMQError) -> R.Success? {
    while true {
        if let value = body().success { return value }
        let code = zmq_errno()
        switch code {
        case EINTR:
            continue
        case EAGAIN:
            return nil
        default:
            throw ZMQError(code: code, function: "\(function)", detail: detail())
        }
    }
}
