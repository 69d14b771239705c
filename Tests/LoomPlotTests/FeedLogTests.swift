import Foundation
import LoomPlot
import Testing

/// A logger file as the common contract describes it: one feed event per line, the body's fields
/// at the top level, the payload parsed under `payload`.
@Suite struct FeedLogs {
    static let lines = [
        #"{"seq": 1, "topic": "worker/w1/joined", "event": "joined", "time": 99.0, "worker": "w1", "slots": 2}"#,
        #"{"seq": 2, "topic": "job/mnist-1/1/queued", "event": "queued", "time": 100.0, "job": "mnist-1/1", "client": "opt", "attempt": 1, "payload": {"command": ["python3", "train.py"], "config": {"lr": 0.01, "opt": "adam"}}}"#,
        #"{"seq": 3, "topic": "job/mnist-1/2/queued", "event": "queued", "time": 100.0, "job": "mnist-1/2", "client": "opt", "attempt": 1, "payload": {"command": ["python3", "train.py"], "config": {"lr": 0.1, "opt": "sgd"}}}"#,
        #"{"seq": 4, "topic": "job/mnist-1/1/started", "event": "started", "time": 100.5, "job": "mnist-1/1", "attempt": 1, "lease": 11, "worker": "w1"}"#,
        #"{"seq": 5, "topic": "job/mnist-1/2/started", "event": "started", "time": 100.6, "job": "mnist-1/2", "attempt": 1, "lease": 12, "worker": "w1"}"#,
        #"{"seq": 6, "topic": "job/mnist-1/1/report", "event": "report", "time": 101.0, "job": "mnist-1/1", "attempt": 1, "lease": 11, "worker": "w1", "payload": {"epoch": 1, "loss": 0.9}}"#,
        #"{"seq": 7, "topic": "job/mnist-1/2/report", "event": "report", "time": 101.5, "job": "mnist-1/2", "attempt": 1, "lease": 12, "worker": "w1", "payload": {"epoch": 1, "loss": 1.2}}"#,
        #"{"seq": 8, "topic": "job/mnist-1/2/failed", "event": "failed", "time": 102.0, "job": "mnist-1/2", "attempt": 1, "lease": 12, "worker": "w1", "payload": {"error": "exit code 3", "exit_code": 3}}"#,
        #"{"seq": 9, "topic": "job/mnist-1/1/report", "event": "report", "time": 102.5, "job": "mnist-1/1", "attempt": 1, "lease": 11, "worker": "w1", "payload": {"epoch": 2, "loss": 0.5, "checkpoint": true}}"#,
        #"{"seq": 10, "topic": "job/mnist-1/1/checkpoint", "event": "checkpoint", "time": 102.5, "job": "mnist-1/1", "attempt": 1, "lease": 11, "worker": "w1", "payload": {"epoch": 2, "loss": 0.5, "checkpoint": true}}"#,
        #"{"seq": 11, "topic": "job/mnist-1/1/finished", "event": "finished", "time": 103.0, "job": "mnist-1/1", "attempt": 1, "lease": 11, "worker": "w1", "payload": {"metrics": {"epoch": 2, "loss": 0.5}, "exit_code": 0}}"#,
        #"{"seq": 12, "topic": "job/mnist-1/3/queued", "event": "queued", "time": 103.0, "job": "mnist-1/3", "client": "opt", "attempt": 1, "payload": {"command": ["x"], "config": {"lr": 1.0, "opt": "adam"}}}"#,
        #"{"seq": 13, "topic": "job/mnist-1/2/queued", "event": "queued", "time": 103.1, "job": "mnist-1/2", "client": "opt", "attempt": 2, "payload": {"command": ["python3", "train.py"], "config": {"lr": 0.1, "opt": "sgd"}}}"#,
        #"{"seq": 14, "topic": "job/mnist-1/3/started", "event": "started", "time": 103.5, "job": "mnist-1/3", "attempt": 1, "lease": 13, "worker": "w1"}"#,
        #"{"seq": 15, "topic": "job/mnist-1/2/started", "event": "started", "time": 104.0, "job": "mnist-1/2", "attempt": 2, "lease": 14, "worker": "w1"}"#,
        #"{"seq": 16, "topic": "job/mnist-1/3/requeued", "event": "requeued", "time": 105.0, "job": "mnist-1/3", "attempt": 1, "next_attempt": 2, "worker": "w1", "reason": "worker lost"}"#,
        #"{"seq": 17, "topic": "job/mnist-1/3/started", "event": "started", "time": 106.0, "job": "mnist-1/3", "attempt": 2, "lease": 15, "worker": "w2"}"#,
        #"{"seq": 18, "topic": "job/mnist-1/2/report", "event": "report", "time": 106.5, "job": "mnist-1/2", "attempt": 2, "lease": 14, "worker": "w1", "payload": {"epoch": 1, "loss": 1.1}}"#,
        #"{"seq": 19, "topic": "job/mnist-1/3/stale", "event": "stale", "time": 107.0, "job": "mnist-1/3", "attempt": 1, "lease": 13, "worker": "w1", "kind": "report", "payload": {"epoch": 5, "loss": 0.0001}}"#,
        #"{"seq": 20, "topic": "job/mnist-1/3/report", "event": "report", "time": 107.5, "job": "mnist-1/3", "attempt": 2, "lease": 15, "worker": "w2", "payload": {"epoch": 1, "loss": 0.8}}"#,
        #"{"seq": 21, "topic": "job/mnist-1/2/report", "event": "report", "time": 108.0, "job": "mnist-1/2", "attempt": 2, "lease": 14, "worker": "w1", "payload": {"epoch": 2, "loss": 0.7}}"#,
        #"{"seq": 22, "topic": "job/mnist-1/2/finished", "event": "finished", "time": 108.5, "job": "mnist-1/2", "attempt": 2, "lease": 14, "worker": "w1", "payload": {"epoch": 2, "loss": 0.7}}"#,
        #"{"seq": 23, "topic": "job/other-2/1/queued", "event": "queued", "time": 109.0, "job": "other-2/1", "client": "opt", "attempt": 1, "payload": {"command": ["y"], "config": {"x": 1}}}"#,
    ]

