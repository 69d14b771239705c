import CoreMetrics
import Prometheus

/// The swift-metrics factory of a process that exports Prometheus metrics: each metric a service
/// makes through swift-metrics lands in `registry`, with the help text and buckets of its
/// `MetricCatalogue` entry.
///
/// **Why not `PrometheusMetricsFactory` alone.** It registers every metric without help text,
/// which `promtool check metrics` reports; the catalogue supplies it.
/// **Threading.** The registry is thread-safe: services update metrics on their loop threads
/// while `/metrics` renders them on the HTTP server's tasks.
public struct PrometheusExport: Sendable {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// The exposition text of every metric registered so far (Prometheus text format 0.0.4).
    public func render() -> [UInt8] {
        registry.emitToBuffer()
    }

    static func descriptor(_ label: String) -> MetricNameDescriptor {
        let help = MetricCatalogue.entry(named: label)?.help ?? "Hyperloom metric \(label) (not in MetricCatalogue)."
        return MetricNameDescriptor(metricName: label, unitName: "", helpText: help)
    }
}

extension PrometheusExport: CoreMetrics.MetricsFactory {
    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions) }
        let buckets = MetricCatalogue.entry(named: label)?.buckets ?? MetricCatalogue.latencyBuckets
        return registry.makeValueHistogram(descriptor: Self.descriptor(label), labels: dimensions, buckets: buckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let seconds = MetricCatalogue.entry(named: label)?.buckets ?? MetricCatalogue.latencyBuckets
        let buckets = seconds.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        return registry.makeDurationHistogram(descriptor: Self.descriptor(label), labels: dimensions, buckets: buckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
