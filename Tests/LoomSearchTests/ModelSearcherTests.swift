import Foundation
import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// A deterministic objective over any config: a smooth function of the model coordinates, so
/// the model-based searchers have something to learn in every kind of space.
func syntheticLoss(_ config: Config, in space: SearchSpace) -> Double {
    let coordinates = ModelSpace(space).encode(config)
    return coordinates.enumerated().reduce(0.0) { sum, item in
        guard let u = item.element else { return sum }
        return sum + (u - 0.3 * Double(item.offset % 3)) * (u - 0.3 * Double(item.offset % 3))
    }
}

/// The model-based searchers by kind, with every option at its default.
func modelSearcher(_ kind: SearcherSpec.Kind, _ space: SearchSpace, seed: UInt64 = 7, mode: Mode = .min) -> any Searcher {
    makeSearcher(SearcherSpec(kind: kind, seed: seed), space: space, mode: mode, repeats: 1)
}

/// Suggests and completes `count` trials one at a time; BOHB also hears each result at budgets 1 and 3.
func run(_ searcher: inout any Searcher, _ space: SearchSpace, count: Int) -> [Config] {
    var configs: [Config] = []
    for _ in 0..<count {
        guard case .config(let config) = searcher.suggest(pending: []) else { break }
        let loss = syntheticLoss(config, in: space)
        searcher.observe(config: config, budget: 1, value: loss + 0.5)
        searcher.observe(config: config, budget: 3, value: loss)
        searcher.observe(config: config, value: loss, state: .complete)
        configs.append(config)
    }
    return configs
}

@Suite struct ModelSearchers {
    static let kinds: [SearcherSpec.Kind] = [.tpe, .gp, .bohb]

