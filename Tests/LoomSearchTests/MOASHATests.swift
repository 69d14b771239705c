import LoomModel
@testable import LoomSearch
import LoomWire
import Testing

/// MO-ASHA: ASHA's stopping rule ranking each rung by non-dominated sorting.
@Suite struct MOASHAStopping {
    /// max_t 9, grace 1, η 2: rungs at 1, 2, 4; accuracy maximised, latency minimised.
    func scheduler() -> ASHAScheduler {
        var s = ASHAScheduler(spec: SchedulerSpec(kind: .asha, resource: "epoch", maxT: 9, gracePeriod: 1, reductionFactor: 2),
                              mode: .max, seed: 1, objectives: [.max, .min])
        for n in 1...6 { _ = s.onTrialAdd(trial: n, config: [:]) }
        return s
    }

    @Test func aTrialDominatedByTheRungsBestHalfIsStopped() {
        var s = scheduler()
        #expect(s.onResult(trial: 1, time: 1, value: 0.8, values: [0.8, 10]) == .continue, "the first at a rung goes on")
        // Trial 2 is dominated by trial 1: second of 2, and only ⌈2/2⌉ = 1 goes on.
        #expect(s.onResult(trial: 2, time: 1, value: 0.7, values: [0.7, 12])
                    == .stop(reason: "pruned at rung 1 (epoch 1): not in the top 1/2 of 2 trials there by non-dominated sorting"))
        // Trial 3 trades accuracy for latency: on the front with trial 1, ⌈3/2⌉ = 2 go on.
        #expect(s.onResult(trial: 3, time: 1, value: 0.6, values: [0.6, 2]) == .continue)
        #expect(s.brackets[0][0].recorded.map(\.trial) == [1, 2, 3])
    }

    @Test func theSingleValuePathIgnoresTheObjectivesAndAReportWithoutThemIsNotJudged() {
        var s = scheduler()
        #expect(s.onResult(trial: 1, time: 1, value: 0.8, values: nil) == .continue)
        #expect(s.brackets[0][0].recorded.isEmpty, "a report without every objective is not recorded")
        var plain = ASHAScheduler(spec: SchedulerSpec(kind: .asha, resource: "epoch", maxT: 9, gracePeriod: 1, reductionFactor: 2),
                                  mode: .max, seed: 1)
        _ = plain.onTrialAdd(trial: 1, config: [:])
        _ = plain.onTrialAdd(trial: 2, config: [:])
        #expect(plain.onResult(trial: 1, time: 1, value: 0.8, values: [0.8, 10]) == .continue)
        #expect(plain.onResult(trial: 2, time: 1, value: 0.7, values: [0.7, 1]) != .continue, "single-objective ASHA judges by value")
    }

    @Test func positionCountsWhoComesFirstByFrontThenCrowding() {
        #expect(ASHAScheduler.position(of: [0, 0], after: [[1, 1], [2, 2]]) == 0)
        #expect(ASHAScheduler.position(of: [3, 3], after: [[1, 1], [2, 2]]) == 2)
        // On one front of three the middle point has the least crowding distance.
        #expect(ASHAScheduler.position(of: [1, 1], after: [[0, 2], [2, 0]]) == 2)
    }

    @Test func makeSchedulerChoosesMOASHAOnlyWithoutAPrimaryMetric() {
        let spec = SchedulerSpec(kind: .asha, resource: "epoch")
        let mo = makeScheduler(spec, space: try! SearchSpace([]), mode: .min, seed: 0, objectives: [.min, .max]) as? ASHAScheduler
        #expect(mo?.objectives == [.min, .max])
        var primary = spec
        primary.metric = "loss"
        let single = makeScheduler(primary, space: try! SearchSpace([]), mode: .min, seed: 0, objectives: [.min, .max]) as? ASHAScheduler
        #expect(single?.objectives == [])
    }
}
