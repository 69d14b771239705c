@testable import LoomSearch
import Testing

@Suite struct Sobol {
    @Test func unscrambledPointsMatchJoeKuoAndSciPyInDimensionsOneToThree() {
        let sobol = SobolSequence(dimensions: 3)
        let expected: [[Double]] = [
            [0, 0, 0], [0.5, 0.5, 0.5], [0.75, 0.25, 0.25], [0.25, 0.75, 0.75],
            [0.375, 0.375, 0.625], [0.875, 0.875, 0.125], [0.625, 0.125, 0.875], [0.125, 0.625, 0.375],
            [0.1875, 0.3125, 0.9375], [0.6875, 0.8125, 0.4375],
        ]
        #expect((0..<10).map { sobol.point(UInt64($0)) } == expected)
    }

    @Test func everyDirectionNumberMatchesSciPyDeepIntoTheSequence() {
        // Point 2³⁰ − 1 XORs direction numbers 1…30 of every dimension; 30-bit coordinates from
        // SciPy's qmc.Sobol(64, scramble=False, bits=30) after fast_forward(2**30 - 1).
        let expected: [UInt64] = [
            1, 858_993_459, 385_885_991, 805_503_005, 268_619_575, 784_934_857, 502_268_945, 903_271_033,
            67_436_641, 868_921_959, 997_196_295, 655_061_653, 744_030_901, 462_422_065, 724_742_933, 308_059_905,
            187_583_765, 525_530_409, 1_002_344_493, 1_056_964_611, 632_619_011, 48_168_961, 1_063_555_075,
            913_821_699, 759_153_923, 414_278_913, 950_820_099, 78_705_921, 26_022_771, 310_149_809, 733_013_587,
            906_207_283, 1_006_665_331, 1_038_365_585, 868_080_049, 777_034_417, 11_804_371, 858_793_053,
            431_050_931, 522_126_179, 569_126_247, 618_160_839, 684_141_227, 679_305_799, 88_435_769, 115_893_253,
            801_580_743, 295_248_201, 452_993_921, 663_303_033, 438_985_887, 819_253_509, 893_388_689,
            360_973_285, 97_606_883, 944_047_953, 923_074_097, 399_771_505, 441_452_925, 88_557_149, 377_948_031,
            242_861_801, 937_119_805, 499_567_131,
        ]
        let sobol = SobolSequence(dimensions: SobolSequence.maxDimensions)
        #expect(SobolSequence.maxDimensions == 64)
        #expect((0..<64).map { sobol.integerCoordinate((1 << 30) - 1, dimension: $0) >> 34 } == expected)
    }

    @Test func scrambledPointsStayInTheUnitCubeAndDependOnTheSeed() {
        let a = SobolSequence(dimensions: 64, scrambleSeed: 1)
        let points = (0..<2048).map { a.point(UInt64($0)) }
        #expect(points.allSatisfy { $0.count == 64 && $0.allSatisfy { $0 >= 0 && $0 < 1 } })
        let again = SobolSequence(dimensions: 64, scrambleSeed: 1)
        #expect(points == (0..<2048).map { again.point(UInt64($0)) })
        #expect(SobolSequence(dimensions: 64, scrambleSeed: 2).point(5) != a.point(5))
        #expect(a.point(0) != [Double](repeating: 0, count: 64), "the scramble moves the origin")
    }

    @Test func scramblingKeepsEveryOneDimensionalProjectionPerfectlyStratified() {
        // The first 2⁸ points put exactly one point in each interval of width 2⁻⁸, in all 64
        // dimensions; random points do not.
        let sobol = SobolSequence(dimensions: 64, scrambleSeed: 7)
        let points = (0..<256).map { sobol.point(UInt64($0)) }
        for d in 0..<64 {
            #expect(Set(points.map { Int($0[d] * 256) }).count == 256, "dimension \(d + 1)")
        }
    }

