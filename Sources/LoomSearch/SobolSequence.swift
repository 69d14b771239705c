/// The Sobol low-discrepancy sequence in up to 64 dimensions, optionally scrambled.
///
/// Points are in Gray-code order (Antonov–Saleev), the order of Joe and Kuo's reference code and
/// of SciPy: unscrambled, point 0 is the origin and points 0..<8 of dimensions 1–3 are SciPy's
/// `qmc.Sobol(3, scramble=False)`. Point `n` is computed directly from `n` (the XOR of the
/// direction numbers picked by the bits of `n ^ (n >> 1)`), so any point costs the same and no
/// position has to be remembered.
///
/// **Precision.** Direction numbers have 64 bits, so the sequence never repeats within 2⁶⁴
/// points; coordinates keep the top 53 bits and lie in `[0, 1)`.
///
/// **Scrambling.** With a seed, each dimension gets Matoušek's affine scramble, as SciPy's
/// default does: a random lower-triangular binary matrix with a unit diagonal (linear matrix
/// scrambling: output digit `i` is digit `i` XOR a random subset of the more significant
/// digits) followed by a random digital shift (XOR with 64 random bits). Both are bijections on
/// every prefix of digits, so every `(t, m, s)`-net property survives: the first 2ᵐ points still
/// put exactly one point in each interval `[k/2ᵐ, (k+1)/2ᵐ)` of every coordinate.
public struct SobolSequence: Sendable {
    /// The dimensions that have direction numbers.
    public static let maxDimensions = 1 + SobolDirectionNumbers.rows.count

    public let dimensions: Int
    /// `directions[d][k]`: direction number `k + 1` of dimension `d`, scrambled when seeded.
    private let directions: [[UInt64]]
    /// The digital shift of each dimension (zero when unscrambled).
    private let shifts: [UInt64]

    /// - Parameters:
    ///   - dimensions: coordinates per point, `0...maxDimensions`.
    ///   - scrambleSeed: nil for the plain sequence; otherwise the seed of the scramble (drawn from
    ///     stream `SearchStream.sobolScramble`).
    public init(dimensions: Int, scrambleSeed: UInt64? = nil) {
        precondition((0...Self.maxDimensions).contains(dimensions),
                     "Sobol direction numbers cover \(Self.maxDimensions) dimensions")
        self.dimensions = dimensions
        var plain = (0..<dimensions).map(Self.directionNumbers)
        var shifts = [UInt64](repeating: 0, count: dimensions)
        if let scrambleSeed {
            var random = Xoshiro256StarStar(seed: scrambleSeed, stream: SearchStream.sobolScramble)
            for d in 0..<dimensions {
                let matrix = Self.lowerTriangularMatrix(&random)
                plain[d] = plain[d].map { Self.multiply(matrix, $0) }
                shifts[d] = random.next()
            }
        }
        directions = plain
        self.shifts = shifts
    }

    /// Point number `index`, `dimensions` coordinates in `[0, 1)`.
    public func point(_ index: UInt64) -> [Double] {
        (0..<dimensions).map { Double(integerCoordinate(index, dimension: $0) >> 11) * 0x1p-53 }
    }

    /// Coordinate `dimension` of point `index` as a 64-bit binary fraction.
    func integerCoordinate(_ index: UInt64, dimension: Int) -> UInt64 {
        var gray = index ^ (index >> 1)
        var x = shifts[dimension]
        var k = 0
        while gray != 0 {
            if gray & 1 == 1 { x ^= directions[dimension][k] }
            gray >>= 1
            k += 1
        }
        return x
    }

    /// The 64 direction numbers `Vₖ = mₖ · 2⁶⁴⁻ᵏ` of `dimension` (0-based), extended past the
    /// initial `m`s by Bratley and Fox's recurrence as Joe and Kuo state it.
    private static func directionNumbers(_ dimension: Int) -> [UInt64] {
        guard dimension > 0 else { return (0..<64).map { UInt64(1) << (63 - $0) } }
        let row = SobolDirectionNumbers.rows[dimension - 1]
        let s = Int(row[0])
        let a = row[1]
        var v = [UInt64](repeating: 0, count: 65)
        for i in 1...64 {
            if i <= s {
                v[i] = row[1 + i] << (64 - i)
                continue
            }
            var x = v[i - s] ^ (v[i - s] >> s)
            for k in 1..<s where (a >> (s - 1 - k)) & 1 == 1 {
                x ^= v[i - k]
            }
            v[i] = x
        }
        return Array(v[1...])
    }

    /// Rows of a random lower-triangular binary matrix with a unit diagonal: row `r` (digit `r`,
    /// bit `63 − r`) has its own bit and random bits among the more significant ones.
    private static func lowerTriangularMatrix(_ random: inout Xoshiro256StarStar) -> [UInt64] {
        (0..<64).map { r in
            let diagonal = UInt64(1) << (63 - r)
            let above = ~((UInt64(1) << (64 - r)) &- 1)
            return diagonal | (random.next() & above)
        }
    }

    /// The matrix times the digit vector `x` over GF(2).
    private static func multiply(_ rows: [UInt64], _ x: UInt64) -> UInt64 {
        var y: UInt64 = 0
        for (r, row) in rows.enumerated() where (row & x).nonzeroBitCount & 1 == 1 {
            y |= UInt64(1) << (63 - r)
        }
        return y
    }
}
