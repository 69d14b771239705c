import CoreMetrics
import LoomWire

/// A worker's metrics (Docs/deploy.md, "Metrics"), made through swift-metrics with the factory
/// the process exports (`LoomMetrics.PrometheusExport`): counted where the agent carries out what
/// its trials did, read from the runner for the gauges.
///
/// **Threading.** The agent's loop thread (the metric handles themselves are thread-safe).
final class WorkerMetrics {
    private let running: Gauge
    private let completed: Counter
    private let failed: Counter

    init(factory: any MetricsFactory, slots: Int) {
        running = Gauge(label: "hyperloom_worker_trials_running", factory: factory)
        completed = Counter(label: "hyperloom_worker_trial_exits_total", dimensions: [("outcome", "completed")], factory: factory)
        failed = Counter(label: "hyperloom_worker_trial_exits_total", dimensions: [("outcome", "failed")], factory: factory)
        Gauge(label: "hyperloom_worker_slots", factory: factory).record(slots)
        running.record(0)
    }

    /// An attempt ended with its terminal update `kind`.
    func trialExited(_ kind: UpdateKind) {
        (kind == .final ? completed : failed).increment()
    }

    /// Trials running now.
    func setRunning(_ count: Int) {
        running.record(count)
    }
}
