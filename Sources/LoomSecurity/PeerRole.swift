/// What a peer of the broker is allowed to be, decided by which allowlist directory holds its
/// public key (`KEYS/workers/`, `KEYS/clients/`, ...).
public enum PeerRole: String, Sendable, CaseIterable, Comparable {
    /// Runs trials: connects to the broker's ROUTER.
    case worker
    /// Submits studies and jobs, reads status: the ROUTER, and the feed.
    case client
    /// Drives studies through the broker: the ROUTER, and the feed.
    case optimizer
    /// Only reads the event feed (the broker's PUB).
    case subscriber
    /// Reads without changing anything: the feed, the broker's status (QUERY) and every study's
    /// read-only documents from the optimizer (`studies`, `status`, `trials`, `export`, `logs`).
    /// For dashboards (`hyperloom dashboard`) and monitoring.
    case viewer

    /// The allowlist subdirectory holding this role's public keys: `workers`, `clients`, ...
    public var directoryName: String { rawValue + "s" }

    /// The role whose allowlist subdirectory is `name` (`"workers"` is `.worker`).
    public init?(directoryName name: String) {
        guard let role = Self.allCases.first(where: { $0.directoryName == name }) else { return nil }
        self = role
    }

    /// In declaration order, so listings and counts read the same everywhere.
    public static func < (lhs: PeerRole, rhs: PeerRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
