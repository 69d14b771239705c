extension Duration {
    /// This duration counted in units of `1 / perSecond` seconds (1000: milliseconds, 1:
    /// seconds), rounded toward +infinity, so a positive duration never becomes 0 (which
    /// libzmq would read as "at once" or "disabled", and which makes a poll loop spin).
    /// Nil when the count does not fit in `Int64`.
    func roundedUpCount(perSecond: Int64) -> Int64? {
        let (seconds, attoseconds) = components
        let attosecondsPerUnit = 1_000_000_000_000_000_000 / perSecond
        // Truncating division rounds negatives up already; round a positive remainder up too.
        let fraction = attoseconds / attosecondsPerUnit + (attoseconds % attosecondsPerUnit > 0 ? 1 : 0)
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: perSecond)
        guard !overflow else { return nil }
        let (count, carry) = whole.addingReportingOverflow(fraction)
        return carry ? nil : count
    }
}
