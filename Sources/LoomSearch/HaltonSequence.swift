/// The Halton low-discrepancy sequence, optionally scrambled by random digit permutations.
///
/// Coordinate `d` of point `n` is the radical inverse of `n` in the `d`-th prime base: the
/// base-`b` digits of `n`, mirrored about the radix point. Unscrambled, point 0 is the origin and
/// point 1 is `(1/2, 1/3, 1/5, …)`. Any number of dimensions is available; plain Halton
/// correlates badly in high dimensions (large bases), which the scramble largely repairs.
///
/// **Precision.** Each base uses `D` digits, the fewest with `bᴰ ≥ 2⁵³` (as long as `bᴰ` fits
/// in 64 bits), so the coordinate `Σ π(digit) · bᴰ⁻¹⁻ʲ / bᴰ` is computed in integers and
/// divided once; it lies in `[0, 1)`.
///
/// **Scrambling.** With a seed, every (dimension, digit position) gets its own uniformly random
/// permutation of the digits `0..<b` (random digit permutation, in the family of Braaten–Weller
/// and Owen scrambles; for base 2 it is a random digital shift). The digits beyond the last
/// nonzero one are permuted too, so the scrambled point 0 is random rather than the origin.
/// Permutations are bijections per position, so the first `bᵏ` points still put exactly one
/// point in each interval `[j/bᵏ, (j+1)/bᵏ)` of the coordinate in base `b`.
public struct HaltonSequence: Sendable {
    public let dimensions: Int
    /// The base of each dimension: the first `dimensions` primes.
    public let bases: [Int]
    /// Digits per coordinate, per dimension.
    private let digits: [Int]
    /// `baseᴰ` per dimension: the denominator of the coordinate.
    private let scales: [UInt64]
    /// Per dimension, `digits · base` entries: permutation `j` at `[j·base ..< (j+1)·base]`;
    /// nil when unscrambled.
    private let permutations: [[UInt64]]?

    /// - Parameters:
    ///   - dimensions: coordinates per point (any number ≥ 0).
    ///   - scrambleSeed: nil for the plain sequence; otherwise the seed of the permutations (drawn
    ///     from stream `SearchStream.haltonScramble`, dimension by dimension, digit by digit).
    public init(dimensions: Int, scrambleSeed: UInt64? = nil) {
        precondition(dimensions >= 0, "a sequence needs a non-negative dimension count")
        self.dimensions = dimensions
        bases = Self.primes(dimensions)
        var digits: [Int] = []
        var scales: [UInt64] = []
        for base in bases {
            var (count, scale) = (0, UInt64(1))
            while scale < (1 << 53) {
                let (next, overflow) = scale.multipliedReportingOverflow(by: UInt64(base))
                if overflow { break }
                (count, scale) = (count + 1, next)
            }
            digits.append(count)
            scales.append(scale)
        }
        self.digits = digits
        self.scales = scales
        guard let scrambleSeed else {
            permutations = nil
            return
        }
        var random = Xoshiro256StarStar(seed: scrambleSeed, stream: SearchStream.haltonScramble)
        permutations = zip(bases, digits).map { base, count in
            (0..<count).flatMap { _ in
                var permutation = (0..<UInt64(base)).map { $0 }
                for i in stride(from: base - 1, to: 0, by: -1) {
                    permutation.swapAt(i, random.index(below: i + 1))
                }
                return permutation
            }
        }
    }

    /// Point number `index`, `dimensions` coordinates in `[0, 1)`.
    public func point(_ index: UInt64) -> [Double] {
        (0..<dimensions).map { d in
            let base = UInt64(bases[d])
            var n = index
            var numerator: UInt64 = 0
            for j in 0..<digits[d] {
                let digit = n % base
                n /= base
                let permuted = permutations.map { $0[d][j * Int(base) + Int(digit)] } ?? digit
                numerator = numerator * base + permuted
            }
            return min(Double(numerator) / Double(scales[d]), 1.0.nextDown)
        }
    }

    /// The first `count` primes, by trial division (bases are small).
    static func primes(_ count: Int) -> [Int] {
        var primes: [Int] = []
        var candidate = 2
        while primes.count < count {
            if !primes.contains(where: { $0 * $0 <= candidate && candidate % $0 == 0 }) {
                primes.append(candidate)
            }
            candidate += 1
        }
        return primes
    }
}
