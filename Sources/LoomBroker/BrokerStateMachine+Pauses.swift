/// Time the broker itself did not run is not its peers' silence.
///
/// A broker that was stopped (SIGSTOP, a paused VM or container, a machine swapping) for longer
/// than a liveness window finds, on its first sweep after, every worker and client silent for
/// that long, while what they sent meanwhile waits unread in its socket: ZeroMQ's I/O thread was
/// stopped too, so after SIGCONT the loop's poll may time out before the queued messages are
/// read, and the sweep would declare the peers lost and their attempts stalled. A loss counts
/// against the job (`lostOn`, the quarantine after `quarantine_after` lost workers): seeds 2978
/// and 8381 of the simulation failed a job this way while a FINAL of an attempt that exited 0
/// waited in the broker's inbox (S3).
///
/// So a sweep that comes more than `BrokerConfig.pauseThreshold` after its due time moves every
/// peer's "last heard" on by the pause, and counts it as paused time for every running attempt's
/// stall timeout: peers get the same window after the pause as they had before it. A peer that
/// died during the pause is declared lost one liveness window after the broker runs again.
///
/// A worker may also have reconnected during the pause (it missed the broker's heartbeats): the
/// broker's next send to its old connection fails (ROUTER_MANDATORY) before its READY on the new
/// one is read (seed 8381), and it is lost as `unreachable`. Its attempts are requeued, or
/// reclaimed when the READY comes, but a worker lost before the broker heard from it again after
/// its pause is not counted against its jobs' quarantine: the broker's silence, not the trial,
/// may have cost the connection.
extension BrokerStateMachine {
    /// Called by `expire(now:)` before its sweep, while `lastSweep` is still the previous one.
    mutating func discountPause(until now: ContinuousClock.Instant) {
        guard let threshold = config.pauseThreshold else { return }
        let paused = lastSweep.duration(to: now) - config.sweepInterval
        guard paused > threshold else { return }
        counters.pauses += 1
        // Whatever was heard before this sweep was due was heard before the pause: a message
        // read after it is read in this turn, at `now`.
        let before = lastSweep + config.sweepInterval
        for id in workerOrder where workers[id]?.lastHeard ?? now < before {
            workers[id]!.lastHeard = min(workers[id]!.lastHeard + paused, now)
            workers[id]!.unheardSincePause = true
        }
        for id in clients.keys {
            guard let lastHeard = clients[id]?.lastHeard, lastHeard < before else { continue }
            clients[id]!.lastHeard = min(lastHeard + paused, now)
        }
        for id in leases.keys {
            guard let lease = leases[id], lease.status == .active, let since = lease.lastReportAt ?? lease.startedAt,
                  since < before else { continue }
            leases[id]!.pausedSinceReport += paused
        }
    }
}
