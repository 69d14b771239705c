import CoreMetrics
import LoomModel
import LoomWire

/// The optimizer's metrics (Docs/deploy.md, "Metrics"), made through swift-metrics with the
/// factory the process exports (`LoomMetrics.PrometheusExport`).
///
/// **Source.** The machine stays free of clocks and counters: commits are timed around the calls
/// the service makes; each searcher's `suggest` is timed with the clock the service gives the
/// machine (`Settings.suggestClock`) and handed out as `OptimizerActions.suggestTimes`;
/// checkpoint bytes are counted in the disk writes and transfers the service carries out, and the
/// gauges are read from the machine's studies about once a second.
/// **Threading.** The optimizer's loop thread (the metric handles themselves are thread-safe).
final class OptimizerMetrics {
    static let refreshInterval: Duration = .seconds(1)

    private let factory: any MetricsFactory
    private let commitLatency: Timer
    private let commitFailures: Counter
    private let bytesIn: Counter
    private let bytesOut: Counter
    private var askLatency: [String: Timer] = [:]
    private var studyGauges: [StudyState: Gauge] = [:]
    private var trialGauges: [TrialState: Gauge] = [:]
    var nextRefresh: ContinuousClock.Instant = .now

    init(factory: any MetricsFactory) {
        self.factory = factory
        commitLatency = Timer(label: "hyperloom_optimizer_store_commit_latency_seconds", factory: factory)
        commitFailures = Counter(label: "hyperloom_optimizer_store_commit_failures_total", factory: factory)
        bytesIn = Counter(label: "hyperloom_optimizer_checkpoint_bytes_in_total", factory: factory)
        bytesOut = Counter(label: "hyperloom_optimizer_checkpoint_bytes_out_total", factory: factory)
        for state in StudyState.allCases {
            studyGauges[state] = Gauge(label: "hyperloom_optimizer_studies", dimensions: [("state", state.rawValue)], factory: factory)
        }
        for state in TrialState.allCases {
            trialGauges[state] = Gauge(label: "hyperloom_optimizer_trials", dimensions: [("state", state.rawValue)], factory: factory)
        }
    }

    func committed(in duration: Duration) { commitLatency.record(duration) }

    func commitFailed() { commitFailures.increment() }

    /// Each searcher's own `suggest` time, labelled with its kind (`random`, `tpe`, …).
    func suggested(_ times: [SuggestTime]) {
        for time in times {
            let timer = askLatency[time.searcher] ?? Timer(label: "hyperloom_optimizer_ask_latency_seconds",
                                                            dimensions: [("searcher", time.searcher)], factory: factory)
            askLatency[time.searcher] = timer
            timer.record(time.duration)
        }
    }

    /// Disk writes of checkpoint chunks received from workers.
    func received(_ disk: [DiskAction]) {
        for case .writeChunk(_, _, _, let bytes) in disk { bytesIn.increment(by: bytes.count) }
    }

    /// A checkpoint transfer sent to a worker.
    func sent(_ transfer: Transfer) {
        if transfer.kind == .chunk, !transfer.data.isEmpty { bytesOut.increment(by: transfer.data.count) }
    }

    /// Sets the study and trial gauges from the machine's studies.
    func refresh(_ machine: OptimizerMachine) {
        var studies: [StudyState: Int] = [:]
        var trials: [TrialState: Int] = [:]
        for study in machine.studyRecords {
            studies[study.state, default: 0] += 1
            for trial in machine.driver(study.id)?.trials ?? [] { trials[trial.state, default: 0] += 1 }
        }
        for (state, gauge) in studyGauges { gauge.record(studies[state] ?? 0) }
        for (state, gauge) in trialGauges { gauge.record(trials[state] ?? 0) }
    }
}

extension Timer {
    func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
