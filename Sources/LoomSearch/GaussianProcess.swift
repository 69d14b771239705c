import Foundation

/// Kernel hyperparameters of `GaussianProcess`, as logarithms so that every value is positive.
struct GPHyperparameters: Equatable, Sendable {
    /// `log ℓ_d`, one lengthscale per feature (ARD).
    var logLengthscales: [Double]
    /// `log σ_f²`, the signal variance.
    var logSignal: Double
    /// `log σ_n²`, the noise variance (a jitter of `GaussianProcess.jitter` is added on top).
    var logNoise: Double

    var vector: [Double] { logLengthscales + [logSignal, logNoise] }

    init(logLengthscales: [Double], logSignal: Double, logNoise: Double) {
        self.logLengthscales = logLengthscales
        self.logSignal = logSignal
        self.logNoise = logNoise
    }

    init(_ vector: [Double]) {
        logLengthscales = Array(vector.dropLast(2))
        logSignal = vector[vector.count - 2]
        logNoise = vector[vector.count - 1]
    }

    /// The centre of the lengthscale prior, `log ℓ = −1` (ℓ ≈ 0.37 of a unit range). It was
    /// `log 0.5` until 2026-11-24; the shorter centre lets early fits in many dimensions (a few
    /// points per axis) follow the best results' neighbourhood more closely — Levy 10-d at 25
    /// trials, median over seeds 0–29: 27.1 → 24.4 (Docs/benchmarks.md, "Sample efficiency").
    static let priorLogLengthscale = -1.0

    /// The standard deviation of the lengthscale prior in log space. It was 1.5 until
    /// 2026-11-24: that let a fit on 11–25 points in 10-d shrink one lengthscale to 0.01 to
    /// interpolate Ackley's ripple, and expected improvement then polished the ripple around the
    /// incumbent (Ackley 10-d at 25 trials, median over 100 seeds: 19.59 → 19.39).
    static let priorLogLengthscaleSD = 1.0

    /// The centre of the noise prior (a fraction of the standardised targets' variance), with
    /// sd 2.5 in log space. It was 10⁻³ until 2026-11-24: the process then interpolated every
    /// wiggle of the first results, and expected improvement searched the wiggles around the
    /// incumbent instead of the trend (Ackley 10-d at 25 trials, median over 100 seeds:
    /// 19.39 → 18.96). The data still pull it down where the objective is smooth (Branin and
    /// Hartmann reach a regret of 10⁻⁴). HPO objectives are noisy anyway.
    static let priorNoise = 0.1

    /// Where every fit starts: the prior's lengthscale on the unit cube, unit signal (targets
    /// are standardised), small noise.
    static func initial(features: Int) -> GPHyperparameters {
        GPHyperparameters(logLengthscales: [Double](repeating: priorLogLengthscale, count: features), logSignal: 0, logNoise: log(1e-3))
    }

    /// The log prior density (up to a constant) and its gradient: independent normals on the
    /// logarithms, centred at lengthscale `e^priorLogLengthscale` (sd `priorLogLengthscaleSD`), signal 1 (sd 1),
    /// noise `priorNoise` (sd 2.5). The prior keeps fits on few points away from degenerate
    /// lengthscales (0 or ∞).
    func logPrior() -> (value: Double, gradient: [Double]) {
        var value = 0.0
        var gradient: [Double] = []
        func normal(_ x: Double, _ mean: Double, _ sd: Double) {
            value -= 0.5 * (x - mean) * (x - mean) / (sd * sd)
            gradient.append(-(x - mean) / (sd * sd))
        }
        for l in logLengthscales { normal(l, Self.priorLogLengthscale, Self.priorLogLengthscaleSD) }
        normal(logSignal, 0, 1)
        normal(logNoise, log(Self.priorNoise), 2.5)
        return (value, gradient)
    }
}

/// A Gaussian process with a Matérn 5/2 ARD kernel over feature vectors,
/// `k(x, x') = σ_f² (1 + √5 r + 5r²/3) e^{−√5 r}` with `r² = Σ_d (x_d − x'_d)² / ℓ_d²`, plus
/// noise `σ_n²` on the diagonal; zero prior mean (targets are standardised first).
///
/// **Ownership.** Immutable once built: `init` factorises the kernel matrix; `predict` is pure.
struct GaussianProcess: Sendable {
    /// Added to the diagonal, and raised tenfold (up to 4 times) when the factorisation fails.
    static let jitter = 1e-8

    let features: [[Double]]
    let targets: [Double]
    let hyperparameters: GPHyperparameters
    let cholesky: Cholesky
    /// `K⁻¹ y`.
    let alpha: [Double]
    private let inverseSquaredLengthscales: [Double]
    private let signal: Double

