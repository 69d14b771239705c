import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

@Suite struct BOHBBudgets {
    static func space() throws -> SearchSpace {
        try Fixture.space([Parameter(name: "x", domain: .uniform(low: 0, high: 1, q: nil)),
                           Parameter(name: "y", domain: .uniform(low: 0, high: 1, q: nil))])
    }

    static func point(_ i: Int, of n: Int) -> Config {
        let x = (Double(i) + 0.5) / Double(n)
        return ["x": .number(x), "y": .number(Double((i * 7) % n) / Double(n))]
    }

    static func searcher(randomFraction: Double = 0) throws -> BOHBSearcher {
        var options = BOHBSearcher.Options()
        options.randomFraction = randomFraction
        return BOHBSearcher(space: try space(), mode: .min, seed: 1, options: options)
    }

    @Test func theLargestBudgetWithEnoughResultsHasTheModel() throws {
        var bohb = try Self.searcher()
        #expect(bohb.modelBudget() == nil)
        // d = 2, so min_points_in_model = 3 and each group needs more than 2 points.
        for i in 0..<20 { bohb.observe(config: Self.point(i, of: 20), budget: 1, value: Double(i)) }
        for i in 0..<8 { bohb.observe(config: Self.point(i, of: 8), budget: 3, value: Double(i)) }
        for i in 0..<5 { bohb.observe(config: Self.point(i, of: 5), budget: 9, value: Double(i)) }
        // Budget 9: 5 results → good 3, bad the remaining 2: not enough. Budget 3: 8 → good 3, bad 5.
        #expect(bohb.modelBudget()?.budget == 3)
        #expect(bohb.modelBudget()?.good.count == 3)
        #expect(bohb.modelBudget()?.bad.count == 5)
        bohb.observe(config: Self.point(5, of: 6), budget: 9, value: 10)
        #expect(bohb.modelBudget()?.budget == 9)
    }

    @Test func finalResultsFormTheModelOnlyWithoutIntermediateOnes() throws {
        var bohb = try Self.searcher()
        for i in 0..<8 { bohb.observe(config: Self.point(i, of: 8), value: Double(i), state: .complete) }
        #expect(bohb.modelBudget()?.budget == .infinity)
        bohb.observe(config: Self.point(0, of: 8), budget: 1, value: 0)
        #expect(bohb.modelBudget() == nil)
    }

    @Test func aLaterResultForTheSameConfigAndBudgetReplacesTheEarlier() throws {
        var bohb = try Self.searcher()
        for i in 0..<8 { bohb.observe(config: Self.point(i, of: 8), budget: 3, value: Double(i)) }
        bohb.observe(config: Self.point(7, of: 8), budget: 3, value: -1)
        let model = try #require(bohb.modelBudget())
        #expect(model.good.count + model.bad.count == 8)
        #expect(model.good.first == ModelSpace(try Self.space()).encode(Self.point(7, of: 8)))
    }

    /// Budget 1 says small x is good, budget 3 says large x is good: proposals follow budget 3.
    @Test func proposalsFollowTheChosenBudgetsModel() throws {
        var bohb = try Self.searcher()
        for i in 0..<30 { bohb.observe(config: Self.point(i, of: 30), budget: 1, value: Double(i)) }
        for i in 0..<12 { bohb.observe(config: Self.point(i, of: 12), budget: 3, value: -Double(i)) }
        var xs: [Double] = []
        for _ in 0..<20 {
            guard case .config(let config) = bohb.suggest(pending: []) else { break }
            xs.append(config["x"]!.double!)
        }
        #expect(xs.count == 20)
        #expect(xs.filter { $0 > 0.5 }.count >= 18, "\(xs)")
    }

    /// Proposal k is random search's k-th proposal exactly when it is one of the random fraction.
    @Test func randomFractionOfProposalsAreRandomSearchsOwn() throws {
        var bohb = try Self.searcher(randomFraction: 0.25)
        for i in 0..<12 { bohb.observe(config: Self.point(i, of: 12), budget: 3, value: -Double(i)) }
        var random = RandomSearcher(space: try Self.space(), seed: 1)
        let n = 200
        var matches = 0
        for _ in 0..<n {
            if bohb.suggest(pending: []) == random.suggest(pending: []) { matches += 1 }
        }
        #expect(Fixture.withinBinomial(matches, of: n, p: 0.25))
    }
}
