import Testing
@testable import LoomSearch

@Suite struct SeededRandom {
    @Test func xoshiroMatchesTheReferenceImplementationFromStateOneTwoThreeFour() {
        var random = Xoshiro256StarStar(state: (1, 2, 3, 4))
        let outputs = (0..<6).map { _ in random.next() }
        #expect(outputs == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240,
                            1_216_172_134_540_287_360, 607_988_272_756_665_600])
    }

    @Test func splitMixMatchesTheReferenceImplementation() {
        var random = SplitMix64(seed: 1_234_567)
        let outputs = (0..<5).map { _ in random.next() }
        #expect(outputs == [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                            4_593_380_528_125_082_431, 16_408_922_859_458_223_821])
    }

    @Test func streamDerivationIsPinnedSoEveryPlatformDrawsTheSameConfigs() {
        var random = Xoshiro256StarStar(seed: 42, stream: 7)
        let outputs = (0..<3).map { _ in random.next() }
        #expect(outputs == [12_954_855_290_806_859_645, 16_785_260_148_765_055_792, 6_273_103_464_736_751_252])
    }

    @Test func sameSeedAndStreamRepeatWhileOtherSeedsAndStreamsDiffer() {
        func first(_ seed: UInt64, _ stream: UInt64) -> [UInt64] {
            var random = Xoshiro256StarStar(seed: seed, stream: stream)
            return (0..<4).map { _ in random.next() }
        }
        #expect(first(5, 3) == first(5, 3))
        let variants = [first(5, 3), first(5, 4), first(6, 3), first(0, 0), first(0, 1), first(1, 0)]
        #expect(Set(variants).count == variants.count)
    }

    @Test func unitIsAMultipleOfTwoToTheMinus53InHalfOpenUnitInterval() {
        var random = Xoshiro256StarStar(seed: 9)
        for _ in 0..<100_000 {
            let u = random.unit()
            #expect(u >= 0 && u < 1)
            #expect((u * 0x1p53).rounded() == u * 0x1p53)
        }
    }

    @Test func indexBelowStaysInRangeAndIsUniform() {
        var random = Xoshiro256StarStar(seed: 3)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[random.index(below: 7)] += 1 }
        // χ² with 6 degrees of freedom exceeds 36 with probability 2·10⁻⁶.
        #expect(Fixture.chiSquare(counts) < 36)
        #expect((0..<100).allSatisfy { _ in random.index(below: 1) == 0 })
    }

    @Test func boxMullerNormalHasMeanZeroAndVarianceOne() {
        var random = Xoshiro256StarStar(seed: 11)
        let n = 20_000
        let xs = (0..<n).map { _ in random.normal() }
        let mean = xs.reduce(0, +) / Double(n)
        let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        // Standard errors: 1/√n for the mean, √(2/n) for the variance.
        #expect(abs(mean) < 6 / Double(n).squareRoot())
        #expect(abs(variance - 1) < 6 * (2 / Double(n)).squareRoot())
        #expect(xs.allSatisfy { $0.isFinite })
    }
}
