import LoomWire

/// The first reason a config is not valid in a space, as a value: the spec parser points at the
/// parameter it names; `description` is the text `SearchSpace.validate` returns.
public enum ConfigViolation: Equatable, Sendable, CustomStringConvertible {
    /// An active parameter has no value.
    case missing(parameter: String)
    /// An active parameter's value is not in its domain.
    case outsideDomain(parameter: String, value: JSONValue)
    /// A parameter of the space has a value although its condition does not hold.
    case inactive(parameter: String)
    /// A key that is no parameter of the space.
    case unknown(parameter: String)

    /// The parameter (or key) at fault.
    public var parameter: String {
        switch self {
        case .missing(let p), .outsideDomain(let p, _), .inactive(let p), .unknown(let p): p
        }
    }

    public var description: String {
        switch self {
        case .missing(let p): "parameter \"\(p)\" is missing"
        case .outsideDomain(let p, let value): "parameter \"\(p)\": \(value) is outside its domain"
        case .inactive(let p): "parameter \"\(p)\" is given but inactive in this config"
        case .unknown(let p): "unknown parameter \"\(p)\""
        }
    }
}

extension SearchSpace {
    /// The first violation in parameter order, then extra keys in sorted order (so the answer
    /// does not depend on dictionary order); nil when `validate(config)` is nil.
    public func violation(in config: Config) -> ConfigViolation? {
        var active: Config = [:]
        for p in parameters where isActive(p, in: active) {
            guard let value = config[p.name] else { return .missing(parameter: p.name) }
            guard p.domain.contains(value) else { return .outsideDomain(parameter: p.name, value: value) }
            active[p.name] = value
        }
        for key in config.keys.sorted() where active[key] == nil {
            return self[key] == nil ? .unknown(parameter: key) : .inactive(parameter: key)
        }
        return nil
    }

    /// The config with every active `constant` parameter that it leaves out filled in: a point to
    /// evaluate need not repeat values that cannot vary.
    public func completingConstants(_ config: Config) -> Config {
        var completed = config
        var active: Config = [:]
        for p in parameters where isActive(p, in: active) {
            if completed[p.name] == nil, case .constant(let value) = p.domain { completed[p.name] = value }
            if let value = completed[p.name] { active[p.name] = value }
        }
        return completed
    }
}
