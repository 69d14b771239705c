/// When a cached answer that costs real CPU to compute (a study's charts, a study view of 10,000
/// trials) may be computed again while its study keeps changing: no sooner than `minimum` after
/// the last computation, and no sooner than the last computation's cost divided by `share`. So
/// however large the study, recomputing one answer for pages that keep asking takes at most
/// `share` of a core, and a cheap answer stays as fresh as `minimum` allows. Pure: instants and
/// costs come from the caller.
public struct RefreshBudget: Sendable, Equatable {
    /// The shortest time between two computations.
    public var minimum: Duration
    /// The share of one core that recomputing may take (0.02: 2%).
    public var share: Double

    public init(minimum: Duration, share: Double) {
        precondition(share > 0 && share <= 1, "share must be in (0, 1]")
        self.minimum = minimum
        self.share = share
    }

    /// How long an answer that took `cost` to compute is served before it is computed again.
    public func interval(cost: Duration) -> Duration {
        max(minimum, cost * (1 / share))
    }

    /// Whether an answer computed at `computedAt`, which took `cost`, is due again at `now`
    /// (its study changed since: an unchanged study's answer is never recomputed).
    public func isDue(computedAt: ContinuousClock.Instant, cost: Duration, now: ContinuousClock.Instant) -> Bool {
        computedAt.duration(to: now) >= interval(cost: cost)
    }
}
