import LoomWire

/// One figure of a benchmark: printed as a JSON line (`{"bench": NAME, ...}`) after the human
/// summary, so scripts can collect figures without parsing prose.
public struct BenchFigure {
    private var writer = JSONObjectWriter()

    public init(bench: String) {
        writer.add("bench", bench)
    }

    public mutating func add(_ key: String, _ value: Double, digits: Int = 3) {
        guard value.isFinite else { return writer.add(key, value) }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        writer.add(key, (value * scale).rounded() / scale)
    }

    public mutating func add(_ key: String, _ value: Int) { writer.add(key, value) }

    public mutating func add(_ key: String, _ value: String) { writer.add(key, value) }

    public mutating func add(_ key: String, _ value: Bool) { writer.add(key, value) }

    /// The summary's percentiles as `<prefix>_p50`, `_p99`, `_max` (in milliseconds when the
    /// sample is in seconds and `milliseconds` is set).
    public mutating func add(_ prefix: String, _ summary: Summary, milliseconds: Bool) {
        let k = milliseconds ? 1000.0 : 1
        add("\(prefix)_p50", summary.p50 * k)
        add("\(prefix)_p99", summary.p99 * k)
        add("\(prefix)_max", summary.max * k)
    }

    public consuming func line() -> String { String(decoding: writer.finish(), as: UTF8.self) }
}
