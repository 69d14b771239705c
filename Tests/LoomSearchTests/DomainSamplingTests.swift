import Foundation
import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

@Suite struct DomainSampling {
    static let bounded: [Domain] = [
        .uniform(low: -2, high: 3, q: nil),
        .uniform(low: 0.1, high: 1, q: 0.25),
        .logUniform(low: 1e-4, high: 1e-1, q: nil),
        .logUniform(low: 1e-3, high: 1, q: 1e-3),
        .randInt(low: -3, high: 4, q: nil),
        .randInt(low: 1, high: 20, q: 3),
        .randInt(low: 0, high: 100, q: 10),
        .logRandInt(low: 1, high: 1000),
        .logRandInt(low: 5, high: 6),
        .choice([.string("a"), .number(2), .bool(true)]),
        .ordinal([.number(8), .number(16)]),
        .grid([.string("x")]),
        .constant(.string("fixed")),
    ]

    @Test(arguments: bounded)
    func tenThousandSamplesStayInTheDomain(_ domain: Domain) {
        let samples = Fixture.samples(domain)
        #expect(samples.allSatisfy(domain.contains))
        let edges = [0, 1e-300, 0.5, 1.0.nextDown, 1, -1, 2, .nan].map(domain.value(at:))
        #expect(edges.allSatisfy(domain.contains), "coordinates at and beyond the ends are clamped")
    }

    @Test func integerDomainsGiveIntegralNumbers() {
        for domain in [Domain.randInt(low: -3, high: 4, q: nil), .randInt(low: 1, high: 20, q: 3), .logRandInt(low: 1, high: 1000)] {
            #expect(Fixture.numbers(domain).allSatisfy { $0.rounded() == $0 })
        }
    }

    @Test func randIntExcludesHighAndHitsEveryOtherValueUniformly() {
        let values = Fixture.numbers(.randInt(low: -3, high: 4, q: nil)).map(Int.init)
        #expect(Set(values) == Set(-3...3))
        let counts = (-3...3).map { v in values.filter { $0 == v }.count }
        // χ² with 6 degrees of freedom exceeds 36 with probability 2·10⁻⁶.
        #expect(Fixture.chiSquare(counts) < 36)
        #expect(Domain.randInt(low: 0, high: 5, q: nil).value(at: 1.0.nextDown) == .number(4))
    }

    @Test func logUniformPutsEqualSharesInEveryDecade() {
        // Four decades: each holds a quarter of log-uniform samples, while uniform sampling
        // would put 90 % into the top one.
        let n = 10_000
        let values = Fixture.numbers(.logUniform(low: 1e-4, high: 1, q: nil), count: n)
        for decade in -4..<0 {
            let count = values.filter { $0 >= pow(10, Double(decade)) && $0 < pow(10, Double(decade + 1)) }.count
            #expect(Fixture.withinBinomial(count, of: n, p: 0.25), "decade 1e\(decade) holds \(count) of \(n)")
        }
    }

    @Test func logRandIntPutsEqualSharesInEveryDecade() {
        let n = 10_000
        let values = Fixture.numbers(.logRandInt(low: 1, high: 10_000), count: n)
        for decade in 0..<4 {
            let count = values.filter { $0 >= pow(10, Double(decade)) && $0 < pow(10, Double(decade + 1)) }.count
            #expect(Fixture.withinBinomial(count, of: n, p: 0.25), "decade 1e\(decade) holds \(count) of \(n)")
        }
        #expect(values.max()! <= 9999)
    }

    @Test func qRoundsToMultiplesOfQWithinTheBounds() {
        func isMultiple(_ x: Double, of q: Double) -> Bool { abs(x / q - (x / q).rounded()) < 1e-9 }
        let cases: [(Domain, Double)] = [
            (.uniform(low: -1, high: 1, q: 0.25), 0.25),
            (.uniform(low: 0.1, high: 1, q: 0.25), 0.25),
            (.logUniform(low: 1e-3, high: 1, q: 1e-3), 1e-3),
            (.normal(mean: 0, sd: 1, q: 0.5), 0.5),
            (.randInt(low: 1, high: 20, q: 3), 3),
        ]
        for (domain, q) in cases {
            let values = Fixture.numbers(domain)
            #expect(values.allSatisfy { isMultiple($0, of: q) }, "\(domain)")
        }
        // Rounding may hit both bounds (Ray Tune), with half weight for the end multiples…
        let quarters = Fixture.numbers(.uniform(low: 0, high: 1, q: 0.25))
        #expect(Set(quarters) == [0, 0.25, 0.5, 0.75, 1])
        #expect(Fixture.withinBinomial(quarters.filter { $0 == 1 }.count, of: quarters.count, p: 0.125))
        // …but never leaves them: 0 is the nearest multiple to samples near 0.1, yet below low.
        #expect(Set(Fixture.numbers(.uniform(low: 0.1, high: 1, q: 0.25))) == [0.25, 0.5, 0.75, 1])
        #expect(Domain.uniform(low: 0.1, high: 0.3, q: 0.1).value(at: 1.0.nextDown) == .number(0.3))
    }

