import LoomModel

/// Per-study authorisation of study requests: a client key reads, steers and cancels only the
/// studies it submitted; an optimizer key (the operator's admin role) may act on every study; a
/// viewer key (dashboards) may read every study and change none: only the `readOnly` ops.
///
/// The broker forwards each REQUEST with the requester's key (`ROLE/NAME`); without
/// authentication there is no key and everything is allowed, as before. A study submitted without
/// authentication has no owner and stays open to every key.
///
/// **Where it is checked.** `OptimizerMachine` calls `check` at the top of its request handling,
/// with owners from its in-memory `studies` (pure: no store read); the service's read-only
/// `studies` listing (`OptimizerQueries`) keeps only the records `permits` allows.
enum StudyAccess {
    /// The ops that change nothing: all a viewer key may send.
    static let readOnly: Set<String> = ["studies", "status", "trials", "export", "logs"]

    /// Whether `requester` is a viewer key (`viewer/NAME`).
    static func isViewer(_ requester: String?) -> Bool { requester?.hasPrefix("viewer/") == true }

    /// Whether `requester` may act on (a viewer: read) a study owned by `owner`.
    static func permits(requester: String?, owner: String?) -> Bool {
        guard let requester, let owner else { return true }
        return requester == owner || requester.hasPrefix("optimizer/") || isViewer(requester)
    }

    /// Throws when the request names a study its requester may not act on, or a viewer's
    /// request would change something. `owner` reads a study's owner (nil: no such study, which
    /// the request itself then reports).
    static func check(_ op: String, study: String?, requester: String?, owner: (String) throws -> String??) throws {
        if isViewer(requester), !readOnly.contains(op) {
            throw RequestError(description: "\(op): key \(requester!) is a viewer: it may only read (\(readOnly.sorted().joined(separator: ", ")))",
                               refusal: "access")
        }
        guard let requester, let study, let found = try owner(study) else { return }
        guard permits(requester: requester, owner: found) else {
            throw RequestError(description: "\(op): key \(requester) may not act on study \(study): it was submitted by another key",
                               refusal: "access")
        }
    }

    /// The studies of `records` that `requester` may see, in their order.
    static func visible(_ records: [StudyRecord], requester: String?) -> [StudyRecord] {
        records.filter { permits(requester: requester, owner: $0.owner) }
    }
}
