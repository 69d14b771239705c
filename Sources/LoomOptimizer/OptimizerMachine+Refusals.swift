import LoomModel
import LoomWire

/// What the optimizer refused of its peers, counted by reason for metrics.
public struct OptimizerCounters: Equatable, Sendable {
    /// Refused messages by reason: `access` (a key acting on another key's study), `malformed`
    /// (a request that is not `{"op": …}`), `spec` (a submitted spec that does not parse or is
    /// over its budget), `checkpoint` (a manifest out of range or over `--checkpoint-max-bytes`).
    public var refused: [String: Int] = [:]

    public init() {}
}

/// Refusals made visible: each is counted (`counters.refused`) and offered to the
/// rate-limited `RefusalLog`; the lines it lets through become warning notes of the event's
/// actions ("message refused", naming the peer, the message and the reason).
extension OptimizerMachine {
    mutating func refuse(_ reason: String, peer: String, message: String, detail: String, now: Now) {
        counters.refused[reason, default: 0] += 1
        refusalLog.note(RefusalLog.Refusal(peer: peer, message: message, reason: reason, detail: detail), now: now.instant)
    }

    /// A requester in short form: its key, else its client id.
    static func requesterName(_ key: String?, client: String) -> String { key ?? "client \(client)" }

    /// The worker that runs (or ran) `ref`, in short form, as its STARTED named it.
    func workerName(_ ref: AttemptRef) -> String {
        guard let (study, number) = Self.parseJobID(ref.job),
              let worker = attempts[TrialKey(study: study, number: number)]?[Int(ref.attempt)]?.worker else { return "worker of \(ref)" }
        return "worker \(worker)"
    }
}
