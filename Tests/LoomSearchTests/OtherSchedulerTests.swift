import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// Synchronous Hyperband's brackets and rounds on a scripted sequence.
@Suite struct SynchronousHyperband {
    /// max_t 4, grace 1, η 2: s_max 2; brackets of 4 trials at 1, 2, 4; 3 at 2, 4; 3 at 4.
    func scheduler(brackets: Int? = nil) -> HyperbandScheduler {
        HyperbandScheduler(spec: SchedulerSpec(kind: .hyperband, resource: "epoch", maxT: 4, gracePeriod: 1, reductionFactor: 2,
                                               brackets: brackets), mode: .min)
    }

    @Test func thePlanFollowsLiEtAl() {
        #expect(scheduler().plan == [.init(size: 4, levels: [1, 2, 4]), .init(size: 3, levels: [2, 4]), .init(size: 3, levels: [4])])
        #expect(scheduler(brackets: 1).plan == [.init(size: 4, levels: [1, 2, 4])], "successive halving")
        let classic = HyperbandScheduler(spec: SchedulerSpec(kind: .hyperband, maxT: 81, gracePeriod: 1), mode: .min)
        #expect(classic.plan.map(\.size) == [81, 34, 15, 8, 5])
        #expect(classic.plan.map { $0.levels.first! } == [1, 3, 9, 27, 81])
    }

    @Test func eachRoundWaitsForAllItsTrialsThenPromotesTheBestAndPrunesTheRest() {
        var s = scheduler()
        for n in 1...4 {
            #expect(s.onFreeSlot(mayCreate: true) == .new)
            #expect(s.onTrialAdd(trial: n, config: [:]) == 1)
        }
        #expect(s.onFreeSlot(mayCreate: true) == .wait, "the bracket has its 4 trials")
        let waiting = SchedulerDecision.pause(reason: "paused at rung 1 (epoch 1) until its 4 trials have results")
        #expect(s.onResult(trial: 1, time: 1, value: 0.4) == waiting)
        #expect(s.onResult(trial: 2, time: 1, value: 0.1) == waiting)
        #expect(s.onResult(trial: 3, time: 1, value: 0.3) == waiting)
        #expect(s.onFreeSlot(mayCreate: true) == .wait)
        s.onTrialRemove(trial: 4) // failed: counts as the worst, is not pruned again
        #expect(s.takeAbandoned().map(\.trial) == [1])
        #expect(s.resumeBudget(trial: 2) == 2 && s.resumeBudget(trial: 1) == nil)
        #expect(s.onFreeSlot(mayCreate: true) == .resume(trial: 2, budget: 2, reason: "promoted from rung 1 (epoch 1) to epoch 2"))
        #expect(s.onFreeSlot(mayCreate: true) == .resume(trial: 3, budget: 2, reason: "promoted from rung 1 (epoch 1) to epoch 2"))
        #expect(s.onFreeSlot(mayCreate: true) == .wait)
        #expect(s.onResult(trial: 2, time: 1.5, value: 0.07) == .continue)
        #expect(s.onResult(trial: 2, time: 2, value: 0.05) == .pause(reason: "paused at rung 2 (epoch 2) until its 2 trials have results"))
        #expect(s.onAttemptEnd(trial: 3, time: 2, value: 0.2) == .pause(reason: "paused at rung 2 (epoch 2) until its 2 trials have results"),
                "a budget-style job's final result")
        let pruned = s.takeAbandoned()
        #expect(pruned.map(\.trial) == [3])
        #expect(pruned.first?.reason == "pruned at rung 2 (epoch 2): not in the top 1 of 2")
        #expect(s.onFreeSlot(mayCreate: true) == .resume(trial: 2, budget: 4, reason: "promoted from rung 2 (epoch 2) to epoch 4"))
        #expect(s.onFreeSlot(mayCreate: true) == .wait)
        #expect(s.onResult(trial: 2, time: 4, value: 0.03) == .continue, "the last rung completes")
        #expect(s.onFreeSlot(mayCreate: true) == .new, "the next bracket")
        #expect(s.onTrialAdd(trial: 5, config: [:]) == 2)
    }

    @Test func withNoMoreTrialsTheFirstRoundClosesWithThoseItHas() {
        var s = scheduler()
        for n in 1...3 {
            _ = s.onFreeSlot(mayCreate: true)
            _ = s.onTrialAdd(trial: n, config: [:])
        }
        for (n, v) in [(1, 0.3), (2, 0.2), (3, 0.1)] { _ = s.onResult(trial: n, time: 1, value: v) }
        #expect(s.onFreeSlot(mayCreate: false) == .resume(trial: 3, budget: 2, reason: "promoted from rung 1 (epoch 1) to epoch 2"))
        #expect(s.takeAbandoned().map(\.trial) == [2, 1])
    }
}

/// The median stopping rule, decision by decision.
@Suite struct MedianStopping {
    @Test func aTrialWhoseBestIsWorseThanTheMedianRunningAverageStops() {
        var s = MedianStoppingScheduler(spec: SchedulerSpec(kind: .medianStopping, resource: "epoch", gracePeriod: 2,
                                                            minSamplesRequired: 2), mode: .min)
        for (t, v) in [(1.0, 1.0), (2, 0.8), (3, 0.6)] { #expect(s.onResult(trial: 1, time: t, value: v) == .continue) }
        #expect(s.onResult(trial: 2, time: 1, value: 0.9) == .continue, "within the grace period")
        #expect(s.onResult(trial: 2, time: 2, value: 0.7) == .continue, "one other trial only")
        #expect(s.onResult(trial: 2, time: 3, value: 0.5) == .continue)
        #expect(s.onResult(trial: 3, time: 1, value: 2.0) == .continue)
        // Running averages at epoch 2: trial 1 (1.0 + 0.8)/2 = 0.9, trial 2 0.8; median 0.85.
        #expect(s.onResult(trial: 3, time: 2, value: 1.5)
                    == .stop(reason: "pruned at epoch 2: best 1.5 is worse than the median running average 0.85 of 2 trials"))
        // Trial 3 stays a reference: averages 0.9, 0.8, 1.75 → median 0.9; 0.5 is better.
        #expect(s.onResult(trial: 4, time: 2, value: 0.5) == .continue)
        #expect(s.onResult(trial: 4, time: 3, value: 0.95) == .continue, "its best (0.5) counts, not its latest")
    }
}

