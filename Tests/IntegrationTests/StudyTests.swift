import Foundation
import LoomClient
import LoomWire
import Testing

/// Studies end to end through real processes: broker, optimizer, workers and the CLI.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct Studies {
    /// A spec whose trial is a shell one-liner: loss = (x − 0.3)², after `delay` seconds.
    static func spec(name: String, trials: Int, concurrent: Int = 2, delay: Double = 0.2, extra: String = "") throws -> String {
        let text = """
            name: \(name)
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
              k: {choice: [a, b, c]}
            searcher: {type: random, seed: 3}
            trial:
              command: ["/bin/sh", "-c", "sleep \(delay); awk 'BEGIN { printf \\"@hyperloom {\\\\\\"loss\\\\\\": %.6f}\\\\n\\", ({x} - 0.3) ^ 2 }'"]
              max_retries: 1
            budget:
              max_trials: \(trials)
              max_concurrent: \(concurrent)
            \(extra)
            """
        let url = Harness.scratch.appendingPathComponent("\(name).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static func cli(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Harness.run([Harness.binary.path] + arguments)
    }

    /// Waits until `status STUDY --json` says the study is no longer running.
    static func waitForEnd(_ study: String, broker: String, timeout: Duration = .seconds(90)) throws -> [String: JSONValue] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let run = try cli(["status", study, "--json", "--broker", broker])
            if run.status == 0, let doc = try? JSONDecoder().decode(JSONValue.self, from: Data(run.output.utf8)).object,
               doc["state"]?.argument != "running" {
                return doc
            }
            Thread.sleep(forTimeInterval: 0.3)
        }
        return [:]
    }

    @Test func cliDrivesAStudyThroughBrokerOptimizerAndTwoWorkers() throws {
        let (broker, endpoint, feed) = try Harness.broker()
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("cli.db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feed])
        defer { optimizer.stop() }
        Thread.sleep(forTimeInterval: 0.5)   // the optimizer subscribes to the feed before the workers join
        let workers = try (1...2).map { try Harness.worker("s\($0)", broker: endpoint, slots: 2) }
        defer { workers.forEach { $0.stop() } }

        let submitted = try Self.cli(["submit", try Self.spec(name: "cli", trials: 8), "--broker", endpoint])
        #expect(submitted.status == 0, "\(submitted.output)\noptimizer:\n\(optimizer.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(study == "cli-1")
        let end = try Self.waitForEnd(study, broker: endpoint)
        #expect(end["state"] == .string("complete"), "\(end)\noptimizer:\n\(optimizer.output)")
        #expect(end["counts"]?.object?["complete"] == .number(8))

        let status = try Self.cli(["status", study, "--broker", endpoint])
        #expect(status.status == 0 && status.output.contains("best loss (min)"), "\(status.output)")
        #expect(status.output.contains("workers alive: 2"), "\(status.output)")
        let best = try Self.cli(["best", study, "--json", "--broker", endpoint])
        let bestDoc = try #require(try? JSONDecoder().decode(JSONValue.self, from: Data(best.output.utf8)).object, "\(best.output)")
        let x = try #require(bestDoc["config"]?.object?["x"]?.double)
        let value = bestDoc["value"]?.double ?? -1
        let expected = (x - 0.3) * (x - 0.3)
        #expect(abs(value - expected) < 1e-5, "the value is the trial's own")

        let csvPath = Harness.scratch.appendingPathComponent("cli.csv").path
        let export = try Self.cli(["export", study, "--format", "csv", "--out", csvPath, "--broker", endpoint])
        #expect(export.status == 0, "\(export.output)")
        let lines = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 9, "a header and one row per trial")
        let header = lines.first.map { $0.split(separator: ",").map(String.init) } ?? []
        for column in ["study", "trial", "state", "value", "param_x", "param_k", "metric_loss", "attempts", "worker", "duration_s", "reports"] {
            #expect(header.contains(column), "missing column \(column): \(header)")
        }
        if let valueColumn = header.firstIndex(of: "value"), let lossColumn = header.firstIndex(of: "metric_loss") {
            for row in lines.dropFirst() {
                let cells = row.split(separator: ",", omittingEmptySubsequences: false)
                #expect(cells[valueColumn] == cells[lossColumn], "value at full precision, as metric_loss: \(row)")
            }
        }
        let jsonl = try Self.cli(["export", study, "--format", "jsonl", "--broker", endpoint])
        #expect(jsonl.output.split(separator: "\n").count == 8)

        // Worker events from the feed are in the store.
        let overview = try Self.cli(["status", "--json", "--broker", endpoint])
        let events = (try? JSONDecoder().decode(JSONValue.self, from: Data(overview.output.utf8)))?.object?["worker_events"]
        var joined: [String] = []
        if case .array(let list)? = events {
            for case .object(let event) in list where event["event"] == .string("joined") {
                if let worker = event["worker"]?.argument { joined.append(worker) }
            }
        }
        #expect(Set(joined) == ["s1", "s2"], "\(overview.output)")

        // The same documents straight from the store file.
        let fromStore = try Self.cli(["trials", study, "--store", store])
        #expect(fromStore.status == 0 && fromStore.output.split(separator: "\n").count == 9, "\(fromStore.output)")

        // Ask and tell on a second study; then cancel it.
        let second = try Self.cli(["submit", try Self.spec(name: "asked", trials: 50, concurrent: 1, delay: 5), "--broker", endpoint])
        let asked = second.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let ask = try Self.cli(["ask", asked, "--broker", endpoint])
        let trial = try #require(try? JSONDecoder().decode(JSONValue.self, from: Data(ask.output.utf8)).object, "\(ask.output)")
        let number = try #require(trial["trial"]?.double.map(Int.init))
        #expect(trial["config"]?.object?["x"] != nil)
        let tell = try Self.cli(["tell", asked, "\(number)", "--value", "0.0001", "--broker", endpoint])
        #expect(tell.status == 0, "\(tell.output)")
        let told = try Self.cli(["best", asked, "--json", "--broker", endpoint])
        #expect(told.output.contains("0.0001"), "\(told.output)")
        let again = try Self.cli(["tell", asked, "\(number)", "--value", "1", "--broker", endpoint])
        #expect(again.status != 0 && again.output.contains("already complete"), "\(again.output)")
        let cancel = try Self.cli(["cancel", asked, "--broker", endpoint])
        #expect(cancel.status == 0 && cancel.output.contains("cancelled"), "\(cancel.output)")
        let unknown = try Self.cli(["status", "nope-1", "--broker", endpoint])
        #expect(unknown.status != 0 && unknown.output.contains("no study \"nope-1\""), "\(unknown.output)")
    }

    @Test func brokenSpecIsRejectedWithItsLineAndNothingIsStored() throws {
        let bad = Harness.scratch.appendingPathComponent("bad.yaml")
        try "name: bad\nmetric: loss\nmode: sideways\n".write(to: bad, atomically: true, encoding: .utf8)
        let store = Harness.scratch.appendingPathComponent("bad.db").path
        let run = try Self.cli(["run", bad.path, "--store", store])
        #expect(run.status != 0)
        #expect(run.output.contains("bad.yaml:3"), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: store), "the store is untouched")
    }

    @Test func killedOptimizerResumesItsStudyWithoutRerunningOrDoubleCounting() throws {
        let (broker, endpoint, _) = try Harness.broker()
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("resume.db").path
        var optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store])
        let workers = try (1...2).map { try Harness.worker("r\($0)", broker: endpoint, slots: 2) }
        defer { workers.forEach { $0.stop() } }
        let submitted = try Self.cli(["submit", try Self.spec(name: "resume", trials: 16, concurrent: 4, delay: 0.5), "--broker", endpoint])
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(study == "resume-1", "\(submitted.output)")
        // Let a few trials finish, then kill -9 the optimizer while others run.
        let deadline = ContinuousClock.now + .seconds(30)
        var complete = 0.0
        while complete < 4 && ContinuousClock.now < deadline {
            let run = try Self.cli(["status", study, "--json", "--broker", endpoint])
            complete = (try? JSONDecoder().decode(JSONValue.self, from: Data(run.output.utf8)))?.object?["counts"]?.object?["complete"]?.double ?? 0
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(complete >= 4)
        optimizer.signal(SIGKILL)
        optimizer.waitForExit()
        Thread.sleep(forTimeInterval: 1.5)
        optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store])
        defer { optimizer.stop() }
        let end = try Self.waitForEnd(study, broker: endpoint)
        #expect(end["state"] == .string("complete"), "\(end)\n\(optimizer.output)")
        #expect(end["counts"]?.object?["complete"] == .number(16), "\(end)")
        #expect(end["trials"] == .number(16), "no trial was created twice")
        // Every trial ran exactly once: one attempt directory per job across the workers.
        var attempts: [String: Int] = [:]
        for w in 1...2 {
            let root = Harness.scratch.appendingPathComponent("work-r\(w)")
            // Job directories; `.blobs` is the worker's checkpoint snapshot cache.
            for job in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] where !job.hasPrefix(".") {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(job).path)) ?? []
                attempts[job, default: 0] += entries.filter { $0.hasPrefix("attempt-") }.count
            }
        }
        #expect(attempts.count == 16, "\(attempts)")
        #expect(attempts.values.allSatisfy { $0 == 1 }, "a trial ran twice: \(attempts)")
    }
}
