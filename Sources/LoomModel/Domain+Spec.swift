import LoomWire

extension Domain {
    /// The key that writes this domain in a study spec: `uniform`, `quniform`, `loguniform`, …
    public var specKey: String {
        switch self {
        case .uniform(_, _, let q): q == nil ? "uniform" : "quniform"
        case .logUniform(_, _, let q): q == nil ? "loguniform" : "qloguniform"
        case .normal(_, _, let q): q == nil ? "randn" : "qrandn"
        case .randInt(_, _, let q): q == nil ? "randint" : "qrandint"
        case .logRandInt: "lograndint"
        case .choice: "choice"
        case .ordinal: "ordinal"
        case .constant: "constant"
        case .grid: "grid_search"
        }
    }

    /// The domain in YAML flow style, e.g. `{loguniform: [0.001, 1]}`; `SpecParser` reads it back
    /// to the same domain.
    public var specDescription: String {
        func list(_ numbers: [Double?]) -> String {
            "[" + numbers.compactMap { $0 }.map(formatNumber).joined(separator: ", ") + "]"
        }
        let arguments: String
        switch self {
        case .uniform(let low, let high, let q), .logUniform(let low, let high, let q): arguments = list([low, high, q])
        case .normal(let mean, let sd, let q): arguments = list([mean, sd, q])
        case .randInt(let low, let high, let q): arguments = list([Double(low), Double(high), q.map(Double.init)])
        case .logRandInt(let low, let high): arguments = list([Double(low), Double(high)])
        case .choice(let values), .ordinal(let values), .grid(let values): arguments = formatValue(.array(values))
        case .constant(let value): arguments = formatValue(value)
        }
        return "{\(specKey): \(arguments)}"
    }
}
