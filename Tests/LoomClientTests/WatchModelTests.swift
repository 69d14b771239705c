import LoomClient
import LoomWire
import Testing

/// `WatchModel` folded from scripted feed events, and `WatchScreen` rendered from it.
@Suite struct WatchModelTests {
    /// Numbers the scripted events.
    final class Script {
        var seq: UInt64 = 0
    }

    let script = Script()
    var seq: UInt64 { script.seq }

    /// The next feed event: `event` as the broker journals it, stamped with `time`.
    func event(_ event: BrokerEvent, time: Double, payload: String? = nil) -> FeedEvent {
        script.seq += 1
        let body = Array("{\"time\":\(time),".utf8) + event.body.dropFirst()
        return FeedEvent(topic: event.topic, seq: script.seq, body: body, payload: payload.map { Array($0.utf8) })
    }

    func ref(_ job: String) -> AttemptRef { AttemptRef(job: job, attempt: 1, lease: 1) }

    /// Trial `n` queued with `config` at `budget`, started on `worker`, finished with `loss`.
    func trial(_ model: inout WatchModel, _ n: Int, config: String, budget: Double, worker: String, loss: Double?,
                        time: Double) -> [String] {
        let job = "umap/\(n)"
        var notes = model.apply(event(.queued(job: job, client: "opt", attempt: 1, cpu: 1, gpu: 0, resync: false, held: false), time: time,
                                      payload: #"{"command":["x"],"config":\#(config),"budget":\#(budget)}"#))
        notes += model.apply(event(.started(ref(job), worker: worker, backup: false), time: time))
        if let loss {
            notes += model.apply(event(.update(.final, ref(job), worker: worker, updateSeq: 9, backup: false), time: time + 1,
                                       payload: #"{"loss":\#(loss)}"#))
        }
        return notes
    }

    @Test func aCheckpointedMetricLineIsOneReport() {
        var model = WatchModel(study: "umap")
        _ = trial(&model, 1, config: "{}", budget: 1, worker: "w1", loss: nil, time: 100)
        for (i, kind) in [UpdateKind.report, .checkpoint, .report, .checkpoint].enumerated() {
            model.apply(event(.update(kind, ref("umap/1"), worker: "w1", updateSeq: UInt64(i + 1), backup: false), time: 101,
                              payload: #"{"loss":0.5}"#))
        }
        #expect(model.trials["umap/1"]?.reports == 2, "two metric lines, each a REPORT and a CHECKPOINT")
    }

    @Test func progressIsTheStudysOwnOnceItsStatusArrived() {
        var model = WatchModel(study: "umap")
        _ = trial(&model, 1, config: "{}", budget: 1, worker: "w1", loss: 0.5, time: 1_000)
        #expect(WatchScreen.progress(model, width: 100, now: 1_010).contains("1/1"), "the feed alone: its complete trials")
        // ASHA stopped 9 trials (cancelled jobs the feed does not count as finished).
        model.applyStudyStatus(.object([
            "metric": .string("loss"), "mode": .string("min"), "max_trials": .number(40), "state": .string("running"),
            "created_at": .number(990), "counts": .object(["complete": .number(1), "pruned": .number(9), "running": .number(2)]),
        ]))
        let running = WatchScreen.progress(model, width: 100, now: 1_010)
        #expect(running.contains("10/40") && running.contains("0.5 trials/s") && running.contains("elapsed 20.0s")
                && running.contains("eta 1m00s"), "\(running)")
        model.applyStudyStatus(.object(["state": .string("complete"), "created_at": .number(990), "finished_at": .number(1_048.7),
                                        "counts": .object(["complete": .number(12), "pruned": .number(28)])]))
        let ended = WatchScreen.progress(model, width: 100, now: 1_400)
        #expect(ended.contains("40/40") && ended.contains("elapsed 58.7s") && ended.contains("eta -"),
                "after the end, replayed or not: the study's own elapsed time, as status shows it: \(ended)")
    }

    @Test func incumbentChangeIsLoggedAsUltraOptDoes() {
        var model = WatchModel(study: "umap")
        model.applyStudyStatus(.object(["metric": .string("loss"), "mode": .string("min"), "max_trials": .number(4), "state": .string("running")]))
        _ = trial(&model, 0, config: #"{"n_neighbors":52,"metric":"cosine"}"#, budget: 0.5, worker: "w1", loss: 0.0774, time: 100)
        let notes = trial(&model, 1, config: #"{"n_neighbors":5,"metric":"cosine"}"#, budget: 0.5, worker: "w2", loss: 0.0328, time: 101)
        #expect(notes.contains("challenger 0.0328 beats incumbent 0.0774 at budget 0.5; changed: n_neighbors 52 → 5"))
        #expect(model.changes == ["challenger 0.0328 beats incumbent 0.0774 at budget 0.5; changed: n_neighbors 52 → 5"])
        _ = trial(&model, 2, config: #"{"n_neighbors":9,"metric":"cosine"}"#, budget: 0.5, worker: "w2", loss: 0.5, time: 102)
        #expect(model.changes.count == 1)
        #expect(model.best?.value == 0.0328 && model.best?.job == "umap/1")
    }

    @Test func workersHealthComesFromTheFeedAndTheBrokerStatus() {
        var model = WatchModel(study: nil)
        for id in ["w1", "w2", "w3"] {
            _ = model.apply(event(.workerJoined(worker: id, host: "h", pid: 1, slots: 4, gpus: 0, heartbeatMs: 1_000, rejoined: false, holds: 0), time: 1))
        }
        let lost = model.apply(event(.workerGone(worker: "w3", left: false, reason: "silent", attempts: 0), time: 2))
        #expect(lost == ["worker w3 lost (silent)"])
        model.applyBrokerStatus(.object(["workers": .array([
            .object(["id": .string("w1"), "heartbeat_ms": .number(1_000), "last_heard_ms": .number(300)]),
            .object(["id": .string("w2"), "heartbeat_ms": .number(1_000), "last_heard_ms": .number(2_500)]),
        ])]))
        #expect(model.workers["w1"]?.health == .alive)
        #expect(model.workers["w2"]?.health == .slow)
        #expect(model.workers["w3"]?.health == .lost)
    }

    @Test func screenFitsTheTerminalAndShowsEverySection() {
        var model = WatchModel(study: "umap")
        model.applyStudyStatus(.object(["metric": .string("loss"), "mode": .string("min"), "max_trials": .number(20), "state": .string("running")]))
        for n in 0..<4 {
            _ = trial(&model, n, config: #"{"n_neighbors":\#(50 - n)}"#, budget: 1, worker: "w1", loss: 1.0 / Double(n + 1), time: 100 + Double(n))
        }
        for n in 4..<12 { _ = trial(&model, n, config: #"{"n_neighbors":\#(n)}"#, budget: 1, worker: "w\(n % 3)", loss: nil, time: 105) }
        let big = WatchScreen.render(model, width: 100, height: 40, now: 110)
        #expect(big[0] == "hyperloom watch  study umap (running)  seq \(seq)  feed ok")
        #expect(big[1].hasPrefix("[") && big[1].contains("4/20") && big[1].contains("trials/s") && big[1].contains("eta"))
        #expect(big[2].hasPrefix("best loss (min): 0.25  trial 3 at budget 1  n_neighbors=47"))
        #expect(big[3] == "trials: queued 0  running 8  complete 4  failed 0")
        #expect(big.contains { $0.hasPrefix("11") && $0.contains("w2") })
        #expect(big.contains { $0.hasPrefix("  challenger 0.25 beats incumbent 0.3333") })
        let small = WatchScreen.render(model, width: 40, height: 12, now: 110)
        #expect(small.count <= 12 && small.allSatisfy { $0.count <= 40 })
        #expect(small.contains { $0.hasPrefix("… and ") && $0.hasSuffix(" more running") })
        #expect(small.last?.hasPrefix("workers: ") == true)
    }
}
