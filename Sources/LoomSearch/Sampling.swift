import Foundation
import LoomModel
import LoomWire

/// Maps a point of the unit hypercube to a config: coordinate `i` decides parameter `i` of
/// `space.parameters`.
///
/// Parameters are walked in order and an inactive one (`SearchSpace.isActive`) is left out, so
/// its coordinate goes unused, as does a constant's. Random and quasi-random search share this
/// mapping; they differ only in where the points come from.
///
/// - Precondition: `u` has at least one coordinate per parameter.
public func config(from u: [Double], in space: SearchSpace) -> Config {
    config(from: u, in: space, fixed: [:])
}

/// As `config(from:in:)`, but parameters named in `fixed` take that value when active (the grid
/// searcher fixes its grid parameters this way).
func config(from u: [Double], in space: SearchSpace, fixed: Config) -> Config {
    precondition(u.count >= space.parameters.count, "one coordinate per parameter is needed")
    var config: Config = [:]
    for (i, parameter) in space.parameters.enumerated() where space.isActive(parameter, in: config) {
        config[parameter.name] = fixed[parameter.name] ?? parameter.domain.value(at: u[i])
    }
    return config
}

extension Domain {
    /// The value at unit coordinate `u` ∈ [0, 1): the inverse of the domain's distribution
    /// function, so a uniform `u` gives the domain's distribution.
    ///
    /// The rules, exactly (`u` outside [0, 1) or NaN is first clamped into it):
    /// - `uniform`: `low + u·(high − low)`; `logUniform`: `exp(ln low + u·(ln high − ln low))`;
    ///   both clamped into `[low, high]`.
    /// - `normal`: `mean + sd·Φ⁻¹(u + 2⁻⁵⁴)` (`standardNormalQuantile` at the middle of `u`'s
    ///   cell of width 2⁻⁵³), evaluated as `−Φ⁻¹(1 − u − 2⁻⁵⁴)` from 1/2 up so that it is
    ///   symmetric and finite: |z| ≤ 8.3.
    /// - a float `q`: the sample is rounded to the nearest multiple, `(x / q).rounded() * q`
    ///   (ties away from zero), then held to the multiples of `q` inside `[low, high]` and finally
    ///   clamped into `[low, high]` to undo floating-point overshoot. As in Ray Tune, rounding may
    ///   hit `high` (and `low`); unlike Ray Tune it never leaves the bounds. When no multiple of
    ///   `q` lies in `[low, high]` (an invalid spec), the unrounded sample is kept.
    /// - `randInt` without `q`: `low + ⌊u·(high − low)⌋`, in `[low, high)`.
    /// - `randInt` with `q`: uniform over the multiples of `q` in `[low, high]` (high inclusive,
    ///   as Ray Tune's `qrandint`). Ray Tune rounds a uniform integer instead, which gives the two
    ///   end multiples half weight and can leave the bounds when they are not multiples of `q`.
    /// - `logRandInt`: `⌊exp(ln low + u·(ln high − ln low))⌋` clamped to `[low, high − 1]`
    ///   (Ray Tune's rule), so `P(k) ∝ ln(k + 1) − ln k`.
    /// - `choice`, `ordinal`, `grid`: `values[⌊u·count⌋]`, uniform; `constant`: the constant.
    ///
    /// Integers come out as `JSONValue.number` with an integral value. Degenerate domains that
    /// the spec parser rejects still give a value: an empty integer range gives `low`, a
    /// non-positive log bound falls back to the linear rule, an empty category list gives `null`.
    public func value(at u: Double) -> JSONValue {
        let u = u.isNaN ? 0 : min(max(u, 0), 1.0.nextDown)
        switch self {
        case .uniform(let low, let high, let q):
            let x = min(max(low + u * (high - low), low), high)
            return .number(Self.quantized(x, q: q, low: low, high: high))
        case .logUniform(let low, let high, let q):
            guard low > 0, high >= low else {
                return Domain.uniform(low: low, high: high, q: q).value(at: u)
            }
            let x = min(max(exp(log(low) + u * (log(high) - log(low))), low), high)
            return .number(Self.quantized(x, q: q, low: low, high: high))
        case .normal(let mean, let sd, let q):
            let z = u < 0.5 ? standardNormalQuantile(u + 0x1p-54) : -standardNormalQuantile((1 - u) - 0x1p-54)
            let x = mean + sd * z
            return .number(Self.quantized(x, q: q, low: -.infinity, high: .infinity))
        case .randInt(let low, let high, nil):
            return .number(Self.integer(at: u, low: Double(low), count: Double(high) - Double(low)))
        case .randInt(let low, let high, let q?):
            guard q > 0 else { return Domain.randInt(low: low, high: high + 1, q: nil).value(at: u) }
            let first = (Double(low) / Double(q)).rounded(.up)
            let last = (Double(high) / Double(q)).rounded(.down)
            guard first <= last else { return .number(Double(low)) }
            return .number(Self.integer(at: u, low: first, count: last - first + 1) * Double(q))
        case .logRandInt(let low, let high):
            guard low >= 1, high > low else {
                return Domain.randInt(low: low, high: high, q: nil).value(at: u)
            }
            let x = exp(log(Double(low)) + u * (log(Double(high)) - log(Double(low)))).rounded(.down)
            return .number(min(max(x, Double(low)), Double(high - 1)))
        case .choice(let values), .ordinal(let values), .grid(let values):
            guard !values.isEmpty else { return .null }
            return values[min(Int(u * Double(values.count)), values.count - 1)]
        case .constant(let value):
            return value
        }
    }

    /// `low + ⌊u·count⌋` kept below `low + count` (the product can round up to `count`);
    /// `low` itself when the range is empty.
    private static func integer(at u: Double, low: Double, count: Double) -> Double {
        guard count >= 1 else { return low }
        return low + min((u * count).rounded(.down), count - 1)
    }

    /// `x` rounded to the nearest multiple of `q` that lies in `[low, high]`, then clamped into
    /// `[low, high]`; `x` unchanged without a usable `q` or without such a multiple. The 1e-9
    /// slack absorbs quotients like `0.3 / 0.1 = 2.9999999999999996`.
    static func quantized(_ x: Double, q: Double?, low: Double, high: Double) -> Double {
        guard let q, q > 0, q.isFinite else { return x }
        let first = (low / q - 1e-9).rounded(.up)
        let last = (high / q + 1e-9).rounded(.down)
        guard first <= last else { return x }
        let k = min(max((x / q).rounded(), first), last)
        return min(max(k * q, low), high)
    }
}
