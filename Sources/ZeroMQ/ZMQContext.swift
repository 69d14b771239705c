import CZeroMQ
import Foundation

/// A libzmq context: the I/O thread and the registry of sockets made from it.
///
/// **Threading.** Thread-safe, like the libzmq context itself: any thread may make sockets
/// from it or terminate it. (Sockets are not thread-safe; see `ZMQSocket`.)
/// **Ownership.** Every `ZMQSocket` holds a strong reference to its context, so the context
/// outlives all of its sockets. The owner calls `terminate()` once every socket is closed;
/// `deinit` never terminates, because `zmq_ctx_term` blocks until pending messages are
/// flushed or dropped under each socket's linger, and a `deinit` must not block. A context
/// that is never terminated leaks its handle and its I/O thread.
public final class ZMQContext: @unchecked Sendable {
    // @unchecked: `handle` is written once; `terminated` is guarded by `lock`.
    private let handle: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var terminated = false

    /// Creates a context (`zmq_ctx_new`) with libzmq's defaults: one I/O thread.
    public init() throws(ZMQError) {
        // The helper reports EAGAIN as nil; a constructor cannot "would block", so it is thrown.
        guard let handle = try zmqCall("zmq_ctx_new", { zmq_ctx_new() }) else {
            throw ZMQError(code: EAGAIN, function: "zmq_ctx_new")
        }
        self.handle = handle
    }

    /// Makes a socket of `type` (`zmq_socket`). Throws `ETERM` once the context is terminated.
    public func socket(_ type: ZMQSocketType) throws(ZMQError) -> ZMQSocket {
        lock.lock()
        defer { lock.unlock() }
        guard !terminated else { throw ZMQError(code: ETERM, function: "zmq_socket", detail: "\(type)") }
        guard let socket = try zmqCall("zmq_socket", detail: "\(type)", { zmq_socket(handle, type.rawValue) }) else {
            throw ZMQError(code: EAGAIN, function: "zmq_socket", detail: "\(type)")
        }
        return ZMQSocket(context: self, type: type, handle: socket)
    }

    /// Raises (or lowers) how many sockets this context may hold (`ZMQ_MAX_SOCKETS`, libzmq's
    /// default 1023). Set it before making sockets; a process holding more sockets than its
    /// descriptor limit allows still fails with `EMFILE`.
    public func setMaxSockets(_ count: Int32) throws(ZMQError) {
        _ = try zmqCall("zmq_ctx_set", detail: "ZMQ_MAX_SOCKETS=\(count)") { zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, count) }
    }

    /// Makes every blocking call on this context's sockets fail with `ETERM`, without
    /// destroying anything (`zmq_ctx_shutdown`). Does not block; a no-op once terminated.
    public func shutdown() {
        lock.lock()
        defer { lock.unlock() }
        guard !terminated else { return }
        // Fails only on an invalid handle (EFAULT), which `terminated` rules out.
        _ = try? zmqCall("zmq_ctx_shutdown") { zmq_ctx_shutdown(handle) }
    }

    /// Destroys the context (`zmq_ctx_term`, retried on `EINTR`). Idempotent.
    ///
    /// Call it after every socket of this context is closed: `zmq_ctx_term` blocks until they
    /// are, and then for as long as each closed socket's linger keeps unsent messages. With
    /// linger 0 (or nothing left to send) it returns promptly.
    public func terminate() {
        lock.lock()
        let first = !terminated
        terminated = true
        lock.unlock()
        guard first else { return }
        // Fails only on an invalid handle (EFAULT); there is nothing a caller could do about it.
        _ = try? zmqCall("zmq_ctx_term") { zmq_ctx_term(handle) }
    }

    /// Whether `terminate()` has been called.
    public var isTerminated: Bool {
        lock.lock()
        defer { lock.unlock() }
        return terminated
    }
}

extension ZMQContext {
    /// `given` when there is one (its owner terminates it), otherwise a new context that the
    /// caller owns and must terminate: the choice every service that accepts an optional shared
    /// context makes.
    public static func borrowing(_ given: ZMQContext?) throws(ZMQError) -> (context: ZMQContext, owned: Bool) {
        if let given { return (given, false) }
        return (try ZMQContext(), true)
    }
}
