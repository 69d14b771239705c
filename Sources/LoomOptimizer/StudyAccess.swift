import LoomStore
import LoomWire

/// Per-study authorisation of study requests: a client key reads, steers and cancels only the
/// studies it submitted; an optimizer key (the operator's admin role) may act on every study.
///
/// The broker forwards each REQUEST with the requester's key (`ROLE/NAME`); without
/// authentication there is no key and everything is allowed, as before. A study submitted without
/// authentication has no owner and stays open to every key.
enum StudyAccess {
    /// Whether `requester` may act on a study owned by `owner`.
    static func permits(requester: String?, owner: String?) -> Bool {
        guard let requester, let owner else { return true }
        return requester == owner || requester.hasPrefix("optimizer/")
    }

    /// Throws when the request names a study its requester may not act on. `owner` reads a
    /// study's owner (nil: no such study, which the request itself then reports).
    static func check(_ op: String, study: String?, requester: String?, owner: (String) throws -> String??) throws {
        guard let requester, let study, let found = try owner(study) else { return }
        guard permits(requester: requester, owner: found) else {
            throw RequestError(description: "\(op): key \(requester) may not act on study \(study): it was submitted by another key")
        }
    }

    /// The `studies` document with only the studies `requester` may see.
    static func visible(_ document: JSONValue, requester: String?, owner: (String) -> String??) -> JSONValue {
        guard let requester, case .object(var doc) = document, case .array(let list)? = doc["studies"] else { return document }
        doc["studies"] = .array(list.filter { entry in
            guard case .string(let id)? = entry.object?["id"] else { return true }
            return permits(requester: requester, owner: owner(id) ?? nil)
        })
        return .object(doc)
    }
}
