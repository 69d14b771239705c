import Foundation

/// SplitMix64 (Steele, Lea & Flood, 2014): expands one 64-bit seed into a generator's state,
/// and lends its finaliser to derive independent streams.
///
/// **Determinism.** Integer arithmetic only: identical on every platform and Swift version.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The SplitMix64 finaliser: a bijection of `UInt64` in which every input bit affects
    /// every output bit.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** 1.0 (Blackman & Vigna, 2018), the generator behind every random choice of
/// LoomSearch.
///
/// We carry our own rather than use `SystemRandomNumberGenerator` (not seedable) or the
/// standard library's `random(in:using:)` helpers (their algorithms are not promised to stay
/// the same across Swift versions): a study's configs must be the same for a seed everywhere.
///
/// **Determinism.** `next()`, `index(below:)` and `unit()` are integer-exact (plus one exact
/// conversion) on every platform. `normal()` also calls `log`, `sqrt` and `cos`, so it is exact
/// wherever the C library rounds those the same way (glibc and Apple's libm agree on practically
/// every input, but do not promise it).
///
/// **Streams.** `init(seed:stream:)` gives a generator per `(seed, stream)` pair: searchers draw
/// suggestion `n` from stream `n`, so that draw depends on nothing else (see `SearchStream`).
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// A generator whose state is the first four outputs of `SplitMix64(seed:)`, as the
    /// xoshiro authors recommend.
    public init(seed: UInt64) {
        var expand = SplitMix64(seed: seed)
        s0 = expand.next()
        s1 = expand.next()
        s2 = expand.next()
        s3 = expand.next()
    }

    /// The generator of stream `stream` under `seed`: seeded with
    /// `mix(mix(seed) &+ stream)`, which is distinct for distinct streams of one seed.
    public init(seed: UInt64, stream: UInt64) {
        self.init(seed: SplitMix64.mix(SplitMix64.mix(seed) &+ stream))
    }

    /// A generator with exactly this state (for reference vectors); the state must not be all zero.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(state != (0, 0, 0, 0), "xoshiro256** has no all-zero state")
        (s0, s1, s2, s3) = state
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A double in `[0, 1)`: the top 53 bits of `next()` times 2⁻⁵³, so every value is a
    /// multiple of 2⁻⁵³ and 1 is never reached.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// An integer in `0..<bound`, exactly uniform (Lemire's multiply-and-reject), for `bound > 0`.
    public mutating func index(below bound: Int) -> Int {
        precondition(bound > 0, "index(below:) needs a positive bound")
        let n = UInt64(bound)
        var product = next().multipliedFullWidth(by: n)
        if product.low < n {
            let threshold = (0 &- n) % n
            while product.low < threshold {
                product = next().multipliedFullWidth(by: n)
            }
        }
        return Int(product.high)
    }

    /// A standard normal variate by the Box–Muller transform: `√(−2 ln u₁) · cos(2π u₂)` with
    /// `u₁ = 1 − unit()` in `(0, 1]`. The sine partner is discarded, so each call consumes exactly
    /// two outputs and the generator stays a plain four-word state.
    public mutating func normal() -> Double {
        let u1 = 1 - unit()
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}

/// The streams that LoomSearch draws from, so that no two uses of one seed overlap.
///
/// Suggestion-level streams are numbered by the trial counter (`0, 1, 2, …`); the fixed streams
/// for scrambling sit at the top of the range, which no counter reaches.
public enum SearchStream {
    /// The stream of the study's trial number `n` (random draws of suggestion `n`).
    public static func suggestion(_ n: Int) -> UInt64 { UInt64(max(0, n)) }
    /// The stream of a model-based searcher's own choices for suggestion `n` (whether to go
    /// random, candidates, restarts), apart from the random config it may draw from `suggestion(n)`.
    public static func model(_ n: Int) -> UInt64 { (1 << 62) &+ UInt64(max(0, n)) }
    /// The stream that scrambles a Sobol sequence.
    public static let sobolScramble: UInt64 = .max
    /// The stream that scrambles a Halton sequence.
    public static let haltonScramble: UInt64 = .max - 1
}
