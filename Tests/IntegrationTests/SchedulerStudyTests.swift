import Foundation
import LoomWire
import Testing

/// Every scheduler end to end through `hyperloom run` (broker, optimizer and a local worker in
/// one process) with real trial processes that report per epoch and checkpoint.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SchedulerStudies {
    /// The trial: loss = (x − 0.3)² + c/epoch, one epoch every 50 ms up to `HYPERLOOM_BUDGET`
    /// (else `epochs`). It checkpoints its epoch before reporting it, resumes from the checkpoint,
    /// and appends the epoch each attempt started from to `starts.txt` in the checkpoint
    /// directory: the proof that a promoted trial resumed where it paused. `owner.txt` names the
    /// trial that started the checkpoint: after a PBT exploit it is another trial's.
    static let trialScript = """
        import json, os, time
        config = json.loads(os.environ["HYPERLOOM_CONFIG"])
        directory = os.environ["HYPERLOOM_CHECKPOINT_DIR"]
        budget = int(float(os.environ.get("HYPERLOOM_BUDGET", config.get("epochs", 4))))
        state = os.path.join(directory, "epoch.txt")
        start = int(open(state).read()) if os.path.exists(state) else 0
        owner = os.path.join(directory, "owner.txt")
        if not os.path.exists(owner):
            with open(owner, "w") as f:
                f.write(os.environ["HYPERLOOM_TRIAL_ID"])
        with open(os.path.join(directory, "starts.txt"), "a") as f:
            f.write("%d\\n" % start)
        for epoch in range(start + 1, budget + 1):
            time.sleep(config.get("pace", 0.05))
            loss = (config["x"] - 0.3) ** 2 + config["c"] / epoch
            with open(state + ".tmp", "w") as f:
                f.write(str(epoch))
            os.replace(state + ".tmp", state)
            print("@hyperloom " + json.dumps({"epoch": epoch, "loss": loss, "checkpoint": True}), flush=True)
        """

    /// A spec file for the study `name`; returns its path.
    static func writeSpec(_ name: String, scheduler: String, trials: Int, concurrent: Int, c: Double = 1, epochs: Int = 4,
                          pace: Double = 0.05, searcher: String = "{type: random, seed: 5}") throws -> String {
        let script = Harness.scratch.appendingPathComponent("sched-trial.py")
        try trialScript.write(to: script, atomically: true, encoding: .utf8)
        let spec = Harness.scratch.appendingPathComponent("\(name).yaml")
        try """
            name: \(name)
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
              c: \(c)
              epochs: \(epochs)
              pace: \(pace)
            searcher: \(searcher)
            scheduler: \(scheduler)
            trial:
              command: [python3, \(script.path)]
              checkpointing: true
            budget: {max_trials: \(trials), max_concurrent: \(concurrent)}
            """.write(to: spec, atomically: true, encoding: .utf8)
        return spec.path
    }

    /// Runs a study to its end; returns its id, its trials document and the work directory.
    static func run(_ name: String, scheduler: String, trials: Int, concurrent: Int, c: Double = 1, epochs: Int = 4,
                    searcher: String = "{type: random, seed: 5}") throws -> (doc: [String: JSONValue], work: URL, store: String) {
        let spec = try writeSpec(name, scheduler: scheduler, trials: trials, concurrent: concurrent, c: c, epochs: epochs,
                                 searcher: searcher)
        let store = Harness.scratch.appendingPathComponent("\(name).db").path
        let work = Harness.scratch.appendingPathComponent("work-\(name)")
        let run = try Harness.run([Harness.binary.path, "run", spec, "--workers", "\(concurrent)", "--store", store,
                                   "--work-dir", work.path])
        #expect(run.status == 0, "\(run.output)")
        let trials = try Harness.run([Harness.binary.path, "trials", "\(name)-1", "--json", "--store", store])
        let doc = try #require(try? JSONDecoder().decode(JSONValue.self, from: Data(trials.output.utf8)).object, "\(trials.output)")
        return (doc, work, store)
    }

    static func trials(_ doc: [String: JSONValue]) -> [[String: JSONValue]] {
        guard case .array(let list)? = doc["trials"] else { return [] }
        return list.compactMap(\.object)
    }

    /// The epochs each attempt of a trial started from, from its checkpoint directory.
    static func starts(_ work: URL, study: String, trial: Int) -> [Int] {
        let dir = work.appendingPathComponent("\(study)%2F\(trial)/checkpoint/starts.txt")
        let text = (try? String(contentsOf: dir, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { Int($0) }
    }

    @Test func promotionASHAPausesTrialsAndResumesThePromotedFromTheirCheckpoints() throws {
        let (doc, work, _) = try Self.run("promo", scheduler: "{type: promotion, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}",
                                          trials: 6, concurrent: 2)
        let trials = Self.trials(doc)
        #expect(doc["study"]?.object?["state"] == .string("complete"), "\(doc)")
        #expect(trials.count == 6)
        let complete = trials.filter { $0["state"] == .string("complete") }
        #expect(!complete.isEmpty, "the best trial reached max_t: \(trials)")
        for trial in complete {
            let n = Int(trial["number"]?.double ?? 0)
            #expect(trial["budget"] == .number(4))
            #expect(trial["note"]?.argument == "promoted from rung 2 (epoch 2) to epoch 4", "\(trial)")
            // Epoch 1, then resumed at 1 to reach 2, then at 2 to reach 4: never from 0 again.
            #expect(Self.starts(work, study: "promo-1", trial: n) == [0, 1, 2], "trial \(n)")
        }
        // The others were paused at a rung and pruned when the study ended, with their last value.
        for trial in trials where trial["state"] != .string("complete") {
            #expect(trial["state"] == .string("pruned"), "\(trial)")
            #expect(trial["note"]?.argument.hasPrefix("paused at rung") == true, "\(trial)")
            #expect(trial["value"]?.double != nil)
        }
    }

    @Test func stoppingASHAPrunesTrialsOutsideTheTopAtARung() throws {
        let (doc, work, _) = try Self.run("stop", scheduler: "{type: asha, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}",
                                          trials: 8, concurrent: 1)
        let trials = Self.trials(doc)
        #expect(doc["study"]?.object?["state"] == .string("complete"), "\(doc)")
        let pruned = trials.filter { $0["state"] == .string("pruned") }
        // One slot: trials run one after another, so the decisions are those of the seed.
        #expect(!pruned.isEmpty, "\(trials)")
        for trial in pruned {
            #expect(trial["note"]?.argument.hasPrefix("pruned at rung") == true, "\(trial)")
            #expect((trial["metrics"]?.object?["epoch"]?.double ?? 9) < 4, "stopped before max_t")
        }
        for trial in trials where trial["state"] == .string("complete") {
            #expect(trial["metrics"]?.object?["epoch"] == .number(4) && trial["budget"] == .number(4))
            #expect(Self.starts(work, study: "stop-1", trial: Int(trial["number"]?.double ?? 0)) == [0])
        }
    }

    @Test func successiveHalvingRunsItsRungsInLockstep() throws {
        let (doc, work, _) = try Self.run("sh", scheduler: "{type: hyperband, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2, brackets: 1}",
                                          trials: 4, concurrent: 4)
        let trials = Self.trials(doc)
        #expect(doc["study"]?.object?["state"] == .string("complete"), "\(doc)")
        // 4 trials at epoch 1, the best 2 to epoch 2, the best 1 to epoch 4.
        let states = trials.map { $0["state"]?.argument ?? "" }
        #expect(states.filter { $0 == "complete" }.count == 1 && states.filter { $0 == "pruned" }.count == 3, "\(trials)")
        let winner = try #require(trials.first { $0["state"] == .string("complete") })
        #expect(Self.starts(work, study: "sh-1", trial: Int(winner["number"]?.double ?? 0)) == [0, 1, 2])
        let notes = trials.compactMap { $0["note"]?.argument }
        #expect(notes.filter { $0 == "pruned at rung 1 (epoch 1): not in the top 2 of 4" }.count == 2, "\(notes)")
        #expect(notes.filter { $0 == "pruned at rung 2 (epoch 2): not in the top 1 of 2" }.count == 1, "\(notes)")
        // The winner has the lowest (x − 0.3)² of the four.
        let distances = trials.map { abs(($0["config"]?.object?["x"]?.double ?? 9) - 0.3) }
        #expect(abs((winner["config"]?.object?["x"]?.double ?? 9) - 0.3) == distances.min())
    }

    @Test func bohbRunsWithinHyperbandsBrackets() throws {
        let (doc, _, store) = try Self.run("bohb", scheduler: "{type: hyperband, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}",
                                           trials: 10, concurrent: 4, searcher: "{type: bohb, seed: 2, min_points_in_model: 2}")
        let trials = Self.trials(doc)
        #expect(doc["study"]?.object?["state"] == .string("complete"), "\(doc)")
        #expect(trials.count == 10)
        // Brackets of 4 trials at epoch 1, 3 at epoch 2 and 3 at epoch 4: every budget was used.
        let budgets = Set(trials.compactMap { $0["budget"]?.double })
        #expect(budgets == [1, 2, 4], "\(trials)")
        #expect(trials.contains { $0["state"] == .string("complete") })
        let export = try Harness.run([Harness.binary.path, "export", "bohb-1", "--format", "jsonl", "--store", store])
        #expect(export.status == 0 && export.output.contains("promoted from rung"), "\(export.output)")
    }

    @Test func theMedianRuleStopsTrialsWorseThanTheMedian() throws {
        let (doc, _, _) = try Self.run("median", scheduler: "{type: median_stopping, resource: epoch, grace_period: 2, min_samples_required: 2}",
                                       trials: 8, concurrent: 1)
        let trials = Self.trials(doc)
        #expect(doc["study"]?.object?["state"] == .string("complete"), "\(doc)")
        let pruned = trials.filter { $0["state"] == .string("pruned") }
        #expect(!pruned.isEmpty, "\(trials)")
        for trial in pruned {
            #expect(trial["note"]?.argument.contains("is worse than the median running average") == true, "\(trial)")
        }
        #expect(trials.prefix(2).allSatisfy { $0["state"] == .string("complete") }, "too few others to judge the first two")
    }

    @Test func pbtRestartsTheWorstTrialWithABetterTrialsConfigExplored() throws {
        let (doc, work, store) = try Self.run("pbt", scheduler: "{type: pbt, resource: epoch, perturbation_interval: 2, max_t: 6, hyperparam_mutations: [x]}",
                                              trials: 4, concurrent: 4, c: 0, epochs: 6)
        let trials = Self.trials(doc)
        #expect(doc["study"]?.object?["state"] == .string("complete"), "\(doc)")
        #expect(trials.allSatisfy { $0["state"] == .string("complete") }, "\(trials)")
        let exploited = trials.filter { $0["note"]?.argument.hasPrefix("exploited trial") == true }
        #expect(!exploited.isEmpty, "\(trials)")
        for trial in exploited {
            #expect((trial["attempts"]?.double ?? 0) >= 2, "restarted as a new attempt")
            let n = Int(trial["number"]?.double ?? 0)
            #expect(Self.starts(work, study: "pbt-1", trial: n).count >= 2)
            // The exploit copied a better trial's checkpoint: the one the restarted attempt
            // resumed from was started by another trial, and it did not start from scratch.
            let owner = try? String(contentsOf: work.appendingPathComponent("pbt-1%2F\(n)/checkpoint/owner.txt"), encoding: .utf8)
            #expect(owner != nil && owner != "pbt-1/\(n)", "trial \(n) resumed from \(owner ?? "no checkpoint")")
            #expect((Self.starts(work, study: "pbt-1", trial: n).last ?? 0) > 0)
        }
        let export = try Harness.run([Harness.binary.path, "export", "pbt-1", "--format", "csv", "--store", store])
        #expect(export.output.contains("exploited trial"), "the export carries the note")
        // The embedded fabric stores trial output too (its optimizer reads the feed's log/ topics).
        let logs = try Harness.run([Harness.binary.path, "logs", "pbt-1", "1", "--store", store])
        #expect(logs.status == 0 && logs.output.contains("@hyperloom {"), "\(logs.output)")
    }

    @Test func aKilledOptimizerRebuildsItsPromotionsAndNoTrialStartsOver() throws {
        let (broker, endpoint, _) = try Harness.broker()
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("restart-asha.db").path
        var optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store])
        let worker = try Harness.worker("ra", broker: endpoint, slots: 2)
        defer { worker.stop() }
        let spec = try Self.writeSpec("ra", scheduler: "{type: promotion, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}",
                                      trials: 8, concurrent: 2, pace: 0.3)
        let submitted = try Harness.run([Harness.binary.path, "submit", spec, "--broker", endpoint])
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(study == "ra-1", "\(submitted.output)")
        // Kill -9 the optimizer once trials have started pausing at the rungs. (Waiting for three
        // paused at once raced the study's end on a loaded machine: promotions empty the rungs.)
        let deadline = ContinuousClock.now + .seconds(40)
        var paused = 0.0
        while paused < 1 && ContinuousClock.now < deadline {
            let status = try Harness.run([Harness.binary.path, "status", study, "--json", "--broker", endpoint])
            paused = (try? JSONDecoder().decode(JSONValue.self, from: Data(status.output.utf8)))?.object?["counts"]?.object?["paused"]?.double ?? 0
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(paused >= 1)
        optimizer.signal(SIGKILL)
        optimizer.waitForExit()
        optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store])
        defer { optimizer.stop() }
        var doc: [String: JSONValue] = [:]
        let end = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < end {
            let trials = try Harness.run([Harness.binary.path, "trials", study, "--json", "--broker", endpoint])
            doc = (try? JSONDecoder().decode(JSONValue.self, from: Data(trials.output.utf8)).object) ?? [:]
            if doc["study"]?.object?["state"] != .string("running") && !doc.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.3)
        }
        #expect(doc["study"]?.object?["state"] == .string("complete"), "\(doc)\n\(optimizer.output)")
        let trials = Self.trials(doc)
        #expect(trials.count == 8, "no trial was created twice")
        let work = Harness.scratch.appendingPathComponent("work-ra")
        for trial in trials {
            let n = Int(trial["number"]?.double ?? 0)
            let starts = Self.starts(work, study: study, trial: n)
            // Each attempt resumed where the previous one paused: 0 once, then rising rungs.
            #expect(starts.first == 0 && starts.filter { $0 == 0 }.count == 1 && starts == starts.sorted(), "trial \(n): \(starts)")
            #expect(starts.count == Int(trial["attempts"]?.double ?? 0), "trial \(n): one start per attempt")
        }
        let complete = trials.filter { $0["state"] == .string("complete") }
        #expect(!complete.isEmpty && complete.allSatisfy { $0["budget"] == .number(4) }, "\(trials)")
        // No work is redone: every paused attempt's last line's checkpoint was stored — also that
        // of the attempt paused just before the kill — and the next attempt started where it
        // paused. (That CHECKPOINT used to be lost with the pause's CANCEL_JOBS, or with the
        // killed optimizer, or behind a FINAL that overtook it after the restart: the next attempt
        // resumed from the checkpoint before, or from a local directory the stored one did not match.)
        let export = try Harness.run([Harness.binary.path, "export", study, "--format", "jsonl", "--broker", endpoint])
        let rows = export.output.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)).object }
        #expect(rows.count == 8, "\(export.output)")
        for row in rows {
            let n = Int(row["number"]?.double ?? 0)
            guard case .array(let reports)? = row["reports"] else { continue }
            /// Each attempt's highest epoch, whether its line (REPORT, or the `final` row of a
            /// budget-style pause) announced a checkpoint, and whether that checkpoint was kept.
            var paused: [Int: (epoch: Int, announced: Bool, kept: Bool)] = [:]
            for report in reports.compactMap(\.object) {
                let attempt = Int(report["attempt"]?.double ?? 0)
                let metrics = report["metrics"]?.object ?? [:]
                let epoch = Int(metrics["epoch"]?.double ?? 0)
                var entry = paused[attempt] ?? (0, false, false)
                let kind = report["kind"]?.argument ?? ""
                if kind == "report" && epoch > entry.epoch || kind == "report" && epoch == entry.epoch && !entry.announced {
                    entry = (epoch, metrics["checkpoint"] == .bool(true), false)
                }
                if kind == "final" && epoch > entry.epoch { entry = (epoch, metrics["checkpoint"] == .bool(true), false) }
                if kind == "checkpoint" && metrics["checkpoint_error"] == nil && epoch == entry.epoch { entry.kept = true }
                paused[attempt] = entry
            }
            let starts = Self.starts(work, study: study, trial: n)
            for attempt in paused.keys.sorted() where attempt < paused.keys.max()! {
                let entry = paused[attempt]!
                #expect(!entry.announced || entry.kept, "trial \(n) attempt \(attempt): the checkpoint of epoch \(entry.epoch) it paused at was not stored: \(reports)")
                if attempt < starts.count {
                    #expect(starts[attempt] == entry.epoch, "trial \(n): attempt \(attempt + 1) started at \(starts[attempt]), not where attempt \(attempt) paused (\(entry.epoch)): \(starts)")
                }
            }
        }
    }
}
