#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ZeroMQ

/// Answers libzmq's ZAP requests for one context: a REP socket bound to
/// `inproc://zeromq.zap.01`, decisions by `ZAPAuthenticator`.
///
/// **Order.** Make the handler before any CURVE server socket of the same context binds (and
/// so before any peer can connect): libzmq admits CURVE clients without asking when no handler
/// is bound. One handler per context (a second bind fails with `EADDRINUSE`).
/// **Threading.** Not thread-safe: make it, poll its `socket`, call `handlePending()` and
/// `reload(_:)`, and close it on one thread (the broker's loop thread).
/// **Liveness.** libzmq holds each connecting peer's handshake until its request is answered,
/// so the owner polls `socket` for `.readable` in its loop and calls `handlePending()` when it
/// is; a peer waiting longer than its handshake timeout is dropped by libzmq and reconnects.
public final class ZAPHandler {
    /// What was decided about one request.
    public typealias Decision = ZAPAuthenticator.Decision

    /// The endpoint libzmq sends ZAP requests to (RFC 27).
    public static let endpoint = "inproc://zeromq.zap.01"

    /// Requests answered per `handlePending()` call at most, so a burst of connecting peers
    /// cannot starve the owner's loop; the rest stay readable for the next turn.
    public static let maximumRequestsPerTurn = 256

    /// The REP socket; add it to the owner's `Poller` for `.readable`.
    public let socket: ZMQSocket
    /// The decisions, with the current allowlist.
    public private(set) var authenticator: ZAPAuthenticator
    /// The roles allowed in each ZAP domain.
    public let domainRoles: [String: Set<PeerRole>]
    /// The last socket failure of `handlePending()` (`ETERM` once the context shuts down);
    /// nil while all is well.
    public private(set) var lastError: ZMQError?

    /// Binds the handler in `context`.
    ///
    /// - Parameter domainRoles: for each ZAP domain, the roles that may connect there.
    /// - Throws: `EADDRINUSE` when the context has a handler already, `ETERM` when it is shut
    ///   down.
    public init(
        context: ZMQContext,
        allowlist: Allowlist,
        domainRoles: [String: Set<PeerRole>] = ZAPAuthenticator.brokerDomainRoles
    ) throws(ZMQError) {
        let socket = try context.socket(.rep)
        do {
            // Replies go to libzmq's own sessions over inproc; nothing is worth keeping at close.
            try socket.setLinger(.zero)
            try socket.bind(Self.endpoint)
        } catch {
            socket.close()
            throw error
        }
        self.socket = socket
        self.authenticator = ZAPAuthenticator(allowlist: allowlist)
        self.domainRoles = domainRoles
    }

    /// Answers every waiting request (up to `maximumRequestsPerTurn`) without blocking and
    /// returns what was decided, in order. A socket failure stops the turn and is kept in
    /// `lastError`; the decisions made before it are returned.
    public func handlePending() -> [Decision] {
        var decisions: [Decision] = []
        do throws(ZMQError) {
            while decisions.count < Self.maximumRequestsPerTurn, let request = try socket.receive(dontWait: true) {
                let (reply, decision) = authenticator.reply(to: request, domainRoles: domainRoles)
                // libzmq's ZAP session reads replies at once; a full pipe would mean it is gone.
                guard try socket.send(reply, dontWait: true) else {
                    throw ZMQError(code: EAGAIN, function: "zmq_send", detail: "ZAP reply to \(decision.address)")
                }
                decisions.append(decision)
            }
            lastError = nil
        } catch {
            lastError = error
        }
        return decisions
    }

    /// Uses `allowlist` for every request from now on (connections already accepted stay).
    public func reload(_ allowlist: Allowlist) {
        authenticator.allowlist = allowlist
    }

    /// Closes the socket; CURVE servers of the context then admit clients without ZAP, so close
    /// the handler only after them.
    public func close() {
        socket.close()
    }
}
