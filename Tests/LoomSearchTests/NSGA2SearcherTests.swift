import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// NSGA-II: a random first generation, exact restore, constraint handling, and progress on ZDT1.
@Suite struct NSGA2SearcherTests {
    static let problem = MultiObjectiveProblem.zdt1(n: 6)

    static func evaluation(_ config: Config, _ problem: MultiObjectiveProblem = problem) -> Evaluation {
        let (values, constraints) = problem.evaluate(config)
        let (feasible, violation) = MultiObjectiveProblem.feasibility(constraints)
        return Evaluation(config: config, state: .complete, value: values[0], values: values, feasible: feasible, violation: violation)
    }

    static func searcher(_ problem: MultiObjectiveProblem = problem, seed: UInt64 = 7, population: Int = 10) -> NSGA2Searcher {
        var options = NSGA2Searcher.Options()
        options.populationSize = population
        return NSGA2Searcher(space: problem.space, modes: Array(repeating: .min, count: problem.objectives), seed: seed, options: options)
    }

    /// Runs `count` sequential trials, each told before the next is asked.
    static func run(_ searcher: inout some Searcher, _ count: Int, _ problem: MultiObjectiveProblem = problem) -> [Evaluation] {
        var evaluations: [Evaluation] = []
        for _ in 0..<count {
            guard case .config(let config) = searcher.suggest(pending: []) else { break }
            let evaluation = evaluation(config, problem)
            searcher.observe(evaluation)
            evaluations.append(evaluation)
        }
        return evaluations
    }

    static func hypervolume(_ evaluations: [Evaluation], _ problem: MultiObjectiveProblem = problem) -> Double {
        Pareto.hypervolume(evaluations.filter(\.feasible).compactMap(\.values), reference: problem.reference)
    }

    @Test func theFirstGenerationIsRandomSearch() {
        var nsga = Self.searcher()
        var random = RandomSearcher(space: Self.problem.space, seed: 7)
        let first = Self.run(&nsga, 10).map(\.config)
        #expect(first == Fixture.proposals(&random, 10))
    }

    @Test func laterGenerationsAreBredFromTheParents() {
        var nsga = Self.searcher()
        var random = RandomSearcher(space: Self.problem.space, seed: 7)
        let bred = Self.run(&nsga, 30).map(\.config)
        let drawn = Fixture.proposals(&random, 30)
        #expect(bred[10...] != drawn[10...])
        // Uniform crossover and mutation at 1/6: most parameters of a child are a parent's.
        let parents = Set(bred[..<20].flatMap { $0.values.compactMap(\.double) })
        let inherited = bred[20...].flatMap { $0.values.compactMap(\.double) }.filter { parents.contains($0) }.count
        #expect(inherited >= 10 * 6 / 2)
    }

    @Test func restoringTheHistoryContinuesExactly() {
        var live = Self.searcher()
        let history = Self.run(&live, 37)
        var restored = Self.searcher()
        restored.restore(evaluations: history)
        for _ in 0..<15 {
            let pending: [Config] = []
            let a = live.suggest(pending: pending), b = restored.suggest(pending: pending)
            #expect(a == b)
            guard case .config(let config) = a else { return }
            live.observe(Self.evaluation(config))
            restored.observe(Self.evaluation(config))
        }
    }

    @Test func resultsArrivingInAnotherOrderGiveTheSameNextProposal() {
        var first = Self.searcher()
        var configs: [Config] = []
        for _ in 0..<25 { if case .config(let c) = first.suggest(pending: configs) { configs.append(c) } }
        var second = first
        for c in configs { first.observe(Self.evaluation(c)) }
        for c in configs.reversed() { second.observe(Self.evaluation(c)) }
        #expect(first.suggest(pending: []) == second.suggest(pending: []))
    }

    /// Parents are cached per generation; a late result of an earlier generation must drop the
    /// cached populations built without it, so the proposals equal a rebuild's and a restore's.
    @Test func lateResultsOfEarlierGenerationsRefreshTheCachedParents() {
        var live = Self.searcher(population: 5)
        var configs: [Config] = []
        var told: [Evaluation] = []
        func ask() {
            if case .config(let c) = live.suggest(pending: configs.filter { c in !told.contains { $0.config == c } }) { configs.append(c) }
        }
        func tell(_ i: Int) {
            let evaluation = Self.evaluation(configs[i])
            live.observe(evaluation)
            told.append(evaluation)
        }
        for _ in 0..<12 { ask() }                    // generations 0, 1 and two of 2
        for i in [0, 1, 2, 3, 5, 6] { tell(i) }      // gen 0 but its 5th, part of gen 1
        ask()                                        // caches P₁ and P₂ without trials 4, 7, 8, 9
        for i in [7, 4, 9, 8, 10] { tell(i) }        // late results of generations 0 and 1
        for _ in 0..<6 { ask() }
        for g in 1...3 {
            #expect(live.parentCache.count < g || live.parentCache[g - 1].map(\.config) == live.parentPopulation(of: g).map(\.config))
        }
        var restored = Self.searcher(population: 5)
        restored.restore(evaluations: configs.map { c in told.first { $0.config == c } ?? Evaluation(config: c, state: .running, value: nil) })
        let pending = configs.filter { c in !told.contains { $0.config == c } }
        #expect(live.suggest(pending: pending) == restored.suggest(pending: pending))
    }

    @Test func pendingConfigsAreNotProposedAgain() {
        var nsga = Self.searcher(population: 4)
        _ = Self.run(&nsga, 8)
        var pending: [Config] = []
        for _ in 0..<20 {
            guard case .config(let c) = nsga.suggest(pending: pending) else { return }
            #expect(!pending.contains(c))
            pending.append(c)
        }
    }

    @Test func nsga2BeatsRandomSearchOnZDT1() {
        var nsga = Self.searcher(seed: 3, population: 20)
        var random = RandomSearcher(space: Self.problem.space, seed: 3)
        let bred = Self.hypervolume(Self.run(&nsga, 400))
        let drawn = Self.hypervolume(Self.run(&random, 400))
        #expect(bred > drawn, "NSGA-II \(bred), random \(drawn)")
    }

    @Test func infeasibleTrialsLoseTheTournament() {
        var nsga = Self.searcher(MultiObjectiveProblem.bnh, seed: 5, population: 10)
        let evaluations = Self.run(&nsga, 200, MultiObjectiveProblem.bnh)
        let late = evaluations[100...].filter(\.feasible).count
        let early = evaluations[..<10].filter(\.feasible).count
        // Random points of BNH are feasible ~70% of the time; bred ones almost always are.
        #expect(Double(late) / 100 > Double(early) / 10 || late >= 95, "\(early)/10 early, \(late)/100 late")
    }

    @Test func aMaximisedObjectiveIsTurnedAround() {
        var nsga = NSGA2Searcher(space: Self.problem.space, modes: [.max, .min], seed: 1)
        nsga.observe(Evaluation(config: ["x0": .number(0.5)], state: .complete, value: 1, values: [1, 2]))
        #expect(nsga.members.first?.value.point.losses == [-1, 2])
    }
}