    @Test func qRandIntIsUniformOverTheMultiplesWithHighInclusive() {
        let values = Fixture.numbers(.randInt(low: 1, high: 18, q: 3)).map(Int.init)
        #expect(Set(values) == [3, 6, 9, 12, 15, 18])
        let counts = [3, 6, 9, 12, 15, 18].map { v in values.filter { $0 == v }.count }
        // χ² with 5 degrees of freedom exceeds 33 with probability 3·10⁻⁶.
        #expect(Fixture.chiSquare(counts) < 33)
    }

    @Test func normalHasTheRequestedMeanAndSpreadAndIsSymmetric() {
        let n = 10_000
        let values = Fixture.numbers(.normal(mean: 3, sd: 2, q: nil), count: n)
        let mean = values.reduce(0, +) / Double(n)
        let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot()
        #expect(abs(mean - 3) < 6 * 2 / Double(n).squareRoot())
        #expect(abs(sd - 2) < 6 * 2 / (2 * Double(n)).squareRoot())
        let within1 = values.filter { abs($0 - 3) < 2 }.count
        #expect(Fixture.withinBinomial(within1, of: n, p: 0.682_689_492_137_085_9))
        let standard = Domain.normal(mean: 0, sd: 1, q: nil)
        for u in [0, 0.25, 0.4, 0.5 - 0x1p-53] {
            #expect(standard.value(at: u).double == -standard.value(at: 1 - 0x1p-53 - u).double!)
        }
        #expect(abs(standard.value(at: 0).double! + 8.292_361_075_813_597) < 1e-12)
    }

    @Test func categoricalDomainsAreSampledUniformly() {
        let letters: [JSONValue] = ["a", "b", "c", "d", "e"].map(JSONValue.string)
        for domain in [Domain.choice(letters), .ordinal(letters), .grid(letters)] {
            let values = Fixture.samples(domain)
            let counts = letters.map { l in values.filter { $0 == l }.count }
            // χ² with 4 degrees of freedom exceeds 30 with probability 5·10⁻⁶.
            #expect(Fixture.chiSquare(counts) < 30, "\(counts)")
        }
    }

    @Test func theMappingIsTheInverseDistributionFunctionExactly() {
        #expect(Domain.uniform(low: 0, high: 10, q: nil).value(at: 0.25) == .number(2.5))
        #expect(Domain.logUniform(low: 1, high: 100, q: nil).value(at: 0.5).double!.isApproximatelyEqual(to: 10))
        #expect(Domain.randInt(low: 0, high: 4, q: nil).value(at: 0.5) == .number(2))
        #expect(Domain.randInt(low: 0, high: 4, q: nil).value(at: 0.249) == .number(0))
        #expect(Domain.logRandInt(low: 1, high: 100).value(at: 0.5) == .number(10))
        #expect(Domain.choice([.string("a"), .string("b"), .string("c")]).value(at: 0.99) == .string("c"))
        #expect(Domain.normal(mean: 1, sd: 2, q: nil).value(at: 0.5).double!.isApproximatelyEqual(to: 1))
        #expect(Domain.constant(.number(7)).value(at: 0.3) == .number(7))
    }

    @Test func standardNormalQuantileMatchesReferenceValues() {
        // Reference values: SciPy's norm.ppf.
        let reference: [(Double, Double)] = [
            (0.5, 0), (0.975, 1.959_963_984_540_054), (0.001, -3.090_232_306_167_813),
            (0.2, -0.841_621_233_572_914_2), (1e-10, -6.361_340_902_404_056), (1e-300, -37.047_096_299_361_2),
        ]
        for (p, z) in reference {
            #expect(abs(standardNormalQuantile(p) - z) <= 1e-15 * max(1, abs(z)), "Φ⁻¹(\(p))")
        }
        #expect(standardNormalQuantile(0) == -.infinity && standardNormalQuantile(1) == .infinity)
        #expect(standardNormalQuantile(1.5).isNaN)
    }
}

extension Double {
    func isApproximatelyEqual(to other: Double) -> Bool { abs(self - other) <= 1e-12 * max(1, abs(other)) }
}