    @Test(arguments: kinds)
    func everyDomainKindIsSampledValidlyAfterTheModelTakesOver(kind: SearcherSpec.Kind) throws {
        let space = try Fixture.everyDomain()
        var searcher = modelSearcher(kind, space)
        let configs = run(&searcher, space, count: 40)
        #expect(configs.count == 40)
        for config in configs { #expect(space.validate(config) == nil, "\(config)") }
        #expect(Set(configs).count == configs.count)
    }

    @Test(arguments: kinds)
    func conditionalParametersAppearExactlyWhenActive(kind: SearcherSpec.Kind) throws {
        let space = try Fixture.conditional()
        var searcher = modelSearcher(kind, space)
        let configs = run(&searcher, space, count: 40)
        for config in configs { #expect(space.validate(config) == nil, "\(config)") }
        let branches = Set(configs.compactMap { $0["model"] })
        #expect(branches.count >= 2)
    }

    @Test(arguments: kinds)
    func sameSeedSameProposalsOtherSeedOthers(kind: SearcherSpec.Kind) throws {
        let space = try Fixture.everyDomain()
        var a = modelSearcher(kind, space, seed: 3)
        var b = modelSearcher(kind, space, seed: 3)
        var c = modelSearcher(kind, space, seed: 4)
        let first = run(&a, space, count: 25)
        #expect(first == run(&b, space, count: 25))
        #expect(first != run(&c, space, count: 25))
    }

    /// Results arrive out of creation order and trials stay pending across the restart; the
    /// restored searcher must continue exactly as the one that never stopped.
    @Test(arguments: kinds)
    func restoreFromHistoryContinuesExactly(kind: SearcherSpec.Kind) throws {
        let space = try Fixture.conditional()
        var live = modelSearcher(kind, space, seed: 11)
        var trials: [(config: Config, value: Double?, state: TrialState)] = []
        var intermediate: [(config: Config, budget: Double, value: Double)] = []
        var pending: [Int] = []
        for step in 0..<30 {
            guard case .config(let config) = live.suggest(pending: pending.map { trials[$0].config }) else { break }
            trials.append((config, nil, .running))
            pending.append(trials.count - 1)
            // Finish the second-oldest pending trial first, then the oldest: completion order ≠ creation order.
            if pending.count == 3 {
                for index in [pending.remove(at: 1), pending.removeFirst()] {
                    let loss = syntheticLoss(trials[index].config, in: space)
                    let state: TrialState = step % 7 == 0 ? .pruned : .complete
                    intermediate.append((trials[index].config, 1, loss + 1))
                    live.observe(config: trials[index].config, budget: 1, value: loss + 1)
                    trials[index].value = loss
                    trials[index].state = state
                    live.observe(config: trials[index].config, value: loss, state: state)
                }
            }
        }
        var restored = modelSearcher(kind, space, seed: 11)
        restored.restore(history: trials)
        for result in intermediate { restored.observe(config: result.config, budget: result.budget, value: result.value) }
        let pendingConfigs = pending.map { trials[$0].config }
        for _ in 0..<5 {
            let expected = live.suggest(pending: pendingConfigs)
            #expect(restored.suggest(pending: pendingConfigs) == expected)
        }
    }

    @Test(arguments: kinds)
    func aPendingConfigIsNotProposedAgainAndMovesTheProposal(kind: SearcherSpec.Kind) throws {
        let space = try Fixture.space((0..<3).map { Parameter(name: "x\($0)", domain: .uniform(low: 0, high: 1, q: nil)) })
        var searcher = modelSearcher(kind, space)
        _ = run(&searcher, space, count: 30)
        var alone = searcher
        guard case .config(let first) = alone.suggest(pending: []) else { Issue.record("no config"); return }
        var withPending = searcher
        guard case .config(let second) = withPending.suggest(pending: [first]) else { Issue.record("no config"); return }
        #expect(second != first)
    }

    @Test(arguments: [SearcherSpec.Kind.tpe, .gp])
    func parallelWorkersGetDistinctSuggestionsAwayFromEachOther(kind: SearcherSpec.Kind) throws {
        let space = try Fixture.space((0..<2).map { Parameter(name: "x\($0)", domain: .uniform(low: 0, high: 1, q: nil)) })
        var searcher = modelSearcher(kind, space)
        _ = run(&searcher, space, count: 30)
        let batch = Fixture.drain(&searcher, limit: 8).configs
        #expect(Set(batch).count == 8)
        let points = batch.map { c in [c["x0"]!.double!, c["x1"]!.double!] }
        var closest = Double.infinity
        for i in points.indices { for j in points.indices where j > i {
            closest = min(closest, hypot(points[i][0] - points[j][0], points[i][1] - points[j][1]))
        } }
        // Without pending-awareness the model's argmax repeats: the batch collapses to one point.
        #expect(closest > 1e-3)
    }

    /// 60 trials maximising x on [0, 1].
    static func maximising(_ kind: SearcherSpec.Kind) throws -> [Double] {
        let space = try Fixture.space([Parameter(name: "x", domain: .uniform(low: 0, high: 1, q: nil))])
        var searcher = modelSearcher(kind, space, mode: .max)
        var proposals: [Double] = []
        for _ in 0..<60 {
            guard case .config(let config) = searcher.suggest(pending: []) else { break }
            let x = config["x"]!.double!
            searcher.observe(config: config, budget: 1, value: x)
            searcher.observe(config: config, value: x, state: .complete)
            proposals.append(x)
        }
        return proposals
    }

    @Test(arguments: [SearcherSpec.Kind.tpe, .gp])
    func maximisationFindsTheMaximum(kind: SearcherSpec.Kind) throws {
        let proposals = try Self.maximising(kind)
        // Random search gets within 10⁻³ of the maximum in 60 draws with probability 1 − 0.999⁶⁰ ≈ 6 %;
        // a model-based searcher that maximises homes in on it, one that minimised would not.
        #expect(proposals.count == 60)
        #expect(proposals.max()! >= 0.999, "\(proposals)")
    }

    @Test func bohbMaximisationConcentratesNearTheMaximum() throws {
        let proposals = try Self.maximising(.bohb).sorted()
        // Random search's median of 60 draws exceeds 0.9 with probability below 10⁻³⁰.
        #expect(proposals.count == 60)
        #expect(proposals[30] > 0.9, "\(proposals)")
    }

    /// The startup proposals are the scrambled Sobol design, point for point as
    /// `QuasiRandomSearcher` proposes it; with `random_fraction: 1` every later proposal is
    /// `RandomSearcher`'s.
    @Test func randomFractionOneIsRandomSearchAfterTheSobolStartup() throws {
        let space = try Fixture.everyDomain()
        var options = TPESearcher.Options()
        options.randomFraction = 1
        options.nStartupTrials = 10
        var tpe: any Searcher = TPESearcher(space: space, mode: .min, seed: 5, options: options)
        var quasi: any Searcher = QuasiRandomSearcher(space: space, seed: 5)
        var random: any Searcher = RandomSearcher(space: space, seed: 5)
        let proposals = run(&tpe, space, count: 30)
        #expect(Array(proposals.prefix(10)) == run(&quasi, space, count: 10))
        #expect(Array(proposals.dropFirst(10)) == Array(run(&random, space, count: 30).dropFirst(10)))
    }
}
