import LoomWire

extension WorkerStateMachine {
    /// Stops taking jobs and stops every running trial; the worker says DISCONNECT and asks to
    /// exit once nothing is held (every process exited, every update acknowledged) or
    /// `drainTimeout` has passed. Idempotent.
    ///
    /// When the broker is unreachable the link keeps reconnecting during the drain, so results
    /// made before the stop still reach a broker that comes back in time.
    public mutating func shutdown(now: ContinuousClock.Instant) -> [WorkerAction] {
        guard lifecycle == .serving else { return [] }
        lifecycle = .draining(deadline: now + config.drainTimeout)
        var actions: [WorkerAction] = []
        for ref in heldAttempts {
            guard var attempt = attempts[ref.lease], attempt.phase != .exited else { continue }
            // An attempt already being stopped (a CANCEL) keeps its reason: its FAILED tells the
            // broker the cancel completed.
            guard attempt.stopReason == nil else { continue }
            attempt.stopReason = StopReason.shutdown
            attempts[ref.lease] = attempt
            actions.append(.stopTrial(lease: ref.lease, reason: StopReason.shutdown))
        }
        return actions + finishIfDrained(now: now)
    }

    /// While draining: DISCONNECT and `.exit` once nothing is held or the drain bound passed.
    mutating func finishIfDrained(now: ContinuousClock.Instant) -> [WorkerAction] {
        guard case .draining(let deadline) = lifecycle, attempts.isEmpty || now >= deadline else { return [] }
        lifecycle = .exited
        return send(WorkerMessage.disconnect.frames, now: now) + [.exit]
    }
}
