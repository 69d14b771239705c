import Foundation
import LoomWire
import Testing

/// Stragglers through real processes: a trial that goes silent is killed and runs again.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct Stragglers {
    /// A number field of a feed line (`"key":1.25`).
    static func number(_ key: String, in line: String) -> Double? {
        guard let range = line.range(of: "\"\(key)\":") else { return nil }
        return Double(line[range.upperBound...].prefix { "0123456789.eE+-".contains($0) })
    }

    /// The `attempt_log` entries of an exported trial row.
    static func attemptLog(_ row: [String: JSONValue]) -> [[String: JSONValue]] {
        guard case .array(let entries)? = row["attempt_log"] else { return [] }
        return entries.compactMap(\.object)
    }

    @Test func trialThatStopsReportingIsCancelledAndItsNextAttemptCompletesTheStudy() throws {
        let (broker, endpoint, feedEndpoint) = try Harness.broker()
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("stall.db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feedEndpoint])
        defer { optimizer.stop() }
        let feed = try Spawned("feed", ["feed", "--feed", feedEndpoint, "--topic", "job/"])
        defer { feed.stop() }
        let workers = try (1...2).map { try Harness.worker("st\($0)", broker: endpoint, slots: 1) }
        defer { workers.forEach { $0.stop() } }
        Thread.sleep(forTimeInterval: 0.5)   // the feed subscription is in place before anything runs

        // Attempt 1 reports once, then hangs; attempt 2 finishes at once.
        let script = #"echo '@hyperloom {"loss": 9}'; if [ "$HYPERLOOM_ATTEMPT" = 1 ]; then sleep 60; fi; echo '@hyperloom {"loss": 0.5}'"#
        let spec = """
            name: stall
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: {type: random, seed: 1}
            trial:
              command: \(String(decoding: JSONCoding.encode(JSONValue.array([.string("/bin/sh"), .string("-c"), .string(script)])), as: UTF8.self))
              stall_timeout: 3s
              max_retries: 1
            budget: {max_trials: 2, max_concurrent: 2}
            """
        let path = Harness.scratch.appendingPathComponent("stall.yaml")
        try spec.write(to: path, atomically: true, encoding: .utf8)
        let submitted = try Studies.cli(["submit", path.path, "--broker", endpoint])
        try #require(submitted.status == 0, "\(submitted.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)

        let end = try Studies.waitForEnd(study, broker: endpoint, timeout: .seconds(60))
        #expect(end["state"] == .string("complete"), "\(end)\nbroker:\n\(broker.output.suffix(2_000))")
        #expect(end["counts"]?.object?["complete"] == .number(2))
        let export = try Studies.cli(["export", study, "--format", "jsonl", "--broker", endpoint])
        for row in export.output.split(separator: "\n").compactMap({ try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)).object }) {
            #expect(row["value"] == .number(0.5) && row["attempts"] == .number(2), "\(row)")
            // The optimizer's attempt rows say what became of attempt 1 (the broker's ENDED).
            let log = Self.attemptLog(row)
            #expect(log.map { $0["state"]?.argument ?? "" } == ["stalled", "complete"], "\(row)")
            #expect(log.first?["error"]?.argument.hasPrefix("stalled: no report for 3") == true, "\(row)")
        }
        let status = try Studies.cli(["status", "--json", "--broker", endpoint])
        let counters = (try? JSONDecoder().decode(JSONValue.self, from: Data(status.output.utf8)))?.object?["broker"]?.object?["counters"]?.object
        #expect(counters?["stalled"] == .number(2) && counters?["requeued"] == .number(2), "\(status.output)")
        #expect(feed.waitForLine(containing: #""event":"stalled""#, timeout: .seconds(5)) != nil, "\(feed.output)")
        #expect(feed.output.contains(#""stall_timeout_s":3"#), "\(feed.output)")
    }

    @Test func slowTrialGetsABackupCopyWhoseResultWinsAndTheOriginalIsCancelled() throws {
        // The broker's straggler settings come from its flags: backups from 2 s (default 5 s).
        let (broker, endpoint, feedEndpoint) = try Harness.broker(extra: ["--slow-attempt-min-runtime", "2s", "--slow-attempt-factor", "3"])
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("slow.db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feedEndpoint])
        defer { optimizer.stop() }
        let feed = try Spawned("feed", ["feed", "--feed", feedEndpoint, "--topic", "job/"])
        defer { feed.stop() }
        let workers = try (1...2).map { try Harness.worker("sl\($0)", broker: endpoint, slots: 3) }
        defer { workers.forEach { $0.stop() } }
        Thread.sleep(forTimeInterval: 0.5)

        // Six trials at once; five take 0.5 s, the first attempt of trial 6 would take a minute.
        // Past the broker's minimum of 2 s (set above; more than three times the 0.5 s median of
        // five peers), a backup copy (attempt 2, on the other worker) runs and finishes in 0.5 s.
        let script = #"if [ "$HYPERLOOM_ATTEMPT" = 1 ] && [ "${HYPERLOOM_TRIAL_ID##*/}" = 6 ]; then sleep 60; else sleep 0.5; fi; echo "@hyperloom {\"loss\": $HYPERLOOM_ATTEMPT}""#
        let spec = """
            name: slow
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            searcher: {type: random, seed: 1}
            trial:
              command: \(String(decoding: JSONCoding.encode(JSONValue.array([.string("/bin/sh"), .string("-c"), .string(script)])), as: UTF8.self))
            budget: {max_trials: 6, max_concurrent: 6}
            """
        let path = Harness.scratch.appendingPathComponent("slow.yaml")
        try spec.write(to: path, atomically: true, encoding: .utf8)
        let submitted = try Studies.cli(["submit", path.path, "--broker", endpoint])
        try #require(submitted.status == 0, "\(submitted.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)

        let end = try Studies.waitForEnd(study, broker: endpoint, timeout: .seconds(40))
        #expect(end["state"] == .string("complete"), "\(end)\nbroker:\n\(broker.output.suffix(2_000))")
        #expect(end["counts"]?.object?["complete"] == .number(6))
        let export = try Studies.cli(["export", study, "--format", "jsonl", "--broker", endpoint])
        let rows = export.output.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)).object }
        let sixth = rows.first { $0["trial"] == .number(6) || $0["number"] == .number(6) }
        #expect(sixth?["value"] == .number(2), "the backup's result is the one recorded: \(rows)")
        // The original is recorded as superseded, not lost nor still running; no attempt of any
        // trial is left running.
        let log = Self.attemptLog(sixth ?? [:])
        #expect(log.map { $0["state"]?.argument ?? "" } == ["superseded", "complete"], "\(rows)")
        #expect(log.first?["error"]?.argument == "superseded: attempt 2 of the job finished first", "\(rows)")
        let states = rows.flatMap { Self.attemptLog($0).compactMap { $0["state"]?.argument } }
        #expect(!states.contains("running"), "\(rows)")
        let status = try Studies.cli(["status", "--json", "--broker", endpoint])
        let counters = (try? JSONDecoder().decode(JSONValue.self, from: Data(status.output.utf8)))?.object?["broker"]?.object?["counters"]?.object
        #expect(counters?["speculated"] == .number(1) && counters?["superseded"] == .number(1), "\(status.output)")
        #expect(counters?["finished"] == .number(6), "one result per trial: \(status.output)")
        #expect(feed.waitForLine(containing: #""event":"superseded""#, timeout: .seconds(5)) != nil, "\(feed.output)")
        let speculated = try #require(feed.output.split(separator: "\n").first { $0.contains(#""event":"speculated""#) })
        let ran = try #require(Self.number("ran_s", in: String(speculated)))
        #expect(ran >= 2 && ran < 4.5, "--slow-attempt-min-runtime 2s took effect: \(speculated)")
        // The cancelled original's FAILED arrives under its fenced lease: stale, never counted.
        #expect(feed.waitForLine(containing: #""event":"stale""#, timeout: .seconds(10)) != nil, "\(feed.output)")
    }

    @Test func workerWhoseHeartbeatsComeLateGetsNoTrialsUntilItRecovers() throws {
        let (broker, endpoint, feedEndpoint) = try Harness.broker()
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("pace.db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feedEndpoint])
        defer { optimizer.stop() }
        let feed = try Spawned("feed", ["feed", "--feed", feedEndpoint, "--topic", "worker/"])
        defer { feed.stop() }
        Thread.sleep(forTimeInterval: 0.5)
        let steady = try Harness.worker("steady", broker: endpoint, slots: 2)
        defer { steady.stop() }
        // Declared dead only after 10 silent seconds, so pauses of 2.5 s make it late, not lost.
        let halting = try Harness.worker("halting", broker: endpoint, slots: 2, extra: ["--liveness", "10"])
        defer {
            halting.signal(SIGCONT)
            halting.stop()
        }
        try #require(feed.waitForLine(containing: "worker/halting/joined") != nil, "\(feed.output)")

        // Frozen for 2.5 s three times: each first heartbeat after a thaw is 1.5 s late.
        for _ in 1...3 {
            halting.signal(SIGSTOP)
            Thread.sleep(forTimeInterval: 2.5)
            halting.signal(SIGCONT)
            Thread.sleep(forTimeInterval: 0.3)
        }
        try #require(feed.waitForLine(containing: "worker/halting/slow", timeout: .seconds(5)) != nil, "\(feed.output)")
        let status = try Studies.cli(["status", "--json", "--broker", endpoint])
        let brokerDoc = (try? JSONDecoder().decode(JSONValue.self, from: Data(status.output.utf8)))?.object?["broker"]?.object
        #expect(brokerDoc?["stragglers"]?.object?["slow_workers"] == .array([.string("halting")]), "\(status.output)")
        let table = try Studies.cli(["status", "--broker", endpoint])
        #expect(table.output.contains("slow workers (late heartbeats, no new jobs): halting"), "\(table.output)")

        // While it is slow, every trial runs on the other worker.
        let submitted = try Studies.cli(["submit", try Studies.spec(name: "pace", trials: 4, concurrent: 4, delay: 0.2),
                                         "--broker", endpoint])
        try #require(submitted.status == 0, "\(submitted.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let end = try Studies.waitForEnd(study, broker: endpoint, timeout: .seconds(30))
        #expect(end["state"] == .string("complete"), "\(end)")
        let export = try Studies.cli(["export", study, "--format", "jsonl", "--broker", endpoint])
        let workers = export.output.split(separator: "\n").compactMap {
            (try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)))?.object?["worker"]?.argument
        }
        #expect(workers == Array(repeating: "steady", count: 4), "\(export.output)")

        // On time again, it recovers.
        #expect(feed.waitForLine(containing: "worker/halting/recovered", timeout: .seconds(20)) != nil, "\(feed.output)")
        #expect(!feed.output.contains("worker/halting/lost"))
    }
}
