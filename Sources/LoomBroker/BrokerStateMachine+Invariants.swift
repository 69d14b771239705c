import LoomWire

/// The invariants of the broker's tables, checked by the fuzzer after every message and usable
/// from tests. Each line names one; the first broken one is returned.
extension BrokerStateMachine {
    /// A description of the first broken invariant; nil when the tables are consistent.
    public func brokenInvariant() -> String? {
        if workers.count > config.maxWorkers { return "\(workers.count) workers exceed max_workers \(config.maxWorkers)" }
        if clients.count > config.maxClients + departed.count { return "\(clients.count) clients exceed max_clients \(config.maxClients)" }
        if Set(workerOrder).count != workerOrder.count { return "workerOrder lists a worker twice" }
        if Set(workerOrder) != Set(workers.keys) { return "workerOrder and workers disagree" }
        for (id, worker) in workers {
            if worker.id != id { return "worker \(id) is filed under another id" }
            if peers[worker.identity] != .worker(id) { return "worker \(id)'s connection does not map back to it" }
            var cpu: UInt64 = 0, gpu: UInt64 = 0
            for leaseID in worker.leases {
                guard let lease = leases[leaseID], lease.worker == id else { return "worker \(id) holds lease \(leaseID) that is not its own" }
                cpu += lease.cpu
                gpu += lease.gpu
            }
            if cpu != worker.cpuUsed || gpu != worker.gpuUsed {
                return "worker \(id) uses cpu \(worker.cpuUsed), gpu \(worker.gpuUsed); its leases add up to \(cpu), \(gpu)"
            }
        }
        for (leaseID, lease) in leases where workers[lease.worker]?.leases.contains(leaseID) != true {
            return "lease \(leaseID) of \(lease.job) is held by no registered worker (\(lease.worker))"
        }
        for (identity, peer) in peers {
            switch peer {
            case .worker(let id): if workers[id]?.identity != identity { return "a connection maps to worker \(id), which has another" }
            case .client(let id): if clients[id] == nil { return "a connection maps to unknown client \(id)" }
            }
        }
        for (id, job) in jobs {
            if case .running = job.state, job.lease.flatMap({ leases[$0] })?.job != id { return "running job \(id) has no lease of its own" }
        }
        return nil
    }
}
