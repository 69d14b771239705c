import ZeroMQ

/// The ZAP decision (ZeroMQ RFC 27, version 1.0), pure: a request's frames in, a reply's frames
/// and what to log out. `ZAPHandler` carries out the socket side.
///
/// **Request** (after the REP envelope): `version` ("1.0"), `request id`, `domain`, `address`,
/// `routing id`, `mechanism`, then the mechanism's credentials: for CURVE, one frame with the
/// client's 32-byte public key.
/// **Reply**: `version` ("1.0"), the request id echoed, `status code`, `status text`,
/// `user id`, `metadata` (always empty here).
/// **Policy.** CURVE only. `200` with user id `ROLE/NAME` when the client key is in the
/// allowlist with a role that `domainRoles` allows for the request's domain; `400` with the
/// reason otherwise (unknown key, role not allowed in that domain, domain not served, other
/// mechanism); `500` for a request that does not follow RFC 27. A domain absent from
/// `domainRoles` (including the empty domain of a socket without `ZMQ_ZAP_DOMAIN`) admits no one.
public struct ZAPAuthenticator: Sendable {
    /// The ZAP domain of the broker's ROUTER (`ZMQ_ZAP_DOMAIN`).
    public static let routerDomain = "hyperloom.router"
    /// The ZAP domain of the broker's event feed PUB socket.
    public static let feedDomain = "hyperloom.feed"
    /// Who may connect where on the broker: workers, clients, optimizers and viewers to the
    /// ROUTER; subscribers, clients, optimizers and viewers to the feed.
    public static let brokerDomainRoles: [String: Set<PeerRole>] = [
        routerDomain: [.worker, .client, .optimizer, .viewer],
        feedDomain: [.subscriber, .client, .optimizer, .viewer],
    ]

    /// The keys allowed, with their roles.
    public var allowlist: Allowlist

    /// An authenticator for `allowlist`.
    public init(allowlist: Allowlist) {
        self.allowlist = allowlist
    }

    /// What was decided about one request, for the log.
    ///
    /// **Secrecy.** Holds only public information: the client's public key, its address and
    /// the allowlist entry.
    public struct Decision: Sendable, Equatable, CustomStringConvertible {
        /// The RFC 27 status of the reply.
        public enum Status: String, Sendable {
            /// `200`: the connection is accepted.
            case accepted = "200"
            /// `400`: the client is refused.
            case refused = "400"
            /// `500`: the request did not follow RFC 27; the connection is refused.
            case malformed = "500"
        }

        /// The status sent back.
        public var status: Status
        /// Why: `OK` when accepted, else the status text sent back (`unknown key`, ...).
        public var reason: String
        /// The request's ZAP domain (empty when the socket set none, or the request was malformed).
        public var domain: String
        /// The client's address as libzmq reported it (an IP address for TCP).
        public var address: String
        /// The security mechanism the client used (`CURVE`, `NULL`, `PLAIN`).
        public var mechanism: String
        /// The client's public key in Z85; nil when the request carried no usable CURVE key.
        public var clientKey: String?
        /// The allowlist role of the key; nil for an unknown key.
        public var role: PeerRole?
        /// The allowlist name of the key; nil for an unknown key.
        public var name: String?

        /// Whether the connection was accepted.
        public var isAccepted: Bool { status == .accepted }

        /// The user id sent back: `ROLE/NAME` when accepted, else nil.
        public var userID: String? {
            guard isAccepted, let role, let name else { return nil }
            return "\(role.rawValue)/\(name)"
        }

        /// Log metadata with dotted keys: `zap.status`, `zap.reason`, `zap.domain`,
        /// `zap.address`, `zap.mechanism`, `peer.key`, `peer.role`, `peer.name` (the last three
        /// only when known).
        public var metadata: [String: String] {
            var metadata = [
                "zap.status": status.rawValue, "zap.reason": reason, "zap.domain": domain,
                "zap.address": address, "zap.mechanism": mechanism,
            ]
            metadata["peer.key"] = clientKey
            metadata["peer.role"] = role?.rawValue
            metadata["peer.name"] = name
            return metadata
        }

        /// `accepted worker/gpu-01 on hyperloom.router from 10.0.0.7 (key ...)` or
        /// `refused on hyperloom.feed from 10.0.0.7: unknown key (key ...)`.
        public var description: String {
            let who = role.map { " \($0.rawValue)/\(name ?? "?")" } ?? ""
            let key = clientKey.map { " (key \($0))" } ?? ""
            let place = " on \(domain.isEmpty ? "<no domain>" : domain) from \(address.isEmpty ? "?" : address)"
            switch status {
            case .accepted: return "accepted\(who)\(place)\(key)"
            case .refused: return "refused\(who)\(place): \(reason)\(key)"
            case .malformed: return "malformed ZAP request\(place): \(reason)"
            }
        }
    }

    /// The reply to a ZAP `request` (its frames after the REP envelope) and the decision to log.
    ///
    /// - Parameter domainRoles: for each ZAP domain, the roles that may connect there
    ///   (`brokerDomainRoles` for the broker).
    public func reply(to request: [[UInt8]], domainRoles: [String: Set<PeerRole>]) -> (reply: [[UInt8]], decision: Decision) {
        let requestID = request.count > 1 ? request[1] : []
        var decision = Decision(status: .malformed, reason: "", domain: "", address: "", mechanism: "")
        func answer(_ status: Decision.Status, _ reason: String) -> (reply: [[UInt8]], decision: Decision) {
            decision.status = status
            decision.reason = reason
            let userID = decision.userID ?? ""
            let reply = [Self.version, requestID, Array(status.rawValue.utf8), Array(reason.utf8), Array(userID.utf8), []]
            return (reply, decision)
        }

        guard request.count >= 6 else {
            return answer(.malformed, "request has \(request.count) frames, RFC 27 needs at least 6")
        }
        guard request[0] == Self.version else {
            return answer(.malformed, "ZAP version \(Self.text(request[0])) is not 1.0")
        }
        decision.domain = Self.text(request[2])
        decision.address = Self.text(request[3])
        decision.mechanism = Self.text(request[5])
        guard request[5] == Self.curve else {
            return answer(.refused, "mechanism \(decision.mechanism) is not accepted: CURVE only")
        }
        let credentials = request[6...]
        guard credentials.count == 1, let key = credentials.first, key.count == ZMQCurveKeyPair.keyByteCount else {
            return answer(.malformed, "CURVE credentials must be one 32-byte public key")
        }
        decision.clientKey = ZMQCurveKeyPair.z85Encode(key)
        if let peer = allowlist.role(of: key) {
            decision.role = peer.role
            decision.name = peer.name
        }
        guard let allowed = domainRoles[decision.domain] else {
            return answer(.refused, "domain \(decision.domain.isEmpty ? "<none>" : decision.domain) is not served")
        }
        guard let role = decision.role else {
            return answer(.refused, "unknown key")
        }
        guard allowed.contains(role) else {
            return answer(.refused, "role \(role.rawValue) may not connect to \(decision.domain)")
        }
        return answer(.accepted, "OK")
    }

    /// `1.0`: the only ZAP version (RFC 27).
    static let version = Array("1.0".utf8)
    /// The CURVE mechanism's name in a ZAP request.
    static let curve = Array("CURVE".utf8)

    /// A request frame as text for the log: UTF-8 with invalid bytes replaced, at most 256
    /// bytes (a request comes from libzmq, but its address and domain end up in log lines).
    static func text(_ frame: [UInt8]) -> String {
        String(decoding: frame.prefix(256), as: UTF8.self)
    }
}
