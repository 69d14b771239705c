import Foundation
import LoomWire

/// FETCH and CHUNK: checkpoint transfers between a worker and its job's owner, relayed as they
/// are. The broker keeps no transfer state: the receiving end asks for each chunk and retries what
/// goes missing, so a message that cannot be routed is simply dropped (and counted). A worker's
/// FETCH about a job whose owner does not provide the `checkpoints` service is answered here.
extension BrokerStateMachine {
    /// From a worker: forwarded to the owner of the job, when the sender runs (or ran) `lease`
    /// for that job and the owner is connected.
    mutating func relay(_ transfer: Transfer, fromWorker worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let job = jobs[transfer.job], let owner = job.owner,
              (job.lease == transfer.lease && job.worker == worker) || leases[transfer.lease]?.worker == worker else {
            counters.unroutedTransfers += 1
            return []
        }
        if transfer.kind == .fetch, !(services[ServiceName.checkpoints] ?? []).contains(owner) {
            let body = try? JSONDecoder().decode(FetchBody.self, from: Data(transfer.body))
            let header = body?.op == FetchBody.latest
                ? ChunkHeader(none: true) : ChunkHeader(error: "the owner of \(transfer.job) keeps no checkpoints")
            return [send(toWorker: worker, BrokerToWorker.transfer(transfer.answer(header)).frames, now: now)]
        }
        let actions = sendIfConnected(toClient: owner, BrokerToClient.transfer(transfer).frames, now: now)
        if actions.isEmpty { counters.unroutedTransfers += 1 }
        return actions
    }

    /// From a client: forwarded to the worker that holds the lease, when the client owns the job.
    mutating func relay(_ transfer: Transfer, fromClient client: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let job = jobs[transfer.job], job.owner == client else {
            counters.unroutedTransfers += 1
            return []
        }
        let holder = job.lease == transfer.lease ? job.worker : leases[transfer.lease].flatMap { $0.job == transfer.job ? $0.worker : nil }
        guard let holder, workers[holder] != nil else {
            counters.unroutedTransfers += 1
            return []
        }
        return [send(toWorker: holder, BrokerToWorker.transfer(transfer).frames, now: now)]
    }
}