    init?(features: [[Double]], targets: [Double], hyperparameters: GPHyperparameters) {
        self.features = features
        self.targets = targets
        self.hyperparameters = hyperparameters
        inverseSquaredLengthscales = hyperparameters.logLengthscales.map { exp(-2 * $0) }
        signal = exp(hyperparameters.logSignal)
        let n = features.count
        var matrix = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                let k = Self.matern(squaredDistance(features[i], features[j], inverseSquaredLengthscales)) * signal
                matrix[i * n + j] = k
                matrix[j * n + i] = k
            }
        }
        var jitter = exp(hyperparameters.logNoise) + Self.jitter
        var factor: Cholesky?
        for _ in 0..<5 {
            var attempt = matrix
            for i in 0..<n { attempt[i * n + i] += jitter }
            factor = Cholesky(attempt, n: n)
            if factor != nil { break }
            jitter *= 10
        }
        guard let factor else { return nil }
        cholesky = factor
        alpha = factor.solve(targets)
    }

    /// `(1 + √5 r + 5r²/3) e^{−√5 r}` from `r²`.
    static func matern(_ r2: Double) -> Double {
        let r = (5 * r2).squareRoot()
        return (1 + r + r * r / 3) * exp(-r)
    }

    /// Posterior mean and variance at `x`.
    func predict(_ x: [Double]) -> (mean: Double, variance: Double) {
        let k = features.map { Self.matern(squaredDistance($0, x, inverseSquaredLengthscales)) * signal }
        let mean = dot(k, alpha)
        let v = cholesky.solveLower(k)
        return (mean, max(signal - dot(v, v), 1e-12))
    }

    /// The log marginal likelihood plus the log prior, and its gradient in the hyperparameters'
    /// vector (nil when the kernel matrix cannot be factorised).
    static func logPosterior(features: [[Double]], targets: [Double],
                             _ hyperparameters: GPHyperparameters) -> (value: Double, gradient: [Double])? {
        guard let gp = GaussianProcess(features: features, targets: targets, hyperparameters: hyperparameters) else { return nil }
        let n = features.count
        let dimensions = hyperparameters.logLengthscales.count
        let prior = hyperparameters.logPrior()
        let likelihood = -0.5 * dot(targets, gp.alpha) - gp.cholesky.halfLogDeterminant - 0.5 * Double(n) * log(2 * Double.pi)
        // ∂/∂θ = ½ Σᵢⱼ Wᵢⱼ ∂Kᵢⱼ/∂θ with W = ααᵀ − K⁻¹.
        var w = gp.cholesky.inverse()
        for i in 0..<n { for j in 0..<n { w[i * n + j] = gp.alpha[i] * gp.alpha[j] - w[i * n + j] } }
        var gradient = [Double](repeating: 0, count: dimensions + 2)
        let root5 = 5.0.squareRoot()
        for i in 0..<n {
            gradient[dimensions + 1] += 0.5 * w[i * n + i] * exp(hyperparameters.logNoise)
            gradient[dimensions] += 0.5 * w[i * n + i] * gp.signal
            for j in 0..<i {
                let r2 = squaredDistance(features[i], features[j], gp.inverseSquaredLengthscales)
                let r = r2.squareRoot()
                let e = exp(-root5 * r)
                let wij = w[i * n + j]
                gradient[dimensions] += wij * gp.signal * (1 + root5 * r + 5 * r2 / 3) * e
                // ∂k/∂log ℓ_d = σ_f² (5/3)(1 + √5 r) e^{−√5 r} Δ_d² / ℓ_d²
                let common = wij * gp.signal * (5.0 / 3.0) * (1 + root5 * r) * e
                for d in 0..<dimensions {
                    let delta = features[i][d] - features[j][d]
                    gradient[d] += common * delta * delta * gp.inverseSquaredLengthscales[d]
                }
            }
        }
        return (likelihood + prior.value, zip(gradient, prior.gradient).map { $0 + $1 })
    }

    /// Maximises `logPosterior` by L-BFGS from each start; the best fit found.
    static func fit(features: [[Double]], targets: [Double], starts: [GPHyperparameters]) -> GPHyperparameters {
        var best = starts[0]
        var bestValue = -Double.infinity
        let optimizer = LBFGS()
        for start in starts {
            let result = optimizer.minimize(start.vector) { vector in
                let clamped = GPHyperparameters(vector.map { min(max($0, -12), 8) })
                guard let (value, gradient) = logPosterior(features: features, targets: targets, clamped) else {
                    return (.infinity, vector.map { _ in 0 })
                }
                return (-value, gradient.map { -$0 })
            }
            if -result.value > bestValue {
                bestValue = -result.value
                best = GPHyperparameters(result.point.map { min(max($0, -12), 8) })
            }
        }
        return best
    }
}

/// `Σ_d (a_d − b_d)² · w_d`.
func squaredDistance(_ a: [Double], _ b: [Double], _ weights: [Double]) -> Double {
    var sum = 0.0
    for d in a.indices {
        let delta = a[d] - b[d]
        sum += delta * delta * weights[d]
    }
    return sum
}
