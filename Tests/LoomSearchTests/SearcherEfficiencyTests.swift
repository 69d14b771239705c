import LoomModel
@testable import LoomSearch
import Testing

/// TPE and GP against random search on the 5-d sphere, 60 sequential trials, seeds 0–9.
///
/// **Margin.** Per seed, the model-based searcher wins when its best value after 60 trials is
/// lower than random search's with the same seed. We require at least 9 wins of 10. A searcher
/// no better than random wins each seed with probability ½ (independently across seeds), so it
/// passes with probability P(Bin(10, ½) ≥ 9) = 11/1024 ≈ 1.1 %; the figure would have to be
/// that unlucky on this fixed seed set. Both also must cut random search's median regret by half.
@Suite(.timeLimit(.minutes(10))) struct SearcherEfficiency {
    static let trials = 60
    static let seeds: [UInt64] = Array(0..<10)

    @Test(arguments: [SearcherSpec.Kind.tpe, .gp])
    func beatsRandomSearchOnTheSphere(kind: SearcherSpec.Kind) {
        let function = BenchmarkFunction.sphere(5)
        var wins = 0
        var modelRegrets: [Double] = []
        var randomRegrets: [Double] = []
        for seed in Self.seeds {
            var model = makeSearcher(SearcherSpec(kind: kind, seed: seed), space: function.space, mode: .min, repeats: 1)
            var random: any Searcher = RandomSearcher(space: function.space, seed: seed)
            let modelBest = bestValues(of: &model, on: function, trials: Self.trials).last!
            let randomBest = bestValues(of: &random, on: function, trials: Self.trials).last!
            if modelBest < randomBest { wins += 1 }
            modelRegrets.append(modelBest - function.minimum)
            randomRegrets.append(randomBest - function.minimum)
        }
        let medianModel = modelRegrets.sorted()[5]
        let medianRandom = randomRegrets.sorted()[5]
        #expect(wins >= 9, "\(kind.rawValue) won \(wins) of 10 seeds")
        #expect(medianModel < 0.5 * medianRandom, "median regret \(medianModel) vs random \(medianRandom)")
    }
}
