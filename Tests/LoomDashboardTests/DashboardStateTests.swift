import Foundation
import LoomPlot
import LoomWire
import Testing
@testable import LoomDashboard

/// `DashboardState` folded from scripted feed events, and the JSON views the pages fetch.
@Suite struct DashboardStateTests {
    final class Script {
        var seq: UInt64 = 0
        var time = 1_000.0
    }
    let script = Script()

    /// The next feed event, stamped as the broker journals it.
    func feed(_ event: BrokerEvent, payload: String? = nil, after seconds: Double = 1) -> FeedEvent {
        script.seq += 1
        script.time += seconds
        let body = Array("{\"time\":\(script.time),".utf8) + event.body.dropFirst()
        return FeedEvent(topic: event.topic, seq: script.seq, body: body, payload: payload.map { Array($0.utf8) })
    }

    func ref(_ n: Int, attempt: UInt32 = 1, lease: UInt64) -> AttemptRef { AttemptRef(job: "mnist/\(n)", attempt: attempt, lease: lease) }

    /// Two workers; trial 1 completes (loss 0.25), trial 2 fails, trial 3 runs with reports and logs.
    func folded() -> DashboardState {
        var s = DashboardState()
        s.apply(feed(.workerJoined(worker: "w1", host: "gpu-1", pid: 1, slots: 2, gpus: 1, heartbeatMs: 1_000, rejoined: false, holds: 0)))
        s.apply(feed(.workerJoined(worker: "w2", host: "gpu-2", pid: 2, slots: 2, gpus: 0, heartbeatMs: 1_000, rejoined: false, holds: 0)))
        for (n, lr) in [(1, 0.1), (2, 0.01), (3, 0.001)] {
            s.apply(feed(.queued(job: "mnist/\(n)", client: "opt", attempt: 1, cpu: 1, gpu: 0, resync: false, held: false),
                         payload: #"{"command":["x"],"config":{"lr":\#(lr),"opt":"\#(n == 2 ? "sgd" : "adam")"}}"#))
        }
        for n in 1...3 {
            s.apply(feed(.assigned(ref(n, lease: UInt64(n) << 40), worker: n == 2 ? "w2" : "w1", backup: false)))
            s.apply(feed(.started(ref(n, lease: UInt64(n) << 40), worker: n == 2 ? "w2" : "w1", backup: false)))
        }
        s.apply(feed(.update(.report, ref(1, lease: 1 << 40), worker: "w1", updateSeq: 1, backup: false), payload: #"{"epoch":1,"loss":0.5}"#))
        s.apply(feed(.update(.final, ref(1, lease: 1 << 40), worker: "w1", updateSeq: 2, backup: false),
                     payload: #"{"metrics":{"epoch":2,"loss":0.25},"exit_code":0}"#))
        s.apply(feed(.update(.failed, ref(2, lease: 2 << 40), worker: "w2", updateSeq: 1, backup: false), payload: #"{"error":"exit code 3"}"#))
        s.apply(feed(.update(.report, ref(3, lease: 3 << 40), worker: "w1", updateSeq: 1, backup: false), payload: #"{"epoch":1,"loss":0.9}"#))
        s.apply(feed(.update(.checkpoint, ref(3, lease: 3 << 40), worker: "w1", updateSeq: 2, backup: false), payload: #"{"epoch":1}"#))
        s.apply(feed(.log(LogBatch(attempt: ref(3, lease: 3 << 40), stream: .stdout, firstLine: 1, lines: ["epoch 1", "loss 0.9"]), worker: "w1")))
        s.applyStudies(.object(["studies": .array([.object(["id": .string("mnist"), "metric": .string("loss"), "mode": .string("min"),
                                                               "state": .string("running"), "max_trials": .number(10)])])]))
        return s
    }

    @Test func studiesShowStateProgressBestAndRate() throws {
        let s = folded()
        let study = try #require(s.studiesView().object?["studies"]?.arrayValue?.first?.object)
        #expect(study["id"] == .string("mnist") && study["state"] == .string("running"))
        #expect(study["finished"] == .number(2) && study["max_trials"] == .number(10))
        #expect(study["best"] == .object(["trial": .number(1), "value": .number(0.25)]))
        #expect(study["counts"]?.object?["running"] == .number(1))
        #expect((study["trials_per_s"]?.double ?? 0) > 0)
    }

    @Test func theTrialsTableSortsFiltersAndPages() throws {
        let s = folded()
        let byLR = try #require(s.studyView("mnist", query: .init(sort: "lr", descending: true))?.object)
        #expect(byLR["trials"]?.arrayValue?.compactMap { $0.object?["number"]?.double } == [1, 2, 3])
        let byValue = try #require(s.studyView("mnist", query: .init(sort: "value"))?.object)
        #expect(byValue["trials"]?.arrayValue?.first?.object?["number"] == .number(1), "the only value first, trials without one last")
        let failed = try #require(s.studyView("mnist", query: .init(state: "failed"))?.object)
        #expect(failed["matching"] == .number(1) && failed["total"] == .number(3))
        let page = try #require(s.studyView("mnist", query: .init(offset: 2, limit: 1))?.object)
        #expect(page["trials"]?.arrayValue?.map { $0.object?["number"] } == [.number(3)])
        #expect(s.studyView("nope") == nil)
    }

    @Test func parameterRangesAreNumericRangesOrCategories() throws {
        let s = folded()
        let ranges = try #require(s.studyView("mnist")?.object?["parameters"]?.arrayValue)
        #expect(ranges.first == .object(["name": .string("lr"), "min": .number(0.001), "max": .number(0.1)]))
        #expect(Set(ranges.last?.object?["values"]?.arrayValue ?? []) == [.string("adam"), .string("sgd")])
    }

    @Test func aTrialShowsItsAttemptsCurveCheckpointsAndNewLogLines() throws {
        var s = folded()
        let trial = try #require(s.trialView(study: "mnist", trial: 3)?.object)
        #expect(trial["state"] == .string("running"))
        #expect(trial["attempts"]?.arrayValue?.first?.object?["lease"] == .string(String(UInt64(3) << 40)))
        #expect(trial["curve"] == .array([.object(["attempt": .number(1), "x": .number(1), "y": .number(0.9)])]))
        #expect(trial["checkpoints"]?.arrayValue?.count == 1)
        #expect(trial["logs"]?.arrayValue?.compactMap { $0.object?["text"]?.argument } == ["epoch 1", "loss 0.9"])
        s.apply(feed(.log(LogBatch(attempt: ref(3, lease: 3 << 40), stream: .stderr, firstLine: 1, lines: ["warn"]), worker: "w1")))
        let newer = try #require(s.trialView(study: "mnist", trial: 3, logsAfter: 2)?.object)
        #expect(newer["logs"]?.arrayValue?.compactMap { $0.object?["text"]?.argument } == ["warn"], "only the lines after the 2 seen")
        #expect(newer["log_count"] == .number(3))
    }

    @Test func theFabricShowsWorkersLeasesQueueAndStragglers() throws {
        var s = folded()
        s.apply(feed(.stalled(ref(3, lease: 3 << 40), worker: "w1", silentS: 31, stallTimeoutS: 30)))
        s.apply(feed(.workerGone(worker: "w2", left: false, reason: "expired", attempts: 0)))
        s.apply(feed(.workerPace(worker: "w1", slow: true, latenessMs: 900, heartbeatMs: 1_000)))
        let fabric = try #require(s.fabricView().object)
        #expect(fabric["leases"] == .number(1), "trial 3's lease; the finished and failed attempts released theirs")
        #expect(fabric["queue_depth"] == .number(0))
        #expect(fabric["health"] == .object(["slow": .number(1), "lost": .number(1)]))
        let w1 = try #require(fabric["workers"]?.arrayValue?.first?.object)
        #expect(w1["running"] == .array([.object(["job": .string("mnist/3"), "attempt": .number(1), "lease": .string(String(UInt64(3) << 40))])]))
        #expect(fabric["stragglers"]?.arrayValue?.first?.object?["detail"] == .string("attempt 1 on w1 silent 31s"))
        #expect(fabric["position"] == .number(Double(script.seq)))
    }

    @Test func aLostAttemptIsRequeuedAndTheSchedulersVerdictNamesTheState() throws {
        var s = folded()
        s.apply(feed(.requeued(job: "mnist/3", attempt: 1, nextAttempt: 2, worker: "w1", reason: "worker w1 lost")))
        var trial = try #require(s.studies["mnist"]?.trials[3])
        #expect(trial.state == "waiting" && trial.attempts.map(\.state) == ["lost", "queued"])
        #expect(s.queue == ["mnist/3"] && s.leases.isEmpty)
        s.apply(feed(.cancelled(job: "mnist/3", client: "opt", reason: "pruned at rung 1 (epoch 1): loss 0.9")))
        trial = try #require(s.studies["mnist"]?.trials[3])
        #expect(trial.state == "pruned" && s.queue.isEmpty)
    }

    @Test func boundedLogsKeepTheNewestLines() throws {
        var s = DashboardState()
        let lines = (1...(DashboardState.maxLogLines + 10)).map { "line \($0)" }
        s.apply(feed(.log(LogBatch(attempt: ref(1, lease: 1), stream: .stdout, firstLine: 1, lines: lines), worker: "w")))
        let trial = try #require(s.studies["mnist"]?.trials[1])
        #expect(trial.logs.count == DashboardState.maxLogLines && trial.logs.first?.text == "line 11" && trial.logCount == lines.count)
    }

    @Test func routesAnswerJSONAndNameBadParameters() throws {
        let model = DashboardModel()
        let state = folded()
        model.update { $0 = state }
        let page = DashboardRoutes.respond(path: "/", query: [:], model: model)
        #expect(page.status == 200 && page.contentType.hasPrefix("text/html") && String(decoding: page.body, as: UTF8.self).contains("new WebSocket"))
        #expect(DashboardRoutes.respond(path: "/api/studies", query: [:], model: model).status == 200)
        let bad = DashboardRoutes.respond(path: "/api/study", query: ["id": "mnist", "limit": "many"], model: model)
        #expect(bad.status == 400 && String(decoding: bad.body, as: UTF8.self).contains("?limit= must be a non-negative integer"))
        #expect(DashboardRoutes.respond(path: "/api/trial", query: ["study": "mnist", "trial": "9"], model: model).status == 404)
        #expect(DashboardRoutes.respond(path: "/nope", query: [:], model: model).status == 404)
        let charts = DashboardRoutes.respond(path: "/api/charts", query: ["id": "mnist"], model: model)
        let doc = try JSONValue(parsing: Array(charts.body))
        #expect(charts.status == 200 && (doc.object?["charts"]?.arrayValue?.count ?? 0) > 0, "\(doc)")
    }

    @Test func aTokenIsNeededWhenSet() {
        #expect(DashboardRoutes.authorized(token: nil, header: nil, queryToken: nil))
        #expect(!DashboardRoutes.authorized(token: "s3cret", header: nil, queryToken: nil))
        #expect(!DashboardRoutes.authorized(token: "s3cret", header: "Bearer nope", queryToken: "nope"))
        #expect(DashboardRoutes.authorized(token: "s3cret", header: "Bearer s3cret", queryToken: nil))
        #expect(DashboardRoutes.authorized(token: "s3cret", header: nil, queryToken: "s3cret"))
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
}

@Suite struct DashboardCountsTests {
    @Test func theOptimizersCountsWinOverTheFeedsOnceKnown() throws {
        var s = DashboardState()
        let ref = AttemptRef(job: "s/1", attempt: 1, lease: 1)
        s.apply(FeedEvent(seq: 1, event: .update(.final, ref, worker: "w", updateSeq: 1, backup: false), payload: Array(#"{"loss":1}"#.utf8)))
        #expect(s.studiesView().object?["studies"]?.arrayValue?.first?.object?["counts"] == .object(["complete": .number(1)]))
        s.applyStudies(.object(["studies": .array([.object(["id": .string("s"), "counts": .object(["paused": .number(1), "failed": .number(0)])])])]))
        let study = try #require(s.studiesView().object?["studies"]?.arrayValue?.first?.object)
        #expect(study["counts"] == .object(["paused": .number(1)]), "a promotion rung's job completed; the optimizer knows the trial is paused")
        #expect(study["finished"] == .number(0))
    }
}

@Suite struct DashboardChartTests {
    @Test func chartsOfALargeStudyDrawTheBestAndTheLatestTrials() throws {
        var s = DashboardState(defaultMetric: "loss")
        var seq: UInt64 = 0
        for n in 1...1_100 {
            seq += 1
            let ref = AttemptRef(job: "big/\(n)", attempt: 1, lease: UInt64(n))
            // Trial 7 is the best by far; the others get worse with their number.
            let loss = n == 7 ? 0.001 : Double(n)
            s.apply(FeedEvent(seq: seq, event: .update(.final, ref, worker: "w", updateSeq: 1, backup: false),
                              payload: Array(#"{"loss":\#(loss)}"#.utf8)))
        }
        let data = try #require(s.plotData("big"))
        let numbers = Set(data.trials.map(\.number))
        #expect(numbers.count == DashboardState.chartTrials)
        #expect(numbers.contains(7) && numbers.contains(1) && numbers.contains(1_100), "the best (7, 1, …) and the latest")
        #expect(!numbers.contains(250), "neither among the 200 best (1…200) nor the 800 latest (301…1,100)")
    }
}
