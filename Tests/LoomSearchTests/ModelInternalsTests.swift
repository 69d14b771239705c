import Foundation
import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

@Suite struct ModelInternals {
    @Test func unitCoordinatesInvertDomainValuesForEveryDomain() throws {
        let space = try Fixture.everyDomain()
        var random = Xoshiro256StarStar(seed: 2)
        for parameter in space.parameters {
            for _ in 0..<500 {
                let value = parameter.domain.value(at: random.unit())
                let u = try #require(parameter.domain.unitCoordinate(of: value), "\(parameter.name) \(value)")
                #expect((0...1).contains(u))
                let back = parameter.domain.value(at: u)
                if case .number(let x) = value, case .number(let y) = back {
                    #expect(abs(x - y) <= 1e-9 * max(1, abs(x)), "\(parameter.name): \(x) → \(u) → \(y)")
                } else {
                    #expect(back == value, "\(parameter.name)")
                }
            }
        }
    }

    @Test func optunaNeighbourBandwidths() {
        // Centres 0.2, 0.5, 0.9 with bounds 0 and 1: gaps 0.2, 0.3, 0.4, 0.1.
        #expect(ParzenEstimator.neighbourBandwidths([0.5, 0.2, 0.9], considerEndpoints: true).map { ($0 * 1e9).rounded() / 1e9 }
                    == [0.4, 0.3, 0.4])
        // Without endpoints, the outermost use their inner gap: 0.3 for 0.2, 0.4 for 0.9.
        #expect(ParzenEstimator.neighbourBandwidths([0.5, 0.2, 0.9], considerEndpoints: false).map { ($0 * 1e9).rounded() / 1e9 }
                    == [0.4, 0.3, 0.4])
        // 0.6 and 0.7: the bound 0 is 0.6 away, but without endpoints only the 0.1 gap counts.
        #expect(ParzenEstimator.neighbourBandwidths([0.6, 0.7], considerEndpoints: true).map { ($0 * 1e9).rounded() / 1e9 } == [0.6, 0.3])
        #expect(ParzenEstimator.neighbourBandwidths([0.6, 0.7], considerEndpoints: false).map { ($0 * 1e9).rounded() / 1e9 } == [0.1, 0.1])
    }

    @Test func radixArgsortIsAStableSort() {
        var random = Xoshiro256StarStar(seed: 4)
        let keys = (0..<5000).map { _ in random.index(below: 3) == 0 ? 0.25 : random.unit() } + [0, 1, 1e-300, 0x1p-1074]
        let expected = keys.indices.sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }
        #expect(radixArgsort(keys) == expected)
    }

    @Test func optunaDefaultWeights() {
        #expect(TPESearcher.weights(3) == [1, 1, 1])
        let w = TPESearcher.weights(30)
        #expect(w.count == 30)
        #expect(abs(w[0] - 1.0 / 30) < 1e-12)
        #expect(abs(w[4] - 1) < 1e-12)
        #expect(w.suffix(25).allSatisfy { $0 == 1 })
    }

    @Test func parzenDensityIntegratesToOneOnTheUnitInterval() {
        let estimator = ParzenEstimator(columns: [[0.1, 0.15, 0.8]], weights: [1, 1, 1], categoryCounts: [0],
                                        priorWeight: 1, considerEndpoints: false)
        let n = 20_000
        let points = (0..<n).map { [(Double($0) + 0.5) / Double(n)] }
        let integral = estimator.logDensities(points).reduce(0) { $0 + exp($1) } / Double(n)
        #expect(abs(integral - 1) < 1e-3)
        let categorical = ParzenEstimator(columns: [[0, 2]], weights: [1, 1], categoryCounts: [3], priorWeight: 1,
                                          considerEndpoints: false)
        let total = categorical.logDensities([[0], [1], [2]]).reduce(0) { $0 + exp($1) }
        #expect(abs(total - 1) < 1e-12)
    }

    /// Reference values: Optuna 5.0.0's `_ParzenEstimator(...).log_pdf` on the same observations
    /// (FloatDistribution(0, 1) and CategoricalDistribution([x, y, z]), default weights, magic clip).
    @Test func parzenDensitiesEqualOptunas() {
        let numeric = ParzenEstimator(columns: [[0.1, 0.5, 0.3, 0.8], [0.2, 0.9, 0.35, 0.1]], weights: [1, 1, 1, 1],
                                      categoryCounts: [0, 0], priorWeight: 1, considerEndpoints: false)
        let expected = [0.69748241, -0.34313828, 0.19473223]
        for (value, reference) in zip(numeric.logDensities([[0.2, 0.3], [0.6, 0.6], [0.95, 0.05]]), expected) {
            #expect(abs(value - reference) < 1e-8)
        }
        let mixed = ParzenEstimator(columns: [[0.1, 0.5, 0.3, 0.8, 0.3], [0, 2, 2, 1, 2]], weights: [1, 1, 1, 1, 1],
                                    categoryCounts: [0, 3], priorWeight: 0.5, considerEndpoints: true)
        let expectedMixed = [-0.7116691334009284, -0.71697166090986, -1.2614428882617266]
        for (value, reference) in zip(mixed.logDensities([[0.2, 0], [0.6, 2], [0.95, 1]]), expectedMixed) {
            #expect(abs(value - reference) < 1e-12)
        }
    }

    @Test func choleskySolvesAndInverts() throws {
        let a: [Double] = [4, 12, -16, 12, 37, -43, -16, -43, 98]
        let factor = try #require(Cholesky(a, n: 3))
        #expect(factor.lower == [2, 0, 0, 6, 1, 0, -8, 5, 3])
        let x = factor.solve([1, 2, 3])
        for i in 0..<3 {
            let row = (0..<3).reduce(0.0) { $0 + a[i * 3 + $1] * x[$1] }
            #expect(abs(row - Double(i + 1)) < 1e-9)
        }
        let inverse = factor.inverse()
        for i in 0..<3 { for j in 0..<3 {
            let product = (0..<3).reduce(0.0) { $0 + a[i * 3 + $1] * inverse[$1 * 3 + j] }
            #expect(abs(product - (i == j ? 1 : 0)) < 1e-9)
        } }
        #expect(Cholesky([1, 2, 2, 1], n: 2) == nil)
    }

    @Test func marginalLikelihoodGradientMatchesFiniteDifferences() throws {
        var random = Xoshiro256StarStar(seed: 8)
        let features = (0..<12).map { _ in [random.unit(), random.unit(), random.unit()] }
        let targets = features.map { sin(3 * $0[0]) + $0[1] * $0[1] - 0.5 * $0[2] }
        let theta = GPHyperparameters(logLengthscales: [log(0.4), log(0.9), log(1.3)], logSignal: 0.2, logNoise: log(1e-2))
        let (value, gradient) = try #require(GaussianProcess.logPosterior(features: features, targets: targets, theta))
        #expect(value.isFinite)
        for i in theta.vector.indices {
            var up = theta.vector, down = theta.vector
            up[i] += 1e-5
            down[i] -= 1e-5
            let numeric = (GaussianProcess.logPosterior(features: features, targets: targets, GPHyperparameters(up))!.value
                - GaussianProcess.logPosterior(features: features, targets: targets, GPHyperparameters(down))!.value) / 2e-5
            #expect(abs(numeric - gradient[i]) < 1e-4 * max(1, abs(numeric)), "θ[\(i)]: \(numeric) vs \(gradient[i])")
        }
    }

    @Test func fittedProcessInterpolatesASmoothFunction() throws {
        var random = Xoshiro256StarStar(seed: 9)
        let features = (0..<30).map { _ in [random.unit(), random.unit()] }
        let targets = features.map { sin(4 * $0[0]) + cos(3 * $0[1]) }
        let theta = GaussianProcess.fit(features: features, targets: targets, starts: [.initial(features: 2)])
        let process = try #require(GaussianProcess(features: features, targets: targets, hyperparameters: theta))
        var worst = 0.0
        for _ in 0..<50 {
            let x = [0.1 + 0.8 * random.unit(), 0.1 + 0.8 * random.unit()]
            worst = max(worst, abs(process.predict(x).mean - (sin(4 * x[0]) + cos(3 * x[1]))))
        }
        #expect(worst < 0.1)
    }

    @Test func lbfgsMinimisesRosenbrock() {
        let result = LBFGS(maxIterations: 200, maxEvaluations: 1000).minimize([-1.2, 1]) { x in
            let value = 100 * pow(x[1] - x[0] * x[0], 2) + pow(1 - x[0], 2)
            let gradient = [-400 * x[0] * (x[1] - x[0] * x[0]) - 2 * (1 - x[0]), 200 * (x[1] - x[0] * x[0])]
            return (value, gradient)
        }
        #expect(result.value < 1e-6)
    }
}
