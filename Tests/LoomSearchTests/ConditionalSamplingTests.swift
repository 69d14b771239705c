import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

@Suite struct ConditionalSampling {
    @Test func childrenArePresentExactlyWhenTheirParentMatchesIncludingNestedChoices() throws {
        let space = try Fixture.conditional()
        var random = Xoshiro256StarStar(seed: 21)
        let n = 10_000
        var branches: [String: Int] = [:]
        var gbm = 0
        for _ in 0..<n {
            let c = config(from: (0..<space.parameters.count).map { _ in random.unit() }, in: space)
            #expect(space.validate(c) == nil)
            let model = c["model"]
            #expect((c["linear.alpha"] != nil) == (model == .string("linear")))
            #expect((c["tree.depth"] != nil) == (model == .string("tree")))
            #expect((c["tree.kind"] != nil) == (model == .string("tree")))
            #expect((c["tree.gbm.lr"] != nil) == (c["tree.kind"] == .string("gbm")))
            #expect((c["net.layers"] != nil) == (model == .string("net")))
            #expect(c["net.act"] == (model == .string("net") ? .string("relu") : nil))
            if case .string(let m)? = model { branches[m, default: 0] += 1 }
            if c["tree.gbm.lr"] != nil { gbm += 1 }
        }
        for branch in ["linear", "tree", "net"] {
            #expect(Fixture.withinBinomial(branches[branch] ?? 0, of: n, p: 1.0 / 3), "\(branch)")
        }
        #expect(Fixture.withinBinomial(gbm, of: n, p: 1.0 / 6))
    }

    @Test func inactiveParametersLeaveTheirCoordinatesUnused() throws {
        let space = try Fixture.conditional()
        // model = linear (u₀ < 1/3): only linear.alpha follows it, whatever the other coordinates.
        let a = config(from: [0.1, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1], in: space)
        let b = config(from: [0.1, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9], in: space)
        #expect(a == b)
        #expect(a["model"] == .string("linear"))
        #expect(a["linear.alpha"]?.double?.isApproximatelyEqual(to: 0.01) == true)
        #expect(Set(a.keys) == ["model", "linear.alpha"])
    }

    @Test func everySampledConfigOfEveryDomainIsValid() throws {
        let space = try Fixture.everyDomain()
        var random = Xoshiro256StarStar(seed: 4)
        for _ in 0..<10_000 {
            let c = config(from: (0..<space.parameters.count).map { _ in random.unit() }, in: space)
            #expect(space.validate(c) == nil)
            #expect(c.count == space.parameters.count)
        }
    }
}
