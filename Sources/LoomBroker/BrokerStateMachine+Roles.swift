import LoomWire

/// Roles: what each kind of key may say, and cutting off a key that was revoked.
///
/// With authentication on, every message carries the ZAP user id `ROLE/NAME` of its connection.
/// Workers may only take jobs and report (`HLW1`); clients may submit, cancel, query and ask the
/// optimizer; the optimizer may do what clients do and provide the `optimizer` service;
/// subscribers only read the feed and never reach this socket (ZAP refuses them here).
extension BrokerStateMachine {
    /// Why a message is refused: a counter category and the text of the ERROR.
    struct Refusal {
        var category: String
        var text: String
    }

    func refusal(of message: Inbound, userID: String?) -> Refusal? {
        guard let allowed = allowedUsers else { return nil }
        guard let userID else { return Refusal(category: "unauthenticated", text: "this broker requires a CURVE key") }
        guard allowed.contains(userID) else {
            return Refusal(category: "revoked", text: "key \(userID) is no longer allowed by this broker")
        }
        let role = userID.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        // An id belongs to the key that holds it: another key may not take over a registered
        // worker's id (and its attempts) or a client's id (and its results, or the optimizer's
        // requests).
        switch message {
        case .worker(.ready(let info)):
            if let owner = workers[info.worker]?.userID, owner != userID {
                return Refusal(category: "identity", text: "worker id \(info.worker) belongs to key \(owner), not \(userID)")
            }
        case .client(.hello(let info)):
            if let owner = clients[info.client]?.userID, owner != userID {
                return Refusal(category: "identity", text: "client id \(info.client) belongs to key \(owner), not \(userID)")
            }
        default:
            break
        }
        switch message {
        case .worker:
            return role == "worker" ? nil : Refusal(category: "role", text: "key \(userID) (role \(role)) may not speak as a worker")
        case .client(let m):
            if role == "viewer" { return viewerRefusal(m, userID: userID) }
            guard role == "client" || role == "optimizer" else {
                return Refusal(category: "role", text: "key \(userID) (role \(role)) may not \(Self.clientVerb(m))")
            }
            switch m {
            case .hello(let info) where !(info.services ?? []).isEmpty && role != "optimizer":
                return Refusal(category: "role", text: "key \(userID) (role \(role)) may not provide services; the optimizer role may")
            case .respond where role != "optimizer":
                return Refusal(category: "role", text: "key \(userID) (role \(role)) may not answer requests; the optimizer role may")
            default:
                return nil
            }
        }
    }

    /// A viewer reads and changes nothing: it may say HELLO (offering no service), heartbeat,
    /// QUERY the broker, send REQUESTs to the `optimizer` service (which answers a viewer's
    /// read-only ones only: `StudyAccess`) and leave; nothing else.
    func viewerRefusal(_ m: ClientMessage, userID: String) -> Refusal? {
        switch m {
        case .hello(let info) where !(info.services ?? []).isEmpty:
            return Refusal(category: "role", text: "key \(userID) (role viewer) may not provide services; the optimizer role may")
        case .request(_, let service, _) where service != "optimizer":
            return Refusal(category: "role", text: "key \(userID) (role viewer) may send requests to the optimizer service only, not \(service)")
        case .hello, .heartbeat, .query, .request, .disconnect:
            return nil
        default:
            return Refusal(category: "role", text: "key \(userID) (role viewer) may not \(Self.clientVerb(m)); viewers only read")
        }
    }

    static func clientVerb(_ m: ClientMessage) -> String {
        switch m {
        case .submit: "submit jobs"
        case .cancel: "cancel jobs"
        case .query: "query the broker"
        case .request: "send requests"
        case .respond: "answer requests"
        case .ack: "acknowledge results"
        case .transfer: "transfer checkpoints"
        default: "speak as a client"
        }
    }

    /// Sets who may speak (nil: anyone, authentication off). Peers whose key is no longer
    /// allowed are cut off at once: told DISCONNECT "revoked", a worker's attempts are requeued,
    /// a client loses its connection; whatever they send later is refused.
    public mutating func authorize(_ users: Set<String>?, now: ContinuousClock.Instant) -> [BrokerAction] {
        allowedUsers = users
        guard let users else { return [] }
        var actions: [BrokerAction] = []
        for id in workerOrder {
            guard let worker = workers[id], let user = worker.userID, !users.contains(user) else { continue }
            actions.append(.send(identity: worker.identity, frames: BrokerToWorker.disconnect(reason: DisconnectReason.revoked).frames))
            actions += workerLost(id, reason: "key \(user) revoked", now: now)
        }
        for (id, client) in clients {
            guard let user = client.userID, !users.contains(user), let identity = client.identity else { continue }
            actions.append(.send(identity: identity, frames: BrokerToClient.disconnect(reason: DisconnectReason.revoked).frames))
            peers[identity] = nil
            clientLeft(id)
        }
        return actions
    }
}