    static var text: String { lines.joined(separator: "\n") + "\n" }

    static func read(_ text: String = text, study: String = "mnist-1", metric: String? = "loss") throws(FeedLog.Failure) -> FeedLog.Reading {
        try FeedLog.read(text, file: "fixture.jsonl", study: study, metric: metric, goal: .min, resource: nil)
    }

    @Test func trialsConfigsOutcomesCurvesAndAttemptsAreRead() throws {
        let reading = try Self.read()
        let study = reading.study
        #expect(reading.warnings.isEmpty)
        #expect(study.id == "mnist-1" && study.metric == "loss" && study.goal == .min)
        #expect(study.resource == "epoch", "detected: every metric line carries it")
        #expect(study.startedAt == 100)
        #expect(study.trials.map(\.number) == [1, 2, 3])
        #expect(study.parameters == [ParameterInfo(name: "lr", kind: .log), ParameterInfo(name: "opt", kind: .categorical(["adam", "sgd"]))])

        let (one, two, three) = (study.trials[0], study.trials[1], study.trials[2])
        #expect(one.config == ["lr": .number(0.01), "opt": .category("adam")])
        #expect(one.outcome == .complete && one.value == 0.5 && one.finishedAt == 103)
        #expect(one.curve == [CurvePoint(resource: 1, value: 0.9, time: 101), CurvePoint(resource: 2, value: 0.5, time: 102.5)],
                "the checkpoint repeating the report is one point")
        #expect(one.runs == [RunInterval(start: 100.5, end: 103)])

        #expect(two.outcome == .complete && two.value == 0.7, "retried after a failure; finished payload as bare metrics")
        #expect(two.runs == [RunInterval(start: 100.6, end: 102), RunInterval(start: 104, end: 108.5)])
        #expect(two.curve.map(\.value) == [1.1, 0.7], "the second attempt's epoch 1 replaces the first's")

        #expect(three.outcome == .running && three.value == nil && three.finishedAt == nil)
        #expect(three.runs == [RunInterval(start: 103.5, end: 105), RunInterval(start: 106, end: nil)])
        #expect(three.curve == [CurvePoint(resource: 1, value: 0.8, time: 107.5)], "the stale report is not the trial's")
    }

    @Test func theLogsStudyIsPlottedWithEveryChartItHasDataFor() throws {
        let result = try StudyPlots.render(try Self.read().study)
        #expect(result.plots.map(\.name) == ["convergence-time", "convergence-trials", "finished-over-time", "concurrency",
                                             "budget-correlation", "learning-curves", "parallel-coordinates"])
        #expect(result.skipped.map(\.name) == ["importance"])
        #expect(result.skipped.first?.reason == "fewer than five trials have a result (2)")
        for plot in result.plots { #expect(SVGInspection.parse(plot.svg) != nil, "\(plot.name)") }
    }

    @Test func anUnreadableLineIsReportedWithItsNumber() {
        var lines = Self.lines
        lines[2] = #"{"seq": 3, "topic": "job/mnist-1/2/queued", "#
        #expect(throws: FeedLog.Failure.self) { try Self.read(lines.joined(separator: "\n")) }
        do {
            _ = try Self.read(lines.joined(separator: "\n"))
        } catch {
            #expect(error.description.hasPrefix("fixture.jsonl:3: not valid JSON"), "\(error)")
        }
        lines[2] = "[1, 2]"
        #expect(throws: FeedLog.Failure.badLine(file: "fixture.jsonl", line: 3, message: "expected a JSON object, got [1, 2]")) {
            try Self.read(lines.joined(separator: "\n"))
        }
        lines[2] = #"{"seq": 3, "event": "queued", "time": 1}"#
        #expect(throws: FeedLog.Failure.badLine(file: "fixture.jsonl", line: 3, message: "missing the string field \"topic\"")) {
            try Self.read(lines.joined(separator: "\n"))
        }
        lines[2] = #"{"seq": 3, "topic": "job/mnist-1/2/queued", "event": "queued"}"#
        #expect(throws: FeedLog.Failure.badLine(file: "fixture.jsonl", line: 3, message: "missing the number field \"time\"")) {
            try Self.read(lines.joined(separator: "\n"))
        }
    }

    @Test func anIncompleteLastLineIsSkippedWithAWarning() throws {
        let torn = Self.text + #"{"seq": 24, "topic": "job/mnist-1/3/rep"#
        let reading = try Self.read(torn)
        #expect(reading.warnings == ["fixture.jsonl:24: ignored an incomplete last line (is a logger still writing it?)"])
        #expect(reading.study.trials.count == 3)
    }

    @Test func anUnknownStudyNamesTheStudiesInTheFile() {
        #expect(throws: FeedLog.Failure.unknownStudy(file: "fixture.jsonl", study: "nope", known: ["mnist-1", "other-2"])) {
            try Self.read(study: "nope")
        }
        #expect(FeedLog.Failure.unknownStudy(file: "f", study: "nope", known: ["a", "b"]).description
            == "no study \"nope\" in f; studies in it: a, b")
    }

    @Test func withoutAMetricTheErrorListsTheNumericKeysSeen() {
        #expect(throws: FeedLog.Failure.metricNeeded(file: "fixture.jsonl", numericKeys: ["epoch", "loss"])) {
            try Self.read(metric: nil)
        }
    }
}
