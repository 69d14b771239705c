import Foundation
import LoomClient
import LoomWire
import Testing

/// The broker's public port under 100,000 random and mutated messages from another process
/// (`hyperloom bench fuzz`) while a study runs through it.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct Fuzz {
    /// Resident memory of a process, from /proc/PID/status, in KiB.
    static func residentKiB(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    /// The broker's counters, through a short-lived client of its own (a client that stayed
    /// connected without polling would miss heartbeats and be counted as unregistered).
    static func counters(_ endpoint: String) throws -> [String: JSONValue] {
        let client = try BrokerClient(endpoint: endpoint, name: "fuzz-test")
        defer { client.close() }
        _ = try client.connect()
        return try client.status().object?["counters"]?.object ?? [:]
    }

    /// A counter's value; 0 when absent (a category nothing was counted under yet).
    static func number(_ value: JSONValue?) -> Int { Int(value?.double ?? 0) }

    @Test func studyCompletesWhileTheBrokerRejectsAndCountsEveryFuzzedMessageInBoundedMemory() throws {
        let (broker, endpoint, feed) = try Harness.broker()
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("fuzz.db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feed])
        defer { optimizer.stop() }
        let workers = try (1...2).map { try Harness.worker("fz\($0)", broker: endpoint, slots: 2) }
        defer { workers.forEach { $0.stop() } }
        let before = try Self.counters(endpoint)
        let rssBefore = try #require(Self.residentKiB(broker.process.processIdentifier))

        let trials = 40
        let submitted = try Studies.cli(["submit", try Studies.spec(name: "fuzzed", trials: trials, concurrent: 4, delay: 0.6),
                                         "--broker", endpoint])
        try #require(submitted.status == 0, "\(submitted.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let fuzzer = try Spawned("fuzzer", ["bench", "fuzz", "--broker", endpoint, "--messages", "100000", "--seed", "7"])
        defer { fuzzer.stop() }
        try #require(fuzzer.waitForExit(timeout: .seconds(120)) == 0, "\(fuzzer.output)")
        let line = try #require(fuzzer.output.split(separator: "\n").first { $0.hasPrefix(#"{"bench":"fuzz""#) })
        let figures = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)).object)
        let sent = Self.number(figures["sent"])
        #expect(sent >= 100_000)
        #expect(figures["replies"] == figures["answers"], "every message that calls for an answer got one: \(line)")

        let end = try Studies.waitForEnd(study, broker: endpoint)
        #expect(end["state"] == .string("complete"), "\(end)\nbroker:\n\(broker.output.suffix(2_000))")
        #expect(end["counts"]?.object?["complete"] == .number(Double(trials)))
        let export = try Studies.cli(["export", study, "--format", "jsonl", "--broker", endpoint])
        let rows = export.output.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)).object }
        #expect(rows.count == trials)
        for row in rows {
            let x = row["config"]?.object?["x"]?.double ?? -1
            #expect(abs((row["value"]?.double ?? -1) - (x - 0.3) * (x - 0.3)) < 1e-5, "each value is its own trial's: \(row)")
        }

        // Every fuzzed message reached the broker and was counted where the fuzzer predicted.
        var after = try Self.counters(endpoint)
        let deadline = ContinuousClock.now + .seconds(20)
        while Self.number(after["received"]) - Self.number(before["received"]) < sent && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            after = try Self.counters(endpoint)
        }
        #expect(Self.number(after["received"]) - Self.number(before["received"]) >= sent)
        let predicted = figures["rejected"]?.object ?? [:]
        let rejectedBefore = before["rejected"]?.object ?? [:]
        let rejectedAfter = after["rejected"]?.object ?? [:]
        for category in Set(predicted.keys).union(rejectedAfter.keys) {
            #expect(Self.number(rejectedAfter[category]) - Self.number(rejectedBefore[category]) == Self.number(predicted[category]),
                    "rejected[\(category)]")
        }
        #expect(Self.number(after["unregistered"]) - Self.number(before["unregistered"]) == Self.number(figures["unregistered"]))
        #expect(Self.number(after["stale"]) - Self.number(before["stale"]) == Self.number(figures["stale"]))
        #expect(Self.number(figures["stale"]) > 0, "the fuzzing workers reached the state machine")
        #expect(Self.number(after["workers_lost"]) == 0 && Self.number(after["finished"]) == trials, "\(after)")

        // Memory: the broker keeps nothing of what it rejected. Growth measured: 3–10 MiB (the
        // study's own state, allocator slack); the bound is generous, a leak of a few hundred
        // bytes per message would pass it.
        let rssAfter = try #require(Self.residentKiB(broker.process.processIdentifier))
        #expect(rssAfter - rssBefore < 32 << 10, "broker RSS \(rssBefore) KiB → \(rssAfter) KiB")
        print("fuzz: \(sent) messages, rejected \(predicted.values.map { Self.number($0) }.reduce(0, +)), "
              + "unregistered \(Self.number(figures["unregistered"])), stale \(Self.number(figures["stale"])), "
              + "broker RSS \(rssBefore) → \(rssAfter) KiB")
    }
}
