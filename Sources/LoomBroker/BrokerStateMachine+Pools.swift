import Foundation
import LoomWire

/// Worker pools: a worker carries labels (READY `labels`, `hyperloom worker --labels`), a job
/// may require some (its spec's `worker_labels`, from the study spec's `trial.worker_labels`),
/// and a job runs only on a worker that carries every label it requires. Labelling trusted
/// workers `trusted` and giving a study `worker_labels: [trusted]` keeps untrusted workers away
/// from it, and from its checkpoints (Docs/security.md).
extension BrokerStateMachine {
    /// The spec's `worker_labels` (at most `Wire.maxWorkerLabels` of at most
    /// `Wire.maxWorkerLabelBytes`); empty when absent or not a list of strings.
    static func workerLabels(in spec: Frame) -> Set<String> {
        struct Fields: Decodable {
            var workerLabels: [String]?
            enum CodingKeys: String, CodingKey { case workerLabels = "worker_labels" }
        }
        guard spec.count > 0, let labels = (try? JSONDecoder().decode(Fields.self, from: Data(spec)))?.workerLabels else { return [] }
        // A job asking for more (or longer) labels than any worker may carry could never run:
        // keep what could match, so `status` shows it as unsatisfiable rather than trapping here.
        return Set(labels.prefix(Wire.maxWorkerLabels + 1).map { String($0.utf8.prefix(Wire.maxWorkerLabelBytes + 1)) ?? $0 })
    }
}