/// PBT's exploit and explore decisions.
@Suite struct PopulationBasedTraining {
    static let space = try! SearchSpace([
        Parameter(name: "lr", domain: .logUniform(low: 0.001, high: 1, q: nil)),
        Parameter(name: "layers", domain: .randInt(low: 1, high: 10, q: nil)),
        Parameter(name: "opt", domain: .choice([.string("sgd"), .string("adam"), .string("rmsprop")])),
    ])

    func config(_ lr: Double, _ layers: Double, _ opt: String) -> Config {
        ["lr": .number(lr), "layers": .number(layers), "opt": .string(opt)]
    }

    func population(_ spec: SchedulerSpec, seed: UInt64 = 5) -> PBTScheduler {
        var s = PBTScheduler(spec: spec, space: Self.space, mode: .max, seed: seed)
        let configs = [config(0.1, 2, "sgd"), config(0.2, 4, "adam"), config(0.3, 6, "adam"), config(0.5, 5, "adam")]
        for (i, c) in configs.enumerated() {
            #expect(s.onTrialAdd(trial: i + 1, config: c) == nil)
            #expect(s.onResult(trial: i + 1, time: 1, value: Double(i + 1) / 10) == .continue, "not ready before the interval")
        }
        return s
    }

    @Test func aReadyTrialInTheBottomQuantileCopiesATopTrialAndPerturbsIt() throws {
        let spec = SchedulerSpec(kind: .pbt, resource: "epoch", perturbationInterval: 2, resampleProbability: 0)
        var s = population(spec)
        #expect(s.onResult(trial: 4, time: 2, value: 0.45) == .continue, "top quantile")
        guard case .exploit(let donor, let explored, let reason) = s.onResult(trial: 1, time: 2, value: 0.15) else {
            Issue.record("trial 1 is in the bottom quantile (k = ⌈4·0.25⌉ = 1)")
            return
        }
        #expect(donor == 4 && reason == "exploited trial 4 at epoch 2")
        let lr = try #require(explored["lr"]?.double)
        #expect(abs(lr - 0.6) < 1e-12 || abs(lr - 0.4) < 1e-12, "0.5 × 1.2 or × 0.8")
        #expect([4.0, 6.0].contains(explored["layers"]?.double ?? 0), "5 × 0.8 or × 1.2, rounded")
        #expect([JSONValue.string("sgd"), .string("rmsprop")].contains(explored["opt"]!), "a neighbouring category")
        // Same seed, same events: the same decision (a replay after a restart).
        var again = population(spec)
        _ = again.onResult(trial: 4, time: 2, value: 0.45)
        #expect(again.onResult(trial: 1, time: 2, value: 0.15) == .exploit(donor: 4, config: explored, reason: reason))
        // Trial 1 now carries the donor's score: trial 2 is the bottom one.
        #expect(s.onResult(trial: 3, time: 2, value: 0.3) == .continue)
        if case .exploit(let d, _, _) = s.onResult(trial: 2, time: 2, value: 0.2) {
            #expect(d == 4, "trials 1 and 4 tie at 0.45; ranked by trial number, 4 is the top one")
        } else {
            Issue.record("trial 2 should exploit")
        }
        #expect(s.onResult(trial: 2, time: 3, value: 0.01) == .continue, "not ready again before epoch 4")
        var bounded = population(SchedulerSpec(kind: .pbt, resource: "epoch", maxT: 2, perturbationInterval: 2))
        #expect(bounded.onResult(trial: 1, time: 2, value: 0.15) == .continue, "nothing left to train at max_t")
    }

    @Test func resamplingDrawsFromTheSpaceAndOnlyTheMutatedParametersChange() {
        let spec = SchedulerSpec(kind: .pbt, resource: "epoch", perturbationInterval: 2, resampleProbability: 1,
                                 hyperparamMutations: ["lr"])
        var s = population(spec)
        guard case .exploit(_, let explored, _) = s.onResult(trial: 1, time: 2, value: 0.05) else {
            Issue.record("trial 1 should exploit")
            return
        }
        #expect(explored["layers"] == .number(5) && explored["opt"] == .string("adam"), "copied from the donor")
        #expect(Self.space.parameters[0].domain.contains(explored["lr"]!))
    }

    @Test func nothingHappensWithFewerThanTwoScoredTrials() {
        var s = PBTScheduler(spec: SchedulerSpec(kind: .pbt, perturbationInterval: 1), space: Self.space, mode: .min, seed: 1)
        _ = s.onTrialAdd(trial: 1, config: config(0.1, 2, "sgd"))
        _ = s.onTrialAdd(trial: 2, config: config(0.1, 2, "sgd"))
        #expect(s.onResult(trial: 1, time: 1, value: 9) == .continue)
        s.onTrialRemove(trial: 2)
        #expect(s.onResult(trial: 1, time: 2, value: 10) == .continue)
    }
}
