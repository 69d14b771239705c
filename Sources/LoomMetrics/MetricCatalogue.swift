/// Every metric the Hyperloom services export, with its Prometheus type and help text: the one
/// list that `/metrics`, Docs/deploy.md and the Grafana dashboard (`Docker/grafana/`) agree on.
///
/// **Names.** Prometheus style: `hyperloom_<service>_<what>_<unit>`; counters end in `_total`,
/// durations are histograms in seconds, sizes are in bytes.
/// **Ownership.** The services name metrics through swift-metrics labels; `PrometheusExport`
/// looks each label up here for its help text and buckets.
public enum MetricCatalogue {
    /// The Prometheus type of a metric.
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// One metric: its name, type, labels and help text.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var kind: Kind
        /// Label names it carries (documentation; the values come from the services).
        public var labels: [String]
        public var help: String
        /// Bucket upper bounds for histograms, in the metric's unit.
        public var buckets: [Double]

        init(_ name: String, _ kind: Kind, labels: [String] = [], buckets: [Double] = [], _ help: String) {
            self.name = name
            self.kind = kind
            self.labels = labels
            self.help = help
            self.buckets = buckets
        }
    }

    /// Latency buckets from 100 µs to 10 s: dispatch and commits are usually sub-millisecond on a
    /// quiet fabric, and anything past seconds is an incident.
    static let latencyBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// The broker's metrics (`hyperloom broker --metrics-port`).
    public static let broker: [Entry] = [
        Entry("hyperloom_broker_workers", .gauge, labels: ["state"],
              "Connected workers by state: idle (no attempt), busy, slow (late heartbeats: no new jobs), silent (missed its last heartbeat)."),
        Entry("hyperloom_broker_slots", .gauge, labels: ["resource", "state"],
              "Capacity of the connected workers in CPU slots and GPUs, free or used."),
        Entry("hyperloom_broker_queue_depth", .gauge, "Jobs waiting for a worker (queued, and re-synced jobs held during the recovery window)."),
        Entry("hyperloom_broker_jobs", .gauge, labels: ["state"], "Jobs the broker holds, by state."),
        Entry("hyperloom_broker_leases", .gauge, labels: ["status"], "Leases (attempts given to workers whose terminal update has not arrived), by status."),
        Entry("hyperloom_broker_jobs_assigned_total", .counter, "Attempts started (ASSIGN sent)."),
        Entry("hyperloom_broker_jobs_finished_total", .counter, "Jobs finished with a final result."),
        Entry("hyperloom_broker_jobs_failed_total", .counter, "Jobs failed (by the trial, or by the broker when attempts ran out)."),
        Entry("hyperloom_broker_jobs_requeued_total", .counter, "Attempts requeued because their worker was lost or left."),
        Entry("hyperloom_broker_attempts_stalled_total", .counter, "Attempts cancelled because they reported nothing within their stall timeout."),
        Entry("hyperloom_broker_dispatch_latency_seconds", .histogram, buckets: latencyBuckets,
              "Time a job waited in the queue before an attempt was assigned."),
        Entry("hyperloom_broker_workers_lost_total", .counter, "Workers declared dead after missing `liveness` heartbeats (or unreachable)."),
        Entry("hyperloom_broker_workers_marked_slow_total", .counter, "Times a worker was marked slow because its heartbeats arrived late."),
        Entry("hyperloom_broker_heartbeats_missed_total", .counter,
              "Heartbeat intervals that passed without a message from a registered worker (each counted once; a worker declared dead missed `liveness` of them)."),
        Entry("hyperloom_broker_messages_received_total", .counter, "Messages received on the broker's public port."),
        Entry("hyperloom_broker_messages_rejected_total", .counter, labels: ["reason"], "Messages the decoder rejected, by category."),
        Entry("hyperloom_broker_messages_refused_total", .counter, labels: ["reason"],
              "Messages refused: the sender's key lacks the role or was revoked, or the broker's tables are full."),
        Entry("hyperloom_broker_feed_seq", .gauge, "Sequence number of the last feed event journaled."),
        Entry("hyperloom_broker_feed_dropped_total", .counter, "Feed events the PUB socket refused at its high-water mark (subscribers replay them)."),
        Entry("hyperloom_broker_feed_journal_bytes", .gauge, "Size of the feed journal on disk."),
        Entry("hyperloom_broker_feed_journal_segments", .gauge, "Files (segments) the feed journal is kept in."),
        Entry("hyperloom_broker_feed_replays_total", .counter, "Feed replay requests answered."),
    ]

    /// The optimizer's metrics (`hyperloom optimizer --metrics-port`).
    public static let optimizer: [Entry] = [
        Entry("hyperloom_optimizer_studies", .gauge, labels: ["state"], "Studies by state."),
        Entry("hyperloom_optimizer_trials", .gauge, labels: ["state"], "Trials of the running studies by state (a finished study's trials are in the store only)."),
        Entry("hyperloom_optimizer_store_commit_latency_seconds", .histogram, buckets: latencyBuckets,
              "Time one loop turn's store writes took to commit (one transaction per turn)."),
        Entry("hyperloom_optimizer_store_commit_failures_total", .counter, "Turns whose commit failed (the studies were rebuilt from the store)."),
        Entry("hyperloom_optimizer_ask_latency_seconds", .histogram, labels: ["searcher"], buckets: latencyBuckets,
              "Time a searcher took to suggest one configuration (its own suggest call), by searcher kind."),
        Entry("hyperloom_optimizer_checkpoint_bytes_in_total", .counter, "Checkpoint bytes received from workers and written to the blob store."),
        Entry("hyperloom_optimizer_checkpoint_bytes_out_total", .counter, "Checkpoint bytes sent to workers restoring a trial."),
    ]

    /// A worker's metrics (`hyperloom worker --metrics-port`).
    public static let worker: [Entry] = [
        Entry("hyperloom_worker_trials_running", .gauge, "Trial attempts running on this worker."),
        Entry("hyperloom_worker_slots", .gauge, "Job slots this worker offers."),
        Entry("hyperloom_worker_trial_exits_total", .counter, labels: ["outcome"],
              "Trial attempts that ended, by outcome: completed (final result) or failed (error, signal, cancel, timeout)."),
    ]

    /// Every metric of every service.
    public static let all: [Entry] = broker + optimizer + worker

    /// The entry named `name`.
    public static func entry(named name: String) -> Entry? {
        index[name]
    }

    private static let index: [String: Entry] = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
}
