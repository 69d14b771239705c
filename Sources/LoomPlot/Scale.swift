import Foundation

/// Maps data values onto pixels along one axis, linearly or logarithmically, and picks its ticks.
///
/// **Invariants.** `low < high` (a degenerate domain is widened on creation); a log scale has
/// `low > 0`. Ticks lie within `[low, high]`.
public struct Scale: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case linear, log }

    public private(set) var kind: Kind
    public private(set) var low: Double
    public private(set) var high: Double

    /// A scale covering `values` (non-finite values ignored). Linear scales are extended to nice
    /// tick values (and to 0 when `includeZero`); log scales to whole decades when they span
    /// several, otherwise padded by 5 %.
    public init(covering values: [Double], kind: Kind, includeZero: Bool = false) {
        let usable = values.filter { $0.isFinite && (kind == .linear || $0 > 0) }
        var lo = usable.min() ?? (kind == .log ? 1 : 0)
        var hi = usable.max() ?? (kind == .log ? 10 : 1)
        self.kind = kind
        switch kind {
        case .linear:
            if includeZero { lo = Swift.min(lo, 0); hi = Swift.max(hi, 0) }
            if lo == hi { lo -= Swift.max(abs(lo) * 0.1, 0.5); hi += Swift.max(abs(hi) * 0.1, 0.5) }
            let step = Self.niceStep((hi - lo) / 5)
            low = Self.clean((lo / step + 1e-9).rounded(.down) * step)
            high = Self.clean((hi / step - 1e-9).rounded(.up) * step)
        case .log:
            if lo == hi { lo /= 2; hi *= 2 }
            let decades = log10(hi) - log10(lo)
            if decades >= 2 {
                low = pow(10, log10(lo).rounded(.down))
                high = pow(10, log10(hi).rounded(.up))
            } else {
                low = lo / pow(hi / lo, 0.05)
                high = hi * pow(hi / lo, 0.05)
            }
        }
    }

    /// A scale with exactly these bounds.
    public init(kind: Kind, low: Double, high: Double) {
        precondition(low < high && (kind == .linear || low > 0), "scale bounds \(low)…\(high)")
        self.kind = kind
        self.low = low
        self.high = high
    }

    /// The position of `value` in `[0, 1]` (outside for values beyond the domain).
    public func fraction(_ value: Double) -> Double {
        switch kind {
        case .linear: (value - low) / (high - low)
        case .log: (log10(value) - log10(low)) / (log10(high) - log10(low))
        }
    }

    /// Ticks at "nice" values: multiples of 1, 2 or 5 × 10ⁿ (linear), or decades — with 2 and 5
    /// between them when the scale spans fewer than three decades, and 3 too below one and a half (log).
    public func ticks(target: Int = 6) -> [Double] {
        switch kind {
        case .linear:
            let step = Self.niceStep((high - low) / Double(Swift.max(target - 1, 1)))
            // The tolerance keeps a bound that is a multiple of the step (0.3 / 0.1 = 2.9999…).
            let first = (low / step - 1e-9).rounded(.up)
            let last = (high / step + 1e-9).rounded(.down)
            guard first <= last else { return [low, high] }
            return stride(from: first, through: last, by: 1).map { Self.clean($0 * step) }
        case .log:
            let from = Int(log10(low).rounded(.down)), to = Int(log10(high).rounded(.up))
            let decades = log10(high) - log10(low)
            let stepDecades = Swift.max(1, Int((Double(to - from) / Double(target)).rounded(.up)))
            let multipliers: [Double] = decades < 1.5 ? [1, 2, 3, 5] : decades < 3 ? [1, 2, 5] : [1]
            var ticks: [Double] = []
            for exponent in stride(from: from, through: to, by: stepDecades) {
                for m in multipliers {
                    let t = Self.clean(m * pow(10, Double(exponent)))
                    if t >= low * (1 - 1e-9) && t <= high * (1 + 1e-9) { ticks.append(t) }
                }
            }
            if ticks.count < 2 {
                return Scale(kind: .linear, low: low, high: high).ticks(target: 4)
            }
            return ticks
        }
    }

    /// Whether values this far apart are better read on a log axis: all positive and the largest
    /// at least 100 times the smallest (two decades).
    public static func spansDecades(_ values: [Double]) -> Bool {
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max(), lo > 0 else { return false }
        return hi / lo >= 100
    }

    /// 1, 2 or 5 × 10ⁿ, the smallest not below `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, log10(raw).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * magnitude >= raw * (1 - 1e-9) { return m * magnitude }
        return 10 * magnitude
    }

    /// Removes binary noise (0.30000000000000004 → 0.3).
    static func clean(_ value: Double) -> Double {
        guard value != 0, value.isFinite else { return value }
        let digits = 12 - Int(log10(abs(value)).rounded(.down))
        let factor = pow(10, Double(Swift.min(Swift.max(digits, 0), 300)))
        return (value * factor).rounded() / factor
    }
}

/// Numbers as axis labels and annotations: short, no binary noise, exponents for extremes.
public enum NumberText {
    /// `0.001`, `0.25`, `12`, `1.5k`, `2e-5`, `3e+06`.
    public static func tick(_ value: Double) -> String {
        if value == 0 { return "0" }
        let a = abs(value)
        if a >= 1e5 || a < 1e-3 { return compactExponent(value) }
        if a >= 1000, (value / 1000).rounded() * 1000 == value { return format(value / 1000) + "k" }
        return format(value)
    }

    /// Four significant digits: `0.1995`, `12.35`, `1.2e-05`.
    public static func value(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        let a = abs(value)
        if a != 0 && (a >= 1e6 || a < 1e-4) { return String(format: "%.3g", value) }
        return format(Double(String(format: "%.4g", value)) ?? value)
    }

    /// A duration in seconds as `45 s`, `12 min`, `3.5 h`.
    public static func duration(_ seconds: Double) -> String {
        if seconds < 120 { return "\(format(seconds)) s" }
        if seconds < 7200 { return "\(format((seconds / 60 * 10).rounded() / 10)) min" }
        return "\(format((seconds / 3600 * 10).rounded() / 10)) h"
    }

    static func format(_ value: Double) -> String {
        let cleaned = Scale.clean(value)
        if cleaned.rounded() == cleaned && abs(cleaned) < 1e15 { return String(Int64(cleaned)) }
        var text = String(format: "%.6f", cleaned)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func compactExponent(_ value: Double) -> String {
        let exponent = Int(log10(abs(value)).rounded(.down))
        let mantissa = Scale.clean(value / pow(10, Double(exponent)))
        let head = mantissa == 1 ? "1" : mantissa == -1 ? "-1" : format(mantissa)
        return "\(head)e\(exponent)"
    }
}
