/// A scalar of a config file as the YAML 1.2 core schema types it: `yes` and `on` stay strings,
/// `017` is the integer 17, quoted scalars are always strings.
public struct ConfigScalar: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case null, bool, int, float, string }

    public var kind: Kind
    /// The scalar as written, without quotes.
    public var text: String

    public init(kind: Kind, text: String) {
        self.kind = kind
        self.text = text
    }

    /// For "expected …, found …" messages: `string "abc"`, `5`, `true`, `nothing`.
    public var found: String {
        switch kind {
        case .string: "string \"\(text)\""
        case .null: text.isEmpty ? "nothing" : "null"
        default: text
        }
    }
}

/// How a setting's value is read from text (a flag, an environment variable) and from a scalar of
/// a config file, and how it is shown. Range checks belong here, so a bad value is reported where
/// it was written, whichever of the three places that was.
public struct SettingType<Value: Sendable>: Sendable {
    /// What a valid value looks like, for messages: `an integer of at least 1`.
    public let expected: String
    /// The placeholder of a flag's value in `--help` (`<duration>`); nil: the option's name.
    public let valueName: String?
    let fromText: @Sendable (String) -> Value?
    let fromScalar: @Sendable (ConfigScalar) -> Value?
    let format: @Sendable (Value) -> String

    public init(expected: String, valueName: String? = nil, fromText: @escaping @Sendable (String) -> Value?,
                fromScalar: @escaping @Sendable (ConfigScalar) -> Value?, format: @escaping @Sendable (Value) -> String) {
        self.expected = expected
        self.valueName = valueName
        self.fromText = fromText
        self.fromScalar = fromScalar
        self.format = format
    }

    /// Parses the text of a flag or an environment variable.
    public func parse(_ text: String) -> Value? { fromText(text) }

    /// Reads a config-file scalar: typed, so `slots: "4"` is a string, not a count.
    public func read(_ scalar: ConfigScalar) -> Value? { fromScalar(scalar) }

    /// The value as `hyperloom config show` prints it, and as a flag would take it back.
    public func text(_ value: Value) -> String { format(value) }
}

extension SettingType where Value == String {
    /// Non-empty text. Numbers in a file are taken as written (`id: 7` is the id "7"); booleans
    /// are refused, being more likely a mistake than a name.
    public static let string = SettingType(
        expected: "a non-empty string",
        fromText: { $0.isEmpty ? nil : $0 },
        fromScalar: { [.string, .int, .float].contains($0.kind) && !$0.text.isEmpty ? $0.text : nil },
        format: { $0 })

    /// One of `choices`, as written (log levels).
    public static func choice(_ choices: [String]) -> SettingType {
        SettingType(
            expected: "one of " + choices.joined(separator: ", "),
            fromText: { choices.contains($0) ? $0 : nil },
            fromScalar: { $0.kind == .string && choices.contains($0.text) ? $0.text : nil },
            format: { $0 })
    }
}

extension SettingType where Value == Int {
    /// A whole number no smaller than `minimum`.
    public static func integer(atLeast minimum: Int) -> SettingType {
        let accept: @Sendable (String) -> Int? = { text in
            guard let n = Int(text.hasPrefix("+") ? String(text.dropFirst()) : text), n >= minimum else { return nil }
            return n
        }
        return SettingType(
            expected: "an integer of at least \(minimum)",
            valueName: "n",
            fromText: accept,
            fromScalar: { $0.kind == .int ? accept($0.text) : nil },
            format: { String($0) })
    }
}

extension SettingType where Value == Int {
    /// A whole number within `range` (a limit that may be lowered, not raised past a bound the
    /// protocol itself keeps).
    public static func integer(in range: ClosedRange<Int>) -> SettingType {
        let accept: @Sendable (String) -> Int? = { text in
            guard let n = Int(text.hasPrefix("+") ? String(text.dropFirst()) : text), range.contains(n) else { return nil }
            return n
        }
        return SettingType(
            expected: "an integer from \(range.lowerBound) to \(range.upperBound)",
            valueName: "n",
            fromText: accept,
            fromScalar: { $0.kind == .int ? accept($0.text) : nil },
            format: { String($0) })
    }
}

extension SettingType where Value == Double {
    /// A finite number greater than `minimum` (a factor).
    public static func number(above minimum: Double) -> SettingType {
        let accept: @Sendable (String) -> Double? = { text in
            guard let x = Double(text), x.isFinite, x > minimum else { return nil }
            return x
        }
        let minimumText = minimum.rounded() == minimum ? String(Int(minimum)) : String(minimum)
        return SettingType(
            expected: "a number greater than \(minimumText)",
            valueName: "x",
            fromText: accept,
            fromScalar: { [.int, .float].contains($0.kind) ? accept($0.text) : nil },
            format: { $0.rounded() == $0 && abs($0) < 1e15 ? String(Int($0)) : String($0) })
    }
}

extension SettingType where Value == Bool {
    /// `true` or `false`; on the command line and in the environment also `1`/`0`, `yes`/`no`.
    public static let bool = SettingType(
        expected: "true or false",
        fromText: { text in
            switch text.lowercased() {
            case "true", "1", "yes": true
            case "false", "0", "no": false
            default: nil
            }
        },
        fromScalar: { $0.kind == .bool ? $0.text.lowercased() == "true" : nil },
        format: { $0 ? "true" : "false" })
}

extension SettingType where Value == Duration {
    /// A duration (`500ms`, `5s`, `2m`, `1h30m`) or a number of seconds; `positive` refuses zero.
    public static func duration(positive: Bool) -> SettingType {
        let accept: @Sendable (Duration?) -> Duration? = { duration in
            guard let duration, positive ? duration > .zero : duration >= .zero else { return nil }
            return duration
        }
        return SettingType(
            expected: (positive ? "a positive duration" : "a duration") + " such as 500ms, 5s, 2m or a number of seconds",
            valueName: "duration",
            fromText: { accept(DurationText.parse($0)) },
            fromScalar: { scalar in
                switch scalar.kind {
                case .int, .float, .string: accept(DurationText.parse(scalar.text))
                default: nil
                }
            },
            format: DurationText.format)
    }
}

extension SettingType {
    /// `base`, or nothing: the value of a setting whose default is worked out when the process
    /// starts (a worker's id is `<host>-<pid>`). It cannot be unset once set: a file or a variable
    /// that names it gives it a value.
    public static func optional<Wrapped>(_ base: SettingType<Wrapped>) -> SettingType<Wrapped?> where Value == Wrapped? {
        SettingType<Wrapped?>(
            expected: base.expected,
            valueName: base.valueName,
            fromText: { base.fromText($0).map { .some($0) } },
            fromScalar: { base.fromScalar($0).map { .some($0) } },
            format: { $0.map(base.format) ?? "none" })
    }
}
