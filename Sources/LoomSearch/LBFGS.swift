/// Limited-memory BFGS (Nocedal & Wright, algorithm 7.5) with a backtracking Armijo line search,
/// for the few smooth, low-dimensional problems of LoomSearch (GP hyperparameters).
///
/// **Bounds on work.** At most `maxIterations` iterations and `maxEvaluations` evaluations;
/// the best point evaluated is returned, so a stop on either limit is still an improvement.
/// Deterministic: no randomness, plain arithmetic.
struct LBFGS: Sendable {
    var memory = 6
    var maxIterations = 30
    var maxEvaluations = 60
    /// Stops when the gradient's largest component falls below this.
    var gradientTolerance = 1e-5

    /// Minimises `f`, which returns the value and the gradient; from `start`.
    func minimize(_ start: [Double], _ f: ([Double]) -> (value: Double, gradient: [Double])) -> (point: [Double], value: Double) {
        var x = start
        var (value, gradient) = f(x)
        var evaluations = 1
        guard value.isFinite else { return (x, value) }
        var steps: [[Double]] = []
        var changes: [[Double]] = []
        for _ in 0..<maxIterations {
            guard gradient.map(abs).max() ?? 0 > gradientTolerance, evaluations < maxEvaluations else { break }
            var direction = twoLoop(gradient, steps, changes).map { -$0 }
            var slope = dot(direction, gradient)
            if slope >= 0 {
                direction = gradient.map { -$0 }
                slope = -dot(gradient, gradient)
                steps.removeAll()
                changes.removeAll()
            }
            var step = steps.isEmpty ? min(1, 1 / (dot(gradient, gradient).squareRoot())) : 1
            var accepted: (x: [Double], value: Double, gradient: [Double])?
            while evaluations < maxEvaluations {
                let candidate = zip(x, direction).map { $0 + step * $1 }
                let (v, g) = f(candidate)
                evaluations += 1
                if v.isFinite, v <= value + 1e-4 * step * slope {
                    accepted = (candidate, v, g)
                    break
                }
                step *= 0.5
            }
            guard let next = accepted else { break }
            let s = zip(next.x, x).map { $0 - $1 }
            let y = zip(next.gradient, gradient).map { $0 - $1 }
            if dot(s, y) > 1e-12 {
                steps.append(s)
                changes.append(y)
                if steps.count > memory {
                    steps.removeFirst()
                    changes.removeFirst()
                }
            }
            let improvement = value - next.value
            (x, value, gradient) = next
            if improvement < 1e-9 * max(1, abs(value)) { break }
        }
        return (x, value)
    }

    /// `H g` for the L-BFGS inverse-Hessian approximation built from the stored pairs.
    private func twoLoop(_ gradient: [Double], _ steps: [[Double]], _ changes: [[Double]]) -> [Double] {
        var q = gradient
        var alphas = [Double](repeating: 0, count: steps.count)
        for i in stride(from: steps.count - 1, through: 0, by: -1) {
            let rho = 1 / dot(changes[i], steps[i])
            alphas[i] = rho * dot(steps[i], q)
            for k in q.indices { q[k] -= alphas[i] * changes[i][k] }
        }
        if let s = steps.last, let y = changes.last {
            let scale = dot(s, y) / dot(y, y)
            for k in q.indices { q[k] *= scale }
        }
        for i in steps.indices {
            let rho = 1 / dot(changes[i], steps[i])
            let beta = rho * dot(changes[i], q)
            for k in q.indices { q[k] += (alphas[i] - beta) * steps[i][k] }
        }
        return q
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double {
    var sum = 0.0
    for i in a.indices { sum += a[i] * b[i] }
    return sum
}