    @Test func scrambledPointsAreMoreUniformThanRandomOnes() {
        let sobol = SobolSequence(dimensions: 64, scrambleSeed: 3)
        var random = Xoshiro256StarStar(seed: 3)
        let quasi = (0..<1000).map { sobol.point(UInt64($0)) }
        let plain = (0..<1000).map { _ in (0..<64).map { _ in random.unit() } }
        let quasiWorst = (0..<64).map { d in Fixture.maxBinDeviation(quasi.map { $0[d] }, bins: 20) }.max()!
        let plainWorst = (0..<64).map { d in Fixture.maxBinDeviation(plain.map { $0[d] }, bins: 20) }.max()!
        #expect(quasiWorst < plainWorst / 4, "worst bin deviation: Sobol \(quasiWorst), random \(plainWorst)")
    }

    @Test func theFirstTwoScrambledDimensionsFormAZeroNet() {
        // (0, 10, 2)-net: 1024 points, one in each 2⁻⁵ × 2⁻⁵ square.
        let sobol = SobolSequence(dimensions: 2, scrambleSeed: 99)
        let cells = (0..<1024).map { n -> Int in
            let p = sobol.point(UInt64(n))
            return Int(p[0] * 32) * 32 + Int(p[1] * 32)
        }
        #expect(Set(cells).count == 1024)
    }
}

@Suite struct Halton {
    @Test func unscrambledPointsAreRadicalInversesInThePrimeBases() {
        let halton = HaltonSequence(dimensions: 3)
        #expect(halton.bases == [2, 3, 5])
        let expected: [[Double]] = [
            [0, 0, 0], [1 / 2, 1 / 3, 1 / 5], [1 / 4, 2 / 3, 2 / 5], [3 / 4, 1 / 9, 3 / 5],
            [1 / 8, 4 / 9, 4 / 5], [5 / 8, 7 / 9, 1 / 25], [3 / 8, 2 / 9, 6 / 25], [7 / 8, 5 / 9, 11 / 25],
        ]
        for (n, point) in expected.enumerated() {
            let actual = halton.point(UInt64(n))
            #expect(zip(actual, point).allSatisfy { abs($0 - $1) <= 1e-15 }, "point \(n): \(actual)")
        }
        #expect(HaltonSequence(dimensions: 10).bases == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29])
    }

    @Test func scrambledPointsStayInTheUnitCubeAndDependOnTheSeed() {
        let a = HaltonSequence(dimensions: 100, scrambleSeed: 1)
        let points = (0..<1000).map { a.point(UInt64($0)) }
        #expect(points.allSatisfy { $0.count == 100 && $0.allSatisfy { $0 >= 0 && $0 < 1 } })
        #expect(a.point(17) == HaltonSequence(dimensions: 100, scrambleSeed: 1).point(17))
        #expect(HaltonSequence(dimensions: 100, scrambleSeed: 2).point(17) != a.point(17))
    }

    @Test func scramblingKeepsEachBasePerfectlyStratified() {
        // The first bᵏ points put exactly one point in each interval of width b⁻ᵏ.
        let halton = HaltonSequence(dimensions: 5, scrambleSeed: 5)
        for (d, count) in [(0, 1024), (1, 729), (2, 625), (3, 343), (4, 1331)] {
            let values = (0..<count).map { halton.point(UInt64($0))[d] }
            #expect(Set(values.map { Int($0 * Double(count)) }).count == count, "base \(halton.bases[d])")
        }
    }

    @Test func scrambledPointsAreMoreUniformThanRandomOnes() {
        let halton = HaltonSequence(dimensions: 20, scrambleSeed: 3)
        var random = Xoshiro256StarStar(seed: 3)
        let quasi = (0..<1000).map { halton.point(UInt64($0)) }
        let plain = (0..<1000).map { _ in (0..<20).map { _ in random.unit() } }
        let quasiWorst = (0..<20).map { d in Fixture.maxBinDeviation(quasi.map { $0[d] }, bins: 20) }.max()!
        let plainWorst = (0..<20).map { d in Fixture.maxBinDeviation(plain.map { $0[d] }, bins: 20) }.max()!
        #expect(quasiWorst < plainWorst / 2, "worst bin deviation: Halton \(quasiWorst), random \(plainWorst)")
    }
}
