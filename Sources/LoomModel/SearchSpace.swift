import LoomWire

/// The values one hyperparameter may take, in the words of Ray Tune, Optuna and Syne Tune.
///
/// Bounds follow Ray Tune: `uniform`/`loguniform` sample `[low, high]`; `randint` and
/// `lograndint` sample integers in `[low, high)` (high exclusive); a `q` rounds the sample to a
/// multiple of `q` (for integers, `qrandint`'s high is inclusive, as in Ray Tune).
public enum Domain: Equatable, Sendable {
    /// A float in `[low, high]`, rounded to a multiple of `q` when given (`quniform`).
    case uniform(low: Double, high: Double, q: Double?)
    /// A float whose logarithm is uniform in `[log low, log high]`; `q` as above (`qloguniform`).
    case logUniform(low: Double, high: Double, q: Double?)
    /// A float from the normal distribution `N(mean, sd²)`; `q` as above (`randn`, `qrandn`).
    case normal(mean: Double, sd: Double, q: Double?)
    /// An integer in `[low, high)`; with `q`, a multiple of `q` in `[low, high]` (`qrandint`).
    case randInt(low: Int, high: Int, q: Int?)
    /// An integer in `[low, high)` whose logarithm is uniform (`lograndint`).
    case logRandInt(low: Int, high: Int)
    /// One of unordered categories (`choice`).
    case choice([JSONValue])
    /// One of ordered categories (`ordinal`): model-based searchers may use the order.
    case ordinal([JSONValue])
    /// Always this value (`constant`).
    case constant(JSONValue)
    /// Every one of these values, exhaustively (`grid_search`); other searchers treat it as a choice.
    case grid([JSONValue])

    /// Whether a value belongs to this domain (used to validate points to evaluate and `tell`).
    public func contains(_ value: JSONValue) -> Bool {
        switch self {
        case .uniform(let low, let high, _), .logUniform(let low, let high, _):
            guard let x = value.double else { return false }
            return x >= low - 1e-12 * Swift.max(1, abs(low)) && x <= high + 1e-12 * Swift.max(1, abs(high))
        case .normal:
            return value.double?.isFinite == true
        case .randInt(let low, let high, let q):
            guard let x = value.double, x.rounded() == x else { return false }
            let n = Int(x)
            return q == nil ? (n >= low && n < high) : (n >= low && n <= high)
        case .logRandInt(let low, let high):
            guard let x = value.double, x.rounded() == x else { return false }
            return Int(x) >= low && Int(x) < high
        case .choice(let values), .ordinal(let values), .grid(let values):
            return values.contains(value)
        case .constant(let c):
            return c == value
        }
    }

    /// The finite values of a categorical, ordinal, grid or constant domain; nil for numeric ones.
    public var categories: [JSONValue]? {
        switch self {
        case .choice(let v), .ordinal(let v), .grid(let v): v
        case .constant(let c): [c]
        default: nil
        }
    }
}

/// When a parameter is active: its parent parameter is active and took one of `values`.
public struct Condition: Equatable, Sendable {
    public var parent: String
    public var values: [JSONValue]

    public init(parent: String, values: [JSONValue]) {
        self.parent = parent
        self.values = values
    }
}

/// One hyperparameter.
public struct Parameter: Equatable, Sendable {
    /// The key in the trial's config (and its `{name}` placeholder). Parameters of a nested
    /// choice's option are named `<option>.<name>`.
    public var name: String
    public var domain: Domain
    /// Nil for a parameter that is always active.
    public var condition: Condition?

    public init(name: String, domain: Domain, condition: Condition? = nil) {
        self.name = name
        self.domain = domain
        self.condition = condition
    }
}

/// A configuration: the active parameters' values. Inactive parameters are absent, not defaulted.
public typealias Config = [String: JSONValue]

/// An ordered set of parameters.
///
/// **Invariant.** Names are unique, and every parameter comes after the parent its condition
/// names, so walking `parameters` in order decides activity before it is needed.
public struct SearchSpace: Equatable, Sendable {
    public private(set) var parameters: [Parameter]

    /// Builds a space; fails with a message naming the parameter when a name repeats or a
    /// condition's parent is unknown or comes later.
    public init(_ parameters: [Parameter]) throws(SpaceError) {
        var seen: Set<String> = []
        for p in parameters {
            guard seen.insert(p.name).inserted else { throw .duplicate(p.name) }
            if let c = p.condition, !seen.contains(c.parent) || c.parent == p.name {
                throw .unknownParent(parameter: p.name, parent: c.parent)
            }
        }
        self.parameters = parameters
    }

    public subscript(name: String) -> Parameter? { parameters.first { $0.name == name } }

    /// Whether `parameter` is active in a (partial) config that holds its ancestors.
    public func isActive(_ parameter: Parameter, in config: Config) -> Bool {
        guard let c = parameter.condition else { return true }
        guard let value = config[c.parent] else { return false }
        return c.values.contains(value)
    }

    /// The config restricted to active parameters, each checked against its domain. Returns the
    /// first problem as a message naming the parameter, or nil when the config is valid.
    public func validate(_ config: Config) -> String? {
        var active: Config = [:]
        for p in parameters where isActive(p, in: active) {
            guard let value = config[p.name] else { return "parameter \"\(p.name)\" is missing" }
            guard p.domain.contains(value) else { return "parameter \"\(p.name)\": \(value) is outside its domain" }
            active[p.name] = value
        }
        for key in config.keys where active[key] == nil {
            return parameters.contains(where: { $0.name == key })
                ? "parameter \"\(key)\" is given but inactive in this config"
                : "unknown parameter \"\(key)\""
        }
        return nil
    }
}

/// Why a search space is not valid.
public enum SpaceError: Error, Equatable, Sendable, CustomStringConvertible {
    case duplicate(String)
    case unknownParent(parameter: String, parent: String)

    public var description: String {
        switch self {
        case .duplicate(let name): "parameter \"\(name)\" is defined twice"
        case .unknownParent(let p, let parent): "parameter \"\(p)\" depends on \"\(parent)\", which is not defined before it"
        }
    }
}
