import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// ASHA's rung and promotion bookkeeping on scripted sequences of results.
@Suite struct ASHAStopping {
    /// max_t 9, grace 1, η 3: rungs at epoch 1 and 3; minimising.
    func scheduler() -> ASHAScheduler {
        var s = ASHAScheduler(spec: SchedulerSpec(kind: .asha, resource: "epoch", maxT: 9, gracePeriod: 1, reductionFactor: 3),
                              mode: .min, seed: 7)
        for n in 1...4 { #expect(s.onTrialAdd(trial: n, config: [:]) == 9, "a stopping ASHA job runs to max_t") }
        return s
    }

    @Test func aTrialBelowTheRungCutoffIsStoppedAndEveryResultIsRecordedOnce() {
        var s = scheduler()
        #expect(s.milestones == [1, 3, 9])
        #expect(s.onResult(trial: 1, time: 1, value: 0.5) == .continue, "the first at a rung has no cutoff")
        // Cutoff: the 66.7th percentile of {−0.5} is −0.5; −0.4 is not below it.
        #expect(s.onResult(trial: 2, time: 1, value: 0.4) == .continue)
        // Cutoff of {−0.5, −0.4}: −0.5 + 0.1·⅔ ≈ −0.433; −0.9 is below.
        #expect(s.onResult(trial: 3, time: 1, value: 0.9)
                    == .stop(reason: "pruned at rung 1 (epoch 1): not in the top 1/3 of 3 trials there"))
        #expect(s.onResult(trial: 1, time: 2, value: 0.45) == .continue, "between rungs")
        #expect(s.onResult(trial: 1, time: 3, value: 0.3) == .continue)
        #expect(s.onResult(trial: 2, time: 3, value: 0.35)
                    == .stop(reason: "pruned at rung 2 (epoch 3): not in the top 1/3 of 2 trials there"))
        #expect(s.onResult(trial: 1, time: 9, value: 0.2) == .continue, "max_t always continues")
        // A trial that jumps past two rungs is judged (and recorded) at the highest only:
        // cutoff of {−0.3, −0.35} is −0.35 + 0.05·⅔; −0.1 is above.
        #expect(s.onResult(trial: 4, time: 5, value: 0.1) == .continue)
        #expect(s.brackets[0][0].recorded.map(\.trial) == [1, 2, 3])
        #expect(s.brackets[0][1].recorded.map(\.trial) == [1, 2, 4])
        #expect(s.brackets[0][0].recorded.count == 3, "trial 4 jumped over rung 1")
        // As in Ray Tune, the rung it skipped judges its next result: cutoff of {−0.9, −0.5, −0.4}
        // is −0.5 + 0.1·⅓; −5 is below.
        #expect(s.onResult(trial: 4, time: 6, value: 5)
                    == .stop(reason: "pruned at rung 1 (epoch 1): not in the top 1/3 of 4 trials there"))
        #expect(s.onResult(trial: 4, time: 7, value: 5) == .continue, "recorded at every rung it passed")
        #expect(s.onAttemptEnd(trial: 1, time: 9, value: 0.2) == .continue)
        #expect(s.onFreeSlot(mayCreate: true) == .new && s.onFreeSlot(mayCreate: false) == .wait)
    }

    @Test func bracketsStartHigherAndAreDrawnDeterministicallyWithRayTunesWeights() {
        let spec = SchedulerSpec(kind: .asha, maxT: 27, gracePeriod: 1, reductionFactor: 3, brackets: 3)
        var a = ASHAScheduler(spec: spec, mode: .max, seed: 11)
        var b = ASHAScheduler(spec: spec, mode: .max, seed: 11)
        #expect(a.brackets.map { $0.map(\.level) } == [[1, 3, 9], [3, 9], [9]])
        for n in 1...600 {
            _ = a.onTrialAdd(trial: n, config: [:])
            _ = b.onTrialAdd(trial: 601 - n, config: [:])
        }
        #expect(a.bracketOf == b.bracketOf, "the draw depends on the seed and the trial only")
        let counts = (0..<3).map { s in a.bracketOf.values.filter { $0 == s }.count }
        // Weights e⁰, e⁻¹, e⁻²: 66.5 %, 24.5 %, 9.0 % of 600; six binomial deviations.
        #expect(Fixture.withinBinomial(counts[0], of: 600, p: 0.665))
        #expect(Fixture.withinBinomial(counts[1], of: 600, p: 0.245))
        #expect(Fixture.withinBinomial(counts[2], of: 600, p: 0.090))
        let high = a.bracketOf.first { $0.value == 1 }!.key
        #expect(a.onResult(trial: high, time: 1, value: 0) == .continue && a.brackets[1][0].recorded.isEmpty,
                "bracket 1 has no rung at epoch 1")
    }
}

