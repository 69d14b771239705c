import Foundation

/// The Cholesky factor `L` (lower, row-major `n × n`) of a symmetric positive-definite matrix,
/// and the solves the Gaussian process needs.
///
/// **Failure.** `init` returns nil when a pivot is not positive (the matrix is not positive
/// definite at working precision); callers add jitter and try again.
struct Cholesky: Sendable {
    let n: Int
    /// Row-major; the strict upper triangle is zero.
    private(set) var lower: [Double]

    init?(_ matrix: [Double], n: Int) {
        precondition(matrix.count == n * n, "an n × n matrix is needed")
        self.n = n
        var l = matrix
        let ok = l.withUnsafeMutableBufferPointer { a -> Bool in
            for j in 0..<n {
                var diagonal = a[j * n + j]
                for k in 0..<j { diagonal -= a[j * n + k] * a[j * n + k] }
                guard diagonal > 0, diagonal.isFinite else { return false }
                let pivot = diagonal.squareRoot()
                a[j * n + j] = pivot
                for i in (j + 1)..<max(j + 1, n) {
                    var sum = a[i * n + j]
                    for k in 0..<j { sum -= a[i * n + k] * a[j * n + k] }
                    a[i * n + j] = sum / pivot
                }
                for k in (j + 1)..<max(j + 1, n) { a[j * n + k] = 0 }
            }
            return true
        }
        guard ok else { return nil }
        lower = l
    }

    /// `Σ log Lᵢᵢ = ½ log det`.
    var halfLogDeterminant: Double {
        (0..<n).reduce(0) { $0 + log(lower[$1 * n + $1]) }
    }

    /// `x` with `L x = b`.
    func solveLower(_ b: [Double]) -> [Double] {
        var x = b
        lower.withUnsafeBufferPointer { l in
            x.withUnsafeMutableBufferPointer { x in
                for i in 0..<n {
                    var sum = x[i]
                    for k in 0..<i { sum -= l[i * n + k] * x[k] }
                    x[i] = sum / l[i * n + i]
                }
            }
        }
        return x
    }

    /// `x` with `Lᵀ x = b`.
    func solveUpper(_ b: [Double]) -> [Double] {
        var x = b
        lower.withUnsafeBufferPointer { l in
            x.withUnsafeMutableBufferPointer { x in
                for i in stride(from: n - 1, through: 0, by: -1) {
                    var sum = x[i]
                    for k in (i + 1)..<max(i + 1, n) { sum -= l[k * n + i] * x[k] }
                    x[i] = sum / l[i * n + i]
                }
            }
        }
        return x
    }

    /// `x` with `(L Lᵀ) x = b`.
    func solve(_ b: [Double]) -> [Double] { solveUpper(solveLower(b)) }

    /// `(L Lᵀ)⁻¹`, row-major, from `L⁻¹` (`A⁻¹ = L⁻ᵀ L⁻¹`).
    func inverse() -> [Double] {
        var inv = [Double](repeating: 0, count: n * n)
        lower.withUnsafeBufferPointer { l in
            inv.withUnsafeMutableBufferPointer { m in
                for j in 0..<n {
                    m[j * n + j] = 1 / l[j * n + j]
                    for i in (j + 1)..<max(j + 1, n) {
                        var sum = 0.0
                        for k in j..<i { sum -= l[i * n + k] * m[k * n + j] }
                        m[i * n + j] = sum / l[i * n + i]
                    }
                }
            }
        }
        var result = [Double](repeating: 0, count: n * n)
        inv.withUnsafeBufferPointer { m in
            result.withUnsafeMutableBufferPointer { r in
                for i in 0..<n {
                    for j in 0...i {
                        var sum = 0.0
                        for k in i..<n { sum += m[k * n + i] * m[k * n + j] }
                        r[i * n + j] = sum
                        r[j * n + i] = sum
                    }
                }
            }
        }
        return result
    }
}
