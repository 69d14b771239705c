/// What the broker's tables hold at one instant, for its metrics: read by the service from the
/// machine, never kept by it.
public struct BrokerGauges: Equatable, Sendable {
    /// Connected workers by state: `idle`, `busy`, `slow`, `silent` (each worker counted once;
    /// silent before slow before busy).
    public var workers: [String: Int] = [:]
    /// CPU slots (cores) and GPUs of the connected workers, in total and in use.
    public var cpuSlots: Double = 0
    public var cpuSlotsUsed: Double = 0
    public var gpus: Double = 0
    public var gpusUsed: Double = 0
    /// Jobs waiting for a worker: queued, and held during the recovery window.
    public var queueDepth = 0
    /// Jobs by state (the names of the status document).
    public var jobs: [String: Int] = [:]
    /// Leases by status (`active`, `cancelling`, `fenced`, `stalled`, `superseded`).
    public var leases: [String: Int] = [:]
    /// The last feed sequence number assigned.
    public var feedSeq: UInt64 = 0

    public init() {}

    /// Every worker state, so a state with no worker is reported as 0 rather than missing.
    public static let workerStates = ["idle", "busy", "slow", "silent"]
    /// Every job state.
    public static let jobStates = ["held", "queued", "assigned", "running", "orphaned", "finished", "failed", "awaiting_spec"]
    /// Every lease status.
    public static let leaseStatuses = ["active", "cancelling", "fenced", "stalled", "superseded"]
}

extension BrokerStateMachine {
    /// Dispatch waits kept for the service at most; older ones are dropped when it does not take
    /// them (a machine without metrics, as in the simulation).
    static let dispatchWaitCapacity = 4_096

    /// The tables' sizes at `now` (O(workers + jobs + leases): the service reads it about once a
    /// second, not per message).
    public func gauges(now: ContinuousClock.Instant) -> BrokerGauges {
        var gauges = BrokerGauges()
        for state in BrokerGauges.workerStates { gauges.workers[state] = 0 }
        for state in BrokerGauges.jobStates { gauges.jobs[state] = 0 }
        for status in BrokerGauges.leaseStatuses { gauges.leases[status] = 0 }
        for worker in workers.values {
            let state = if now >= worker.lastHeard + worker.heartbeat { "silent" }
                else if worker.slow { "slow" } else if worker.leases.isEmpty { "idle" } else { "busy" }
            gauges.workers[state, default: 0] += 1
            gauges.cpuSlots += Double(worker.cpuCapacity) / 1000
            gauges.cpuSlotsUsed += Double(worker.cpuUsed) / 1000
            gauges.gpus += Double(worker.gpuCapacity) / 1000
            gauges.gpusUsed += Double(worker.gpuUsed) / 1000
        }
        for job in jobs.values {
            let state = Self.stateName(job.state)
            gauges.jobs[state, default: 0] += 1
            if job.state == .queued || job.state == .held { gauges.queueDepth += 1 }
        }
        for lease in leases.values { gauges.leases[Self.statusName(lease.status), default: 0] += 1 }
        gauges.feedSeq = feedSeq
        return gauges
    }

    /// The dispatch waits recorded since the last call, oldest first.
    public mutating func takeDispatchWaits() -> [Duration] {
        defer { dispatchWaits.removeAll(keepingCapacity: true) }
        return dispatchWaits
    }

    /// Puts `id` at the end of the queue, noting when it entered it.
    mutating func enqueue(_ id: String, now: ContinuousClock.Instant) {
        jobs[id]?.queuedAt = now
        queue.append(id)
    }

    mutating func recordDispatchWait(_ wait: Duration) {
        if dispatchWaits.count >= Self.dispatchWaitCapacity { dispatchWaits.removeFirst(dispatchWaits.count / 2) }
        dispatchWaits.append(wait)
    }

    static func statusName(_ status: Lease.Status) -> String {
        switch status {
        case .active: "active"
        case .cancelling: "cancelling"
        case .fenced: "fenced"
        case .stalled: "stalled"
        case .superseded: "superseded"
        }
    }
}
