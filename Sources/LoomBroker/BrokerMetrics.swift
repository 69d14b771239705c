import CoreMetrics

/// The broker's metrics (Docs/deploy.md, "Metrics"), made through swift-metrics with the factory
/// the process exports (`LoomMetrics.PrometheusExport`).
///
/// **Source.** Nothing here is counted by the state machine for metrics' sake: gauges are read
/// from `BrokerStateMachine.gauges(now:)`, counters follow the machine's own `BrokerCounters` (the
/// difference since the last refresh is added), and dispatch waits are the ones the machine
/// recorded at each assignment.
/// **Threading.** The broker's loop thread only (the metric handles themselves are thread-safe).
final class BrokerMetrics {
    static let refreshInterval: Duration = .seconds(1)

    private let factory: any MetricsFactory
    private var gauges: [String: Gauge] = [:]
    private var counters: [String: Counter] = [:]
    private var previous: [String: Int] = [:]
    private let dispatchLatency: Timer
    var nextRefresh: ContinuousClock.Instant = .now

    init(factory: any MetricsFactory) {
        self.factory = factory
        dispatchLatency = Timer(label: "hyperloom_broker_dispatch_latency_seconds", factory: factory)
    }

    /// Records each wait in the dispatch latency histogram.
    func recordDispatchWaits(_ waits: [Duration]) {
        for wait in waits {
            let (seconds, attoseconds) = wait.components
            dispatchLatency.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
    }

    /// Sets the gauges and advances the counters from a snapshot of the machine and the feed.
    func refresh(_ snapshot: BrokerGauges, counters machine: BrokerCounters, feed: FeedStatistics) {
        for (state, count) in snapshot.workers { gauge("hyperloom_broker_workers", ("state", state)).record(count) }
        gauge("hyperloom_broker_slots", ("resource", "cpu"), ("state", "used")).record(snapshot.cpuSlotsUsed)
        gauge("hyperloom_broker_slots", ("resource", "cpu"), ("state", "free")).record(snapshot.cpuSlots - snapshot.cpuSlotsUsed)
        gauge("hyperloom_broker_slots", ("resource", "gpu"), ("state", "used")).record(snapshot.gpusUsed)
        gauge("hyperloom_broker_slots", ("resource", "gpu"), ("state", "free")).record(snapshot.gpus - snapshot.gpusUsed)
        gauge("hyperloom_broker_queue_depth").record(snapshot.queueDepth)
        for (state, count) in snapshot.jobs { gauge("hyperloom_broker_jobs", ("state", state)).record(count) }
        for (status, count) in snapshot.leases { gauge("hyperloom_broker_leases", ("status", status)).record(count) }
        gauge("hyperloom_broker_feed_seq").record(Int64(clamping: snapshot.feedSeq))
        gauge("hyperloom_broker_feed_journal_bytes").record(feed.journalBytes)
        gauge("hyperloom_broker_feed_journal_segments").record(feed.journalSegments)

        advance("hyperloom_broker_jobs_assigned_total", to: machine.assigned)
        advance("hyperloom_broker_jobs_finished_total", to: machine.finished)
        advance("hyperloom_broker_jobs_failed_total", to: machine.failed)
        advance("hyperloom_broker_jobs_requeued_total", to: machine.requeued)
        advance("hyperloom_broker_attempts_stalled_total", to: machine.stalled)
        advance("hyperloom_broker_workers_lost_total", to: machine.workersLost)
        advance("hyperloom_broker_workers_marked_slow_total", to: machine.slowWorkers)
        advance("hyperloom_broker_heartbeats_missed_total", to: machine.heartbeatsMissed)
        advance("hyperloom_broker_messages_received_total", to: machine.received)
        for (reason, count) in machine.rejected { advance("hyperloom_broker_messages_rejected_total", ("reason", reason), to: count) }
        for (reason, count) in machine.refused { advance("hyperloom_broker_messages_refused_total", ("reason", reason), to: count) }
        advance("hyperloom_broker_feed_dropped_total", to: feed.dropped)
        advance("hyperloom_broker_feed_replays_total", to: feed.replaysServed)
    }

    private func gauge(_ label: String, _ dimensions: (String, String)...) -> Gauge {
        let key = Self.key(label, dimensions)
        if let gauge = gauges[key] { return gauge }
        let gauge = Gauge(label: label, dimensions: dimensions, factory: factory)
        gauges[key] = gauge
        return gauge
    }

    /// Adds to the counter what `total` grew by since the last refresh.
    private func advance(_ label: String, _ dimensions: (String, String)..., to total: Int) {
        let key = Self.key(label, dimensions)
        let counter = counters[key] ?? Counter(label: label, dimensions: dimensions, factory: factory)
        counters[key] = counter
        let grown = total - (previous[key] ?? 0)
        if grown > 0 { counter.increment(by: grown) }
        previous[key] = total
    }

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        dimensions.reduce(label) { $0 + "|" + $1.0 + "=" + $1.1 }
    }
}

/// The feed's figures for the broker's metrics.
struct FeedStatistics {
    var journalBytes: Int64
    var journalSegments: Int
    var dropped: Int
    var replaysServed: Int
}
