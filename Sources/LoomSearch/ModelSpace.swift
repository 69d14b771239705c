import Foundation
import LoomModel
import LoomWire

/// The search space as the model-based searchers see it: one coordinate per parameter.
///
/// **Coordinates.** A numeric parameter (`uniform`, `loguniform`, `randn`, `randint`,
/// `lograndint`, `ordinal`) lives on the unit interval through its distribution function, the
/// inverse of `Domain.value(at:)`: logs are in log space, a normal in `Φ` space, and an integer or
/// ordinal value sits at the centre of its cell, so rounding is `value(at:)`'s job. An unordered
/// categorical (`choice`, `grid_search`) is an index. A constant has no coordinate that matters.
/// An inactive parameter has none (nil).
///
/// **Invariant.** `axes[i]` describes `space.parameters[i]`.
struct ModelSpace: Sendable {
    /// How one parameter is modelled.
    enum Axis: Equatable, Sendable {
        /// A coordinate in [0, 1].
        case numeric
        /// An index in `0..<count`.
        case categorical(count: Int)
        /// A single value: nothing to learn.
        case constant
    }

    let space: SearchSpace
    let axes: [Axis]

    init(_ space: SearchSpace) {
        self.space = space
        axes = space.parameters.map { parameter in
            switch parameter.domain {
            case .constant: .constant
            case .choice(let values), .grid(let values): values.count <= 1 ? .constant : .categorical(count: values.count)
            default: .numeric
            }
        }
    }

    var count: Int { axes.count }

    /// The coordinates of a config; nil for a parameter that is inactive, missing or outside its domain.
    func encode(_ config: Config) -> [Double?] {
        zip(space.parameters, axes).map { parameter, axis in
            guard let value = config[parameter.name] else { return nil }
            switch axis {
            case .constant: return 0
            case .categorical: return parameter.domain.categories?.firstIndex(of: value).map(Double.init)
            case .numeric: return parameter.domain.unitCoordinate(of: value)
            }
        }
    }

    /// The config at these coordinates (categorical indices included); coordinates of inactive
    /// parameters are ignored, a missing one reads as 0.5.
    func decode(_ coordinates: [Double?]) -> Config {
        config(from: unitPoint(coordinates), in: space)
    }

    /// The unit-cube point `config(from:in:)` maps to the config at these coordinates.
    func unitPoint(_ coordinates: [Double?]) -> [Double] {
        zip(axes, coordinates).map { axis, coordinate in
            guard let coordinate else { return 0.5 }
            if case .categorical(let count) = axis { return (coordinate.rounded(.down) + 0.5) / Double(count) }
            return coordinate
        }
    }
}

extension Domain {
    /// The unit coordinate of a value: the inverse of `value(at:)` — for integers, ordinals and
    /// categories the centre of the value's cell. Nil when the value is not in the domain's form
    /// (not a number for a numeric domain, an unknown category).
    func unitCoordinate(of value: JSONValue) -> Double? {
        if let categories = categories {
            guard let i = categories.firstIndex(of: value) else { return nil }
            return (Double(i) + 0.5) / Double(categories.count)
        }
        guard let x = value.double, x.isFinite else { return nil }
        func ratio(_ a: Double, _ b: Double) -> Double { b == 0 ? 0.5 : min(max(a / b, 0), 1) }
        switch self {
        case .uniform(let low, let high, _):
            return ratio(x - low, high - low)
        case .logUniform(let low, let high, _):
            guard low > 0, high >= low, x > 0 else { return ratio(x - low, high - low) }
            return ratio(log(x) - log(low), log(high) - log(low))
        case .normal(let mean, let sd, _):
            return sd > 0 ? standardNormalCDF((x - mean) / sd) : 0.5
        case .randInt(let low, let high, nil):
            return ratio(x - Double(low) + 0.5, Double(high - low))
        case .randInt(let low, let high, let q?):
            guard q > 0 else { return ratio(x - Double(low) + 0.5, Double(high - low + 1)) }
            let first = (Double(low) / Double(q)).rounded(.up)
            let last = (Double(high) / Double(q)).rounded(.down)
            return ratio(x / Double(q) - first + 0.5, last - first + 1)
        case .logRandInt(let low, let high):
            guard low >= 1, high > low, x >= 1 else { return ratio(x - Double(low) + 0.5, Double(high - low)) }
            let span = log(Double(high)) - log(Double(low))
            let cellLow = log(x) - log(Double(low)), cellHigh = log(x + 1) - log(Double(low))
            return ratio((cellLow + cellHigh) / 2, span)
        case .choice, .ordinal, .grid, .constant:
            return nil
        }
    }
}

/// Φ(z), the standard normal distribution function, through `erfc` (accurate in both tails).
func standardNormalCDF(_ z: Double) -> Double {
    0.5 * erfc(-z / 2.0.squareRoot())
}
