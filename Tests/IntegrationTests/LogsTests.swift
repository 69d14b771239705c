import Foundation
import LoomClient
import LoomWire
import Testing

/// Trial output end to end: worker → LOG → broker feed → optimizer store, and `hyperloom logs`.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct TrialLogs {
    /// A trial that prints `count` lines 100 ms apart, one stderr line, then its metric line.
    /// After line `pause` it waits (at most 20 s) for the file `go` to exist, so the test knows
    /// the follower is attached while the trial still runs, however slow the machine is.
    static func spec(name: String, count: Int, pause: Int, go: String) throws -> String {
        let script = Harness.scratch.appendingPathComponent("\(name).sh")
        try """
            i=1
            while [ $i -le \(count) ]; do
              echo "line $i of 7"
              if [ $i -eq \(pause) ]; then w=0; while [ ! -e \(go) ] && [ $w -lt 200 ]; do sleep 0.1; w=$((w + 1)); done; fi
              i=$((i + 1)); sleep 0.1
            done
            echo "a warning" >&2
            echo '@hyperloom {"loss": 0.5}'
            """.write(to: script, atomically: true, encoding: .utf8)
        let text = """
            name: \(name)
            metric: loss
            mode: min
            space:
              x: {choice: [7]}
            searcher: {type: random, seed: 1}
            trial:
              command: ["/bin/sh", "\(script.path)"]
            budget:
              max_trials: 1
              max_concurrent: 1
            """
        let url = Harness.scratch.appendingPathComponent("\(name).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func followStreamsARunningTrialThenTheStoreHasEveryLine() throws {
        let count = 20, pause = 5
        let go = Harness.scratch.appendingPathComponent("logs-go").path
        try? FileManager.default.removeItem(atPath: go)
        let (broker, endpoint, feed) = try Harness.broker()
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("logs.db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feed])
        defer { optimizer.stop() }
        let worker = try Harness.worker("l1", broker: endpoint)
        defer { worker.stop() }

        let submitted = try Studies.cli(["submit", try Self.spec(name: "logs", count: count, pause: pause, go: go), "--broker", endpoint])
        #expect(submitted.status == 0, "\(submitted.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        // The trial exists once the optimizer has created it; an unknown trial is a clear error.
        let deadline = ContinuousClock.now + .seconds(20)
        var early = try Studies.cli(["logs", study, "1", "--broker", endpoint])
        while early.status != 0, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            early = try Studies.cli(["logs", study, "1", "--broker", endpoint])
        }
        #expect(early.status == 0, "\(early.output)")

        let follower = try Spawned("logs-follow", ["logs", study, "1", "--follow", "--broker", endpoint, "--feed", feed])
        defer { follower.stop() }
        // Early lines arrive while the trial still runs (it waits for `go` after line 5) ...
        #expect(follower.waitForLine(containing: "line \(pause) of 7", timeout: .seconds(20)) != nil, "\(follower.output)\n\(worker.output)")
        #expect(!follower.output.contains("line \(pause + 1) of 7"))
        // ... and the rest live, as the trial prints them (about 1.5 s more).
        FileManager.default.createFile(atPath: go, contents: nil)
        #expect(follower.waitForLine(containing: "line \(pause + 2) of 7", timeout: .seconds(20)) != nil, "\(follower.output)")
        #expect(!follower.output.contains("line \(count) of 7"), "the follower saw line \(pause + 2) before the trial printed its last")
        #expect(follower.waitForExit(timeout: .seconds(30)) == 0, "\(follower.output)")
        let followed = follower.output.split(separator: "\n").map(String.init)
        let expected = (1...count).map { "line \($0) of 7" } + ["@hyperloom {\"loss\": 0.5}"]
        #expect(followed.filter { $0.hasPrefix("line ") || $0.hasPrefix("@hyperloom") } == expected, "\(follower.output)")
        #expect(followed.filter { $0 == "stderr| a warning" }.count == 1, "\(follower.output)")

        // After the end, every line comes from the store: through the optimizer and from the file.
        let stored = try Studies.cli(["logs", study, "1", "--stream", "stdout", "--broker", endpoint])
        #expect(stored.status == 0)
        #expect(stored.output.split(separator: "\n").map(String.init) == expected, "\(stored.output)")
        let fromFile = try Studies.cli(["logs", study, "1", "--attempt", "1", "--store", store])
        #expect(fromFile.output.split(separator: "\n").count == count + 2, "\(fromFile.output)")
        let stderr = try Studies.cli(["logs", study, "1", "--stream", "stderr", "--store", store])
        #expect(stderr.output == "a warning\n", "\(stderr.output)")

        let unknownTrial = try Studies.cli(["logs", study, "9", "--broker", endpoint])
        #expect(unknownTrial.status == 1 && unknownTrial.output.contains("has no trial 9"), "\(unknownTrial.output)")
        let unknownAttempt = try Studies.cli(["logs", study, "1", "--attempt", "4", "--store", store])
        #expect(unknownAttempt.status == 1 && unknownAttempt.output.contains("has no attempt 4"), "\(unknownAttempt.output)")
        let unknownStudy = try Studies.cli(["logs", "nope", "1", "--store", store])
        #expect(unknownStudy.status == 1 && unknownStudy.output.contains("no study \"nope\""), "\(unknownStudy.output)")
    }
}
