import LoomWire

/// Refusals made visible: every message the broker refuses is counted by reason
/// (`counters.refused`, or `counters.rejected` for what the decoder refuses) and offered to the
/// rate-limited `RefusalLog`, whose lines the service writes (`takeRefusalLines()`), each naming
/// the peer's key (short form), the message and the reason.
extension BrokerStateMachine {
    /// The lines to log since the last call: at most a few per reason per ten seconds, however
    /// many messages were refused.
    public mutating func takeRefusalLines() -> [RefusalLog.Line] { refusalLog.take() }

    /// A message refused by the broker's rules (role, capacity, owner, lease, fetch, …).
    mutating func refuse(_ reason: String, from identity: Frame?, message: String, detail: String, now: ContinuousClock.Instant) {
        counters.refused[reason, default: 0] += 1
        refusalLog.note(RefusalLog.Refusal(peer: peerName(identity), message: message, reason: reason, detail: detail), now: now)
    }

    /// A message the decoder refused (malformed, or a value out of range).
    mutating func reject(_ error: WireError, from identity: Frame, frames: some Collection<Frame>, now: ContinuousClock.Instant) {
        counters.rejected[error.category, default: 0] += 1
        let command = frames.dropFirst().first?.first.flatMap(Command.init(rawValue:))?.name ?? "unknown"
        refusalLog.note(RefusalLog.Refusal(peer: peerName(identity), message: command, reason: error.category, detail: error.description),
                        now: now)
    }

    /// The peer in short form: the key of the message being handled (`ROLE/NAME`), else the
    /// worker or client id its connection registered, else the connection's first bytes in hex.
    func peerName(_ identity: Frame?) -> String {
        if let sender { return sender }
        guard let identity else { return "unknown" }
        switch peers[identity] {
        case .worker(let id)?: return workers[id]?.userID ?? "worker \(id)"
        case .client(let id)?: return clients[id]?.userID ?? "client \(id)"
        case nil: return "connection " + identity.prefix(5).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        }
    }
}
