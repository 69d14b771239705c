import LoomModel

/// The best trial so far for a mode.
///
/// **Rules.** Nil, NaN and infinite values are ignored; a value replaces the best only when it
/// is strictly better (`Mode.isBetter`), so among equal values the first offered stays.
public struct Incumbent: Equatable, Sendable {
    /// A trial and its value.
    public struct Entry: Equatable, Sendable {
        public var trial: Int
        public var value: Double

        public init(trial: Int, value: Double) {
            self.trial = trial
            self.value = value
        }
    }

    public let mode: Mode
    /// Nil until a finite value has been offered.
    public private(set) var best: Entry?

    public init(mode: Mode) {
        self.mode = mode
    }

    /// The incumbent of `results`, offered in order.
    public init(mode: Mode, results: some Sequence<(trial: Int, value: Double?)>) {
        self.init(mode: mode)
        for result in results { offer(trial: result.trial, value: result.value) }
    }

    /// Considers a result; returns whether it became the best.
    @discardableResult
    public mutating func offer(trial: Int, value: Double?) -> Bool {
        guard let value, value.isFinite else { return false }
        if let best, !mode.isBetter(value, than: best.value) { return false }
        best = Entry(trial: trial, value: value)
        return true
    }
}
