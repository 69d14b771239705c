/// The one source of every choice a simulation makes: SplitMix64 (Steele, Lea, Flood 2014), a
/// 64-bit state stepped by a constant and mixed. Small, fast, and the same on every platform, so
/// a seed replays the same schedule anywhere. Never `SystemRandomNumberGenerator`.
public struct SimulationRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A whole number in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }

    /// A duration uniformly in `range` (millisecond resolution).
    public mutating func duration(_ range: ClosedRange<Duration>) -> Duration {
        let low = range.lowerBound.milliseconds, high = range.upperBound.milliseconds
        return .milliseconds(Int64.random(in: low...high, using: &self))
    }

    /// A generator for a sub-stream, so that adding draws in one part of the simulation does not
    /// shift every other part's.
    public mutating func split() -> SimulationRandom { SimulationRandom(seed: next()) }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Seconds as a Double, for traces.
    var seconds: Double { Double(milliseconds) / 1000 }
}
