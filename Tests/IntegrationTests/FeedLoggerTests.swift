import Foundation
import LoomWire
import Testing

/// `hyperloom logger` against an in-process broker: killed, torn, restarted, stopped.
@Suite(.serialized, .timeLimit(.minutes(2))) struct FeedLoggerTests {
    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init).filter { !$0.isEmpty }
    }

    static func seqs(_ path: String) -> [UInt64] {
        lines(path).compactMap { line in
            (try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)))?.object?["seq"]?.double.map { UInt64($0) }
        }
    }

    static func waitUntil(_ timeout: Duration = .seconds(30), _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return true
    }

    func logger(_ broker: InProcessBroker, out: String, extra: [String] = []) throws -> Spawned {
        let logger = try Spawned("logger", ["logger", "--feed", broker.feed, "--replay", broker.replay, "--out", out] + extra)
        #expect(logger.waitForLine(containing: "logger: appending") != nil, "logger:\n\(logger.output)")
        return logger
    }

    @Test func loggerKilledWithSIGKILLAndRestartedWritesEveryEventExactlyOnce() throws {
        let broker = try InProcessBroker()
        defer { broker.stop() }
        let out = Harness.scratch.appendingPathComponent("feed-\(UUID().uuidString).jsonl").path
        try broker.submit(400, prefix: "kill")
        let first = try logger(broker, out: out)
        // Killed while a burst is being written.
        try broker.submit(2_000, prefix: "kill2")
        #expect(Self.waitUntil { Self.seqs(out).count >= 600 })
        first.signal(SIGKILL)
        first.waitForExit()
        // A crash mid-write leaves half a line behind.
        let handle = try #require(FileHandle(forWritingAtPath: out))
        handle.seekToEndOfFile()
        handle.write(Data("{\"seq\":999999,\"topic\":\"job/torn".utf8))
        try handle.close()
        try broker.submit(600, prefix: "after")
        let second = try logger(broker, out: out)
        #expect(second.output.contains("cut a torn last line"), "\(second.output)")
        #expect(Self.waitUntil { Self.seqs(out).last == 3_000 }, "last seq \(Self.seqs(out).last ?? 0)")
        second.signal(SIGTERM)
        #expect(second.waitForExit() == 0, "\(second.output)")
        let lines = Self.lines(out)
        #expect(Self.seqs(out) == Array(1...3_000))
        #expect(lines.count == 3_000, "every line is a whole JSON object")
        // The contract's shape: seq, topic, the body's fields, the payload parsed.
        let last = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(lines[2_999].utf8)).object)
        #expect(last["topic"] == .string("job/after/599/queued") && last["event"] == .string("queued"))
        #expect(last["time"]?.double != nil && last["payload"]?.object?["config"] != nil)
    }

    @Test func csvLoggerFiltersOneStudyAndResumes() throws {
        let broker = try InProcessBroker()
        defer { broker.stop() }
        let out = Harness.scratch.appendingPathComponent("feed-\(UUID().uuidString).csv").path
        try broker.submit(10, prefix: "mine")
        try broker.submit(10, prefix: "other")
        let first = try logger(broker, out: out, extra: ["--format", "csv", "--study", "mine"])
        #expect(Self.waitUntil { Self.lines(out).count == 11 })
        first.signal(SIGINT)
        #expect(first.waitForExit() == 0)
        try broker.submit(5, prefix: "mine/more")
        let second = try logger(broker, out: out, extra: ["--format", "csv", "--study", "mine"])
        #expect(Self.waitUntil { Self.lines(out).count == 16 })
        second.signal(SIGTERM)
        #expect(second.waitForExit() == 0)
        let lines = Self.lines(out)
        #expect(lines.first == "seq,time,topic,event,job,attempt,worker,body,payload")
        let seqs = lines.dropFirst().map { UInt64($0.prefix { $0 != "," }) ?? 0 }
        #expect(seqs == Array(1...10) + Array(21...25))
        #expect(lines[1].contains(",job/mine/0/queued,queued,mine/0,1,,"))
    }
}