@Suite struct ASHAPromotion {
    func scheduler(eta: Double = 3, maxT: Double = 9, keep: Bool = false) -> ASHAScheduler {
        ASHAScheduler(spec: SchedulerSpec(kind: .asha, resource: "epoch", maxT: maxT, gracePeriod: 1, reductionFactor: eta,
                                          type: .promotion, keepSizeRatios: keep), mode: .max, seed: 7)
    }

    func add(_ s: inout ASHAScheduler, _ trial: Int) {
        #expect(s.onFreeSlot(mayCreate: true) == .new)
        #expect(s.onTrialAdd(trial: trial, config: [:]) == 1, "a new trial runs to the first rung")
    }

    @Test func trialsPauseAtTheirRungAndTheTopThirdIsPromotedOnAFreeSlot() {
        var s = scheduler()
        for n in 1...4 { add(&s, n) }
        #expect(s.onResult(trial: 1, time: 0.5, value: 9) == .continue, "below its budget")
        #expect(s.onResult(trial: 1, time: 1, value: 0.5) == .pause(reason: "paused at rung 1 (epoch 1)"))
        add(&s, 5) // ⌊1/3⌋ = 0 may be promoted
        #expect(s.onResult(trial: 2, time: 1, value: 0.7) == .pause(reason: "paused at rung 1 (epoch 1)"))
        add(&s, 6)
        #expect(s.onResult(trial: 3, time: 1, value: 0.6) == .pause(reason: "paused at rung 1 (epoch 1)"))
        #expect(s.resumeBudget(trial: 2) == 3)
        #expect(s.onFreeSlot(mayCreate: true) == .resume(trial: 2, budget: 3, reason: "promoted from rung 1 (epoch 1) to epoch 3"))
        #expect(s.resumeBudget(trial: 2) == nil, "no longer paused")
        #expect(s.onFreeSlot(mayCreate: true) == .new, "the top third (trial 2) is promoted already")
        #expect(s.onFreeSlot(mayCreate: false) == .wait)
        #expect(s.onResult(trial: 4, time: 1, value: 0.9) == .pause(reason: "paused at rung 1 (epoch 1)"))
        #expect(s.onFreeSlot(mayCreate: false) == .resume(trial: 4, budget: 3, reason: "promoted from rung 1 (epoch 1) to epoch 3"),
                "promotions go on when no trial may be created")
        #expect(s.onResult(trial: 2, time: 2, value: 0.75) == .continue)
        #expect(s.onResult(trial: 2, time: 3, value: 0.8) == .pause(reason: "paused at rung 2 (epoch 3)"))
        #expect(s.onResult(trial: 2, time: 3, value: 0.1) == .pause(reason: "paused at rung 2 (epoch 3)"),
                "a repeated line at the paused level changes nothing")
        #expect(s.brackets[0][0].recorded.map(\.trial) == [1, 2, 3, 4])
        #expect(s.brackets[0][0].promoted == [2, 4])
        #expect(s.brackets[0][1].recorded.map(\.trial) == [2])
        #expect(s.onFreeSlot(mayCreate: false) == .wait)
        s.onTrialRemove(trial: 3)
        #expect(s.resumeBudget(trial: 3) == nil)
    }

    @Test func theLastPromotionRunsToMaxTAndCompletes() {
        var s = scheduler(eta: 2, maxT: 4)
        for n in 1...3 { add(&s, n) }
        #expect(s.onResult(trial: 1, time: 1, value: 0.9) == .pause(reason: "paused at rung 1 (epoch 1)"))
        #expect(s.onResult(trial: 2, time: 1, value: 0.1) == .pause(reason: "paused at rung 1 (epoch 1)"))
        #expect(s.onFreeSlot(mayCreate: false) == .resume(trial: 1, budget: 2, reason: "promoted from rung 1 (epoch 1) to epoch 2"))
        #expect(s.onResult(trial: 3, time: 1, value: 0.5) == .pause(reason: "paused at rung 1 (epoch 1)"))
        // ⌊3/2⌋ = 1: only trial 1, promoted already.
        #expect(s.onFreeSlot(mayCreate: false) == .wait)
        #expect(s.onResult(trial: 1, time: 2, value: 0.95) == .pause(reason: "paused at rung 2 (epoch 2)"))
        #expect(s.onFreeSlot(mayCreate: false) == .wait, "⌊1/2⌋ = 0 at rung 2")
        // A budget-style job: its final result at its budget is its rung result.
        add(&s, 4)
        #expect(s.onAttemptEnd(trial: 4, time: nil, value: 0.99) == .pause(reason: "paused at rung 1 (epoch 1)"))
        #expect(s.onFreeSlot(mayCreate: false) == .resume(trial: 4, budget: 2, reason: "promoted from rung 1 (epoch 1) to epoch 2"))
        #expect(s.onAttemptEnd(trial: 4, time: 2, value: 0.5) == .pause(reason: "paused at rung 2 (epoch 2)"))
        #expect(s.onFreeSlot(mayCreate: false) == .resume(trial: 1, budget: 4, reason: "promoted from rung 2 (epoch 2) to epoch 4"))
        #expect(s.onResult(trial: 1, time: 3, value: 0.97) == .continue)
        #expect(s.onResult(trial: 1, time: 4, value: 0.98) == .continue, "max_t is no rung")
        #expect(s.onAttemptEnd(trial: 1, time: 4, value: 0.98) == .continue, "complete")
    }

    @Test func keepSizeRatiosHoldsPromotionsUntilTheRungIsEtaTimesLarger() {
        var plain = scheduler(eta: 2, maxT: 4)
        var kept = scheduler(eta: 2, maxT: 4, keep: true)
        for n in 1...4 {
            add(&plain, n)
            add(&kept, n)
        }
        for (trial, value) in [(1, 0.9), (2, 0.1)] {
            _ = plain.onResult(trial: trial, time: 1, value: value)
            _ = kept.onResult(trial: trial, time: 1, value: value)
        }
        // n = 2 ≥ 2·(0 + 1): both promote trial 1.
        #expect(plain.onFreeSlot(mayCreate: false) == kept.onFreeSlot(mayCreate: false))
        _ = plain.onResult(trial: 3, time: 1, value: 0.95)
        _ = kept.onResult(trial: 3, time: 1, value: 0.95)
        // Top ⌊3/2⌋ = 1 is trial 3; with keep_size_ratios 3 < 2·(1 + 1) holds it back.
        #expect(plain.onFreeSlot(mayCreate: false) == .resume(trial: 3, budget: 2, reason: "promoted from rung 1 (epoch 1) to epoch 2"))
        #expect(kept.onFreeSlot(mayCreate: false) == .wait)
        _ = kept.onResult(trial: 4, time: 1, value: 0.2)
        #expect(kept.onFreeSlot(mayCreate: false) == .resume(trial: 3, budget: 2, reason: "promoted from rung 1 (epoch 1) to epoch 2"))
    }

    @Test func aResultFromALaterAttemptOfAPausedTrialMeansItWasResumed() {
        var s = scheduler()
        for n in 1...3 { add(&s, n) }
        for (trial, value) in [(1, 0.1), (2, 0.2), (3, 0.3)] { _ = s.onResult(trial: trial, time: 1, value: value) }
        // As a replay sees it: no free slot was offered, but trial 3 reports at epoch 2.
        #expect(s.onResult(trial: 3, time: 2, value: 0.35) == .continue)
        #expect(s.brackets[0][0].promoted == [3] && s.target[3] == 1)
        #expect(s.onResult(trial: 3, time: 3, value: 0.4) == .pause(reason: "paused at rung 2 (epoch 3)"))
    }
}
