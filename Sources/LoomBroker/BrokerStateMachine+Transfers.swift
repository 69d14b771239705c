import Foundation
import LoomWire

/// FETCH and CHUNK: checkpoint transfers between a worker and its job's owner, relayed as they
/// are. The broker keeps no transfer state: the receiving end asks for each chunk and retries what
/// goes missing, so a message that cannot be routed is simply dropped (and counted). A worker's
/// FETCH about a job whose owner does not provide the `checkpoints` service is answered here.
extension BrokerStateMachine {
    /// From a worker: forwarded to the owner of the job, when the sender runs (or ran) `lease`
    /// for that job and the owner is connected. A FETCH must also be for what the lease may read
    /// (`fetchRefusal`): otherwise it is answered here with an error and never reaches the owner.
    mutating func relay(_ transfer: Transfer, fromWorker worker: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        let lease = leases[transfer.lease]
        guard let job = jobs[transfer.job], let owner = job.owner,
              (job.lease == transfer.lease && job.worker == worker) || (lease?.worker == worker && lease?.job == transfer.job) else {
            counters.unroutedTransfers += 1
            return []
        }
        if transfer.kind == .fetch, let refusal = fetchRefusal(transfer, job: job) {
            refuse("fetch", from: workers[worker]?.identity, message: "FETCH", detail: refusal, now: now)
            return [send(toWorker: worker, BrokerToWorker.transfer(transfer.answer(ChunkHeader(error: refusal))).frames, now: now)]
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
        if transfer.kind == .chunk { noteFetchable(transfer) }
        return [send(toWorker: holder, BrokerToWorker.transfer(transfer).frames, now: now)]
    }

    /// Most blobs one lease may be allowed to fetch (a manifest's files are bounded too).
    static let maxFetchableBlobs = CheckpointManifest.maxFiles

    /// Why a worker's FETCH is refused, or nil when its lease may read that: `latest` of its own
    /// job or of the job's declared `restore_from`; `blob` only of a blob named by a manifest the
    /// owner sent this lease. So a worker key reads the checkpoints of the jobs it runs, never
    /// another study's (issue 16).
    func fetchRefusal(_ transfer: Transfer, job: JobRecord) -> String? {
        guard let body = try? JSONDecoder().decode(FetchBody.self, from: Data(transfer.body)) else {
            return "FETCH body is not {\"op\": …}"
        }
        switch body.op {
        case FetchBody.latest:
            guard let source = body.job, source != transfer.job else { return nil }
            let declared = (try? JobSpec.decode(job.payload))?.restoreFrom
            return source == declared ? nil
                : "FETCH latest of \(source) refused: \(transfer.job) may restore only its own checkpoints or its declared restore_from"
        case FetchBody.blob:
            guard let sha = body.sha256, leases[transfer.lease]?.fetchable.contains(sha) == true else {
                return "FETCH blob \(body.sha256 ?? "?") refused: it is not in a checkpoint sent to this attempt"
            }
            return nil
        default:
            return nil
        }
    }

    /// A CHUNK from the owner to a worker: when it carries a checkpoint manifest, the lease may
    /// fetch that manifest's blobs.
    mutating func noteFetchable(_ transfer: Transfer) {
        guard leases[transfer.lease] != nil,
              let header = try? JSONDecoder().decode(ChunkHeader.self, from: Data(transfer.body)),
              let manifest = header.checkpoint else { return }
        for file in manifest.files where (leases[transfer.lease]?.fetchable.count ?? .max) < Self.maxFetchableBlobs {
            leases[transfer.lease]?.fetchable.insert(file.sha256)
        }
    }
}
