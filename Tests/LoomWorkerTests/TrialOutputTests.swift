import Testing
@testable import LoomWorker
import LoomWire

/// The pure parts of running a trial: metric lines, placeholders, environment, paths, results.
@Suite struct TrialOutputBehaviour {
    func lines(_ chunks: [String], maxLine: Int = MetricLineScanner.defaultMaxLine) -> [String] {
        var scanner = MetricLineScanner(maxLine: maxLine)
        var out = chunks.flatMap { scanner.feed(Array($0.utf8)) }
        if let last = scanner.finish() { out.append(last) }
        return out.map { String(decoding: $0.bytes, as: UTF8.self) + ($0.truncated ? "…" : "") }
    }

    @Test func metricLinesAreFoundAcrossChunksOfAnySize() {
        let text = "epoch 1\n@hyperloom {\"a\": 1}\nnoise @hyperloom {}\n@hyper\n@hyperloom {\"b\": 2}\r\n@hyperloom {\"c\": 3}"
        let expected = [#"@hyperloom {"a": 1}"#, #"@hyperloom {"b": 2}"#, #"@hyperloom {"c": 3}"#]
        #expect(lines([text]) == expected)
        #expect(lines(text.map { String($0) }) == expected, "one byte at a time")
        #expect(lines(["@hyper", "loom {\"a\"", ": 1}\n"]) == [#"@hyperloom {"a": 1}"#])
    }

    @Test func aMetricLineLongerThanTheCapIsCutAndReportedMalformed() {
        let long = "@hyperloom {\"x\": \"" + String(repeating: "y", count: 100) + "\"}\n@hyperloom {}\n"
        let found = lines([long], maxLine: 40)
        #expect(found.count == 2)
        #expect(found[0].hasSuffix("…") && found[0].utf8.count == 40 + "…".utf8.count)
        var scanner = MetricLineScanner(maxLine: 40)
        let cut = scanner.feed(Array(long.utf8))[0]
        guard case .malformed = MetricLine.parse(cut) else {
            Issue.record("a cut line must not parse")
            return
        }
    }

    @Test func metricObjectsAreReencodedCompactlyAndCheckpointIsRecognised() {
        let line = MetricLineScanner.Line(bytes: Array(#"@hyperloom { "loss": 0.25, "epoch": 3, "checkpoint": true }"#.utf8), truncated: false)
        guard case .metrics(let payload, let checkpoint, _) = MetricLine.parse(line) else {
            Issue.record("should parse")
            return
        }
        #expect(String(decoding: payload, as: UTF8.self) == #"{"checkpoint":true,"epoch":3,"loss":0.25}"#)
        #expect(checkpoint)
        let numbers = MetricLineScanner.Line(bytes: Array(#"@hyperloom {"checkpoint": 1, "ok": 1}"#.utf8), truncated: false)
        guard case .metrics(let body, let flagged, _) = MetricLine.parse(numbers) else {
            Issue.record("should parse")
            return
        }
        #expect(!flagged, "only the boolean true announces a checkpoint")
        #expect(String(decoding: body, as: UTF8.self) == #"{"checkpoint":1,"ok":1}"#)
    }

    @Test func metricLinesThatAreNotObjectsAreMalformed() {
        for text in ["@hyperloom [1, 2]", "@hyperloom 3", "@hyperloom {oops", "@hyperloom "] {
            let line = MetricLineScanner.Line(bytes: Array(text.utf8), truncated: false)
            guard case .malformed = MetricLine.parse(line) else {
                Issue.record("\(text) should be malformed")
                continue
            }
        }
    }

    @Test func placeholdersAreReplacedAndUnknownBracesLeftAlone() {
        let values = ["lr": "0.01", "trial_id": "j/1", "attempt": "2"]
        #expect(TrialLaunch.substitute("--lr={lr}", values) == "--lr=0.01")
        #expect(TrialLaunch.substitute("{trial_id}-{attempt}-{attempt}", values) == "j/1-2-2")
        #expect(TrialLaunch.substitute("for f in {a,b}; do echo ${HOME}; done {", values) == "for f in {a,b}; do echo ${HOME}; done {")
        #expect(TrialLaunch.substitute("{{lr}}", values) == "{0.01}")
        #expect(TrialLaunch.substitute("{}", values) == "{}")
    }

    @Test func launchRendersConfigValuesAndSetsTheTrialEnvironment() {
        let spec = JobSpec(command: ["train", "--lr={lr}", "--layers={layers}", "--opt={opt}", "--ckpt={checkpoint_dir}", "{worker_id}"],
                           config: ["lr": .number(0.001), "layers": .number(3), "opt": .string("adam")],
                           env: ["EXTRA": "1", "HYPERLOOM_LEASE": "spoofed"])
        let ref = AttemptRef(job: "study/7", attempt: 2, lease: 99)
        let paths = AttemptPaths(workDir: "/w", ref: ref)
        let launch = TrialLaunch(spec: spec, ref: ref, paths: paths, workerID: "w-1",
                                 baseEnvironment: ["PATH": "/bin", "EXTRA": "0"], resume: true)
        #expect(launch.arguments == ["train", "--lr=0.001", "--layers=3", "--opt=adam", "--ckpt=/w/study%2F7/checkpoint", "w-1"])
        let env = Dictionary(uniqueKeysWithValues: launch.environment.map { entry -> (String, String) in
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), String(parts[1]))
        })
        #expect(env["PATH"] == "/bin")
        #expect(env["EXTRA"] == "1")
        #expect(env["HYPERLOOM_CONFIG"] == #"{"layers":3,"lr":0.001,"opt":"adam"}"#)
        #expect(env["HYPERLOOM_TRIAL_ID"] == "study/7")
        #expect(env["HYPERLOOM_ATTEMPT"] == "2")
        #expect(env["HYPERLOOM_LEASE"] == "99")
        #expect(env["HYPERLOOM_WORKER_ID"] == "w-1")
        #expect(env["HYPERLOOM_CHECKPOINT_DIR"] == "/w/study%2F7/checkpoint")
        #expect(env["HYPERLOOM_ATTEMPT_DIR"] == "/w/study%2F7/attempt-2")
        #expect(env["HYPERLOOM_RESUME"] == "1")
        #expect(launch.environment == launch.environment.sorted())
    }

    @Test func theBudgetIsExportedAndFillsItsPlaceholder() {
        let ref = AttemptRef(job: "study/7", attempt: 3, lease: 5)
        let paths = AttemptPaths(workDir: "/w", ref: ref)
        func launch(_ budget: Double?) -> TrialLaunch {
            TrialLaunch(spec: JobSpec(command: ["train", "--epochs", "{budget}"], budget: budget), ref: ref, paths: paths,
                        workerID: "w", baseEnvironment: [:], resume: true)
        }
        #expect(launch(9).arguments == ["train", "--epochs", "9"])
        #expect(launch(9).environment.contains("HYPERLOOM_BUDGET=9"))
        #expect(launch(2.5).arguments == ["train", "--epochs", "2.5"])
        #expect(launch(nil).arguments == ["train", "--epochs", "{budget}"], "no budget: the text stays")
        #expect(!launch(nil).environment.contains { $0.hasPrefix("HYPERLOOM_BUDGET=") })
    }

    @Test func jobIDsBecomeSafeDistinctDirectoryNames() {
        #expect(AttemptPaths.directoryName(forJob: "a-1_b.c") == "a-1_b.c")
        #expect(AttemptPaths.directoryName(forJob: "s/t") == "s%2Ft")
        #expect(AttemptPaths.directoryName(forJob: "..") == "%2E.")
        #expect(AttemptPaths.directoryName(forJob: "a b%é") == "a%20b%25%C3%A9")
        let long1 = AttemptPaths.directoryName(forJob: String(repeating: "x", count: 500) + "1")
        let long2 = AttemptPaths.directoryName(forJob: String(repeating: "x", count: 500) + "2")
        #expect(long1.utf8.count <= 200 && long2.utf8.count <= 200)
        #expect(long1 != long2)
    }

    @Test func programsAreFoundOnTheTrialsPath() {
        let exists: Set<String> = ["/opt/bin/train", "/usr/bin/python3"]
        #expect(TrialLaunch.resolve(program: "python3", path: "/opt/bin:/usr/bin", isExecutable: exists.contains) == "/usr/bin/python3")
        #expect(TrialLaunch.resolve(program: "train", path: "/opt/bin:/usr/bin", isExecutable: exists.contains) == "/opt/bin/train")
        #expect(TrialLaunch.resolve(program: "./run.sh", path: "/opt/bin", isExecutable: exists.contains) == "./run.sh")
        #expect(TrialLaunch.resolve(program: "nope", path: "/opt/bin", isExecutable: exists.contains) == nil)
    }

    @Test func resultsSayWhatHappenedInASentence() {
        func result(_ termination: TrialResult.Termination, _ intervention: TrialResult.Intervention? = nil) -> TrialResult {
            TrialResult(termination: termination, intervention: intervention, lastMetrics: nil, reports: 0,
                        stderrTail: "", duration: .milliseconds(1500), attemptDir: "/w/j/attempt-1")
        }
        #expect(result(.exited(code: 0)).kind == .final)
        #expect(result(.exited(code: 3)).error == "exit code 3")
        #expect(result(.signaled(9)).error == "killed by signal 9")
        #expect(result(.signaled(15), .timedOut(after: 30)).error == "timed out after 30s")
        #expect(result(.signaled(15), .timedOut(after: 0.5)).error == "timed out after 0.5s")
        let cancelledCleanly = result(.exited(code: 0), .cancelled(reason: "fenced"))
        #expect(cancelledCleanly.kind == .failed, "exiting 0 on SIGTERM is an interruption, not a result")
        #expect(cancelledCleanly.error == "cancelled: fenced")
        #expect(TrialResult.Termination(waitStatus: 3 << 8) == .exited(code: 3))
        #expect(TrialResult.Termination(waitStatus: 9) == .signaled(9))
    }

    @Test func stderrTailKeepsTheLastBytesFromACharacterBoundary() {
        var tail = OutputTail(capacity: 8)
        for chunk in ["0123456789", "é", "abcdef"] {
            Array(chunk.utf8).withUnsafeBytes { tail.append($0) }
        }
        #expect(tail.text == "éabcdef")
        var cut = OutputTail(capacity: 7)
        Array("xéabcdef".utf8).withUnsafeBytes { cut.append($0) }
        #expect(cut.text == "abcdef", "the half of é at the start is dropped")
    }
}
