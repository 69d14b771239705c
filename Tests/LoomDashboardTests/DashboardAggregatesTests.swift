import LoomWire
import Testing
@testable import LoomDashboard

/// The counts, best trial and parameter ranges the fold keeps per study equal a walk over the
/// study's trials, through lives that move the best trial away and change the objective.
@Suite struct DashboardAggregatesTests {
    final class Script {
        var seq: UInt64 = 0
        var state = DashboardState()

        func apply(_ event: BrokerEvent, payload: String? = nil) {
            seq += 1
            state.apply(FeedEvent(seq: seq, event: event, payload: payload.map { Array($0.utf8) }))
        }

        func ref(_ n: Int, attempt: UInt32 = 1) -> AttemptRef { AttemptRef(job: "s/\(n)", attempt: attempt, lease: UInt64(n) << 8 | UInt64(attempt)) }

        func queue(_ n: Int, config: String, attempt: UInt32 = 1) {
            apply(.queued(job: "s/\(n)", client: "opt", attempt: attempt, cpu: 1, gpu: 0, resync: false, held: false),
                  payload: #"{"command":["x"],"config":\#(config)}"#)
        }

        func finish(_ n: Int, loss: Double, attempt: UInt32 = 1) {
            apply(.assigned(ref(n, attempt: attempt), worker: "w", backup: false))
            apply(.update(.final, ref(n, attempt: attempt), worker: "w", updateSeq: 1, backup: false),
                  payload: #"{"metrics":{"loss":\#(loss)}}"#)
        }
    }

    func expectAggregatesMatchAWalk(_ state: DashboardState, _ comment: Comment) {
        let study = state.studies["s"]!
        var counts: [String: Int] = [:]
        for t in study.trials.values { counts[t.state, default: 0] += 1 }
        #expect(study.stateCounts == counts, comment)
        let walked = state.scannedBest(study)
        #expect(study.best?.number == walked?.number && study.best?.value == walked?.value, comment)
        #expect(study.ranges == DashboardState.ParameterRanges(trials: study.trials), comment)
    }

    @Test func countsBestAndRangesFollowTheTrialsLives() throws {
        let s = Script()
        s.state = DashboardState(defaultMetric: "loss")
        for n in 1...40 { s.queue(n, config: #"{"lr":\#(Double(n) / 100),"opt":"\#(n % 3 == 0 ? "sgd" : "adam")"}"#) }
        for n in 1...30 { s.finish(n, loss: Double((n * 17) % 31) / 10) }
        expectAggregatesMatchAWalk(s.state, "30 finished")
        let best = try #require(s.state.studies["s"]?.best)
        #expect(best.value == 0.1 && best.number == 11, "(11 × 17) % 31 = 1")

        // The best trial is queued again (a promotion): the next best takes its place.
        s.queue(best.number, config: #"{"lr":0.11,"opt":"adam"}"#, attempt: 2)
        expectAggregatesMatchAWalk(s.state, "best requeued")
        #expect(s.state.studies["s"]?.best?.number != best.number)
        s.finish(best.number, loss: 0.05, attempt: 2)
        #expect(s.state.studies["s"]?.best?.number == best.number)

        // A changed configuration, a failure, a cancellation, a mode that flips.
        s.queue(5, config: #"{"lr":9.5,"opt":"rmsprop","extra":1}"#, attempt: 2)
        s.apply(.update(.failed, s.ref(31), worker: "w", updateSeq: 1, backup: false), payload: #"{"error":"exit 1"}"#)
        s.apply(.cancelled(job: "s/32", client: "opt", reason: "pruned at rung 1"))
        expectAggregatesMatchAWalk(s.state, "requeued with another config, failed, pruned")
        #expect(s.state.studies["s"]?.stateCounts["pruned"] == 1 && s.state.studies["s"]?.stateCounts["failed"] == 1)
        s.state.applyStudies(.object(["studies": .array([.object(["id": .string("s"), "metric": .string("loss"), "mode": .string("max")])])]))
        expectAggregatesMatchAWalk(s.state, "mode max")
        #expect(s.state.studies["s"]?.best?.value == 3.0)
    }

    @Test func rangesWidenAndTextMakesAParameterCategorical() {
        var ranges = DashboardState.ParameterRanges()
        ranges.widen(with: ["lr": .number(0.1), "opt": .string("adam")])
        ranges.widen(with: ["lr": .number(0.5), "opt": .string("sgd")])
        ranges.widen(with: ["lr": .number(0.3), "opt": .string("adam")])
        #expect(ranges.json == [.object(["name": .string("lr"), "min": .number(0.1), "max": .number(0.5)]),
                                .object(["name": .string("opt"), "values": .array([.string("adam"), .string("sgd")])])])
        ranges.widen(with: ["lr": .string("auto")])
        #expect(ranges.json.first == .object(["name": .string("lr"), "values": .array([.string("0.1"), .string("0.5"), .string("auto")])]))
    }
}
