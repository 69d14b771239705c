import ArgumentParser
import Foundation
import LoomClient
import LoomRuntime
import LoomWire
import ZeroMQ

/// Renders the broker's status document for people.
enum StatusTable {
    static func render(_ status: JSONValue) -> String {
        guard let doc = status.object else { return status.description }
        var lines: [String] = []
        let broker = doc["broker"]?.argument ?? "?"
        let uptime = doc["uptime_s"]?.double.map { String(format: "%.0fs", $0) } ?? "?"
        lines.append("broker \(broker)  up \(uptime)  queued \(doc["queued"]?.argument ?? "?")  running \(doc["running"]?.argument ?? "?")")
        if case .array(let workers)? = doc["workers"] {
            lines.append("workers: \(workers.count)")
            lines.append(pad(["WORKER", "HOST", "SLOTS", "USED", "GPUS", "PACE", "ISOLATION", "RUNNING"], [24, 16, 6, 6, 5, 6, 16, 0]))
            for worker in workers.compactMap(\.object) {
                let running: String
                if case .array(let items)? = worker["running"] { running = items.map(\.argument).joined(separator: " ") } else { running = "" }
                let pace = worker["slow"] == .bool(true) ? "slow" : "ok"
                lines.append(pad([worker["id"]?.argument ?? "?", worker["host"]?.argument ?? "?",
                                  worker["slots"]?.argument ?? "?", worker["used"]?.argument ?? "?",
                                  worker["gpus"]?.argument ?? "?", pace, worker["isolation"]?.argument ?? "?", running],
                                 [24, 16, 6, 6, 5, 6, 16, 0]))
            }
        }
        if let stragglers = doc["stragglers"]?.object {
            if case .array(let slow)? = stragglers["slow_workers"], !slow.isEmpty {
                lines.append("slow workers (late heartbeats, no new jobs): " + slow.map(\.argument).joined(separator: " "))
            }
            if case .array(let pairs)? = stragglers["speculating"], !pairs.isEmpty {
                lines.append("speculating (a backup copy runs beside a slow attempt): \(pairs.count)")
                for pair in pairs.compactMap(\.object).prefix(20) {
                    lines.append("  \(pair["job"]?.argument ?? "?"): #\(pair["attempt"]?.argument ?? "?") on \(pair["worker"]?.argument ?? "?")"
                        + ", backup #\(pair["backup_attempt"]?.argument ?? "?") on \(pair["backup_worker"]?.argument ?? "?")")
                }
            }
            if case .array(let stalled)? = stragglers["stalled"], !stalled.isEmpty {
                lines.append("stalled (cancelled, being stopped): " + stalled.map(\.argument).joined(separator: " "))
            }
        }
        if case .array(let stuck)? = doc["unsatisfiable"], !stuck.isEmpty {
            lines.append("unsatisfiable (no connected worker could ever hold them): \(stuck.count)")
            for job in stuck.compactMap(\.object).prefix(20) {
                lines.append("  \(job["job"]?.argument ?? "?"): \(job["reason"]?.argument ?? "")")
            }
        }
        if let counters = doc["counters"]?.object {
            lines.append("counters: " + counters.keys.sorted().map { "\($0)=\(counters[$0]!.argument)" }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ cells: [String], _ widths: [Int]) -> String {
        zip(cells, widths).map { cell, width in
            width == 0 ? cell : cell.padding(toLength: max(width, cell.count + 1), withPad: " ", startingAt: 0)
        }.joined()
    }
}

struct Feed: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the broker's event feed as JSON lines.")

    @Option(help: "The broker's feed endpoint.")
    var feed = "tcp://127.0.0.1:5556"

    @Option(help: "Only events whose topic starts with this prefix (repeatable).")
    var topic: [String] = []

    @Option(help: "Stop after this many events (default: run until interrupted).")
    var count: Int?

    @Option(help: "Start with the history after this sequence number (0: the whole history; default: from now).")
    var after: UInt64?

    @Option(help: "The broker's feed replay endpoint (default: the feed's host, port + 1).")
    var replay: String?

    @OptionGroup var keys: ClientKeyOptions

    func run() throws {
        let curve = try Security.curveOrExit("hyperloom feed") { try keys.curve() }
        let subscriber = try FeedSubscriber(endpoint: feed, topics: topic.isEmpty ? [""] : topic,
                                            start: after.map { .after($0) } ?? .now, replayEndpoint: replay, curve: curve)
        defer { subscriber.close() }
        var seen = 0
        let stop = LoomRuntimeStop.latch()
        while !stop.isStopRequested {
            guard let event = try subscriber.next(timeout: .milliseconds(250)) else { continue }
            // One unbuffered write per event, so a pipe or a file sees whole lines at once.
            Console.line(FeedLine.render(event))
            seen += 1
            if let count, seen >= count { break }
        }
    }
}

/// One feed event as a JSON line: `{"seq":…,"topic":…,"body":{…},"payload":…}`.
enum FeedLine {
    static func render(_ event: FeedEvent) -> String {
        var writer = JSONObjectWriter()
        writer.add("seq", event.seq)
        writer.add("topic", event.topic)
        writer.addRaw("body", json: event.body)
        if let payload = event.payload {
            if (try? JSONValue(parsing: payload)) != nil {
                writer.addRaw("payload", json: payload)
            } else {
                writer.add("payload_base64", Data(payload).base64EncodedString())
            }
        }
        return String(decoding: writer.finish(), as: UTF8.self)
    }
}
