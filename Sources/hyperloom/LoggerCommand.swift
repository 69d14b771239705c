import ArgumentParser
import Foundation
import LoomClient
import LoomRuntime
import LoomWire

/// The feed endpoints shared by the commands that read it (logger, watch, logs); the keys come
/// from the command's own `ClientKeyOptions`.
struct FeedOptions: ParsableArguments {
    @Option(help: "The broker's feed endpoint.")
    var feed = "tcp://127.0.0.1:5556"

    @Option(help: "The broker's feed replay endpoint (default: the feed's host, port + 1; heartbeats correct it).")
    var replay: String?

    /// A gap-free subscriber for `topics` starting at `start`.
    func subscriber(topics: [String], start: FeedSubscriber.Start, keys: ClientKeyOptions, command: String) throws -> FeedSubscriber {
        let curve = try Security.curveOrExit(command) { try keys.curve() }
        return try FeedSubscriber(endpoint: feed, topics: topics, start: start, replayEndpoint: replay, curve: curve)
    }
}

/// `hyperloom logger`: every feed event into a file, exactly once, across restarts and gaps.
struct FeedLogger: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logger",
        abstract: "Append every feed event to a file exactly once (resumes after a restart; replays gaps).",
        discussion: """
            JSONL lines are {"seq":…,"topic":…,"event":…,"time":…,<other body fields>,"payload":{…}}; CSV columns are \
            \(FeedLogFormat.csvHeader). The file is flushed every 100 ms and fsynced every second; a torn last line \
            (after a crash) is cut when the logger starts again, and it resumes after the last sequence number in \
            the file. SIGTERM/SIGINT: flush, fsync, exit 0.
            """)

    @OptionGroup var feed: FeedOptions

    @OptionGroup var keys: ClientKeyOptions

    @Option(help: "Only this study's events (topics job/STUDY/).")
    var study: String?

    @Option(help: "The file to append to (created when missing).")
    var out: String

    @Option(help: "jsonl or csv.")
    var format: FeedLogFormat = .jsonl

    /// Written lines reach the file at least this often; fsync follows the file's own interval.
    static let flushInterval: Duration = .milliseconds(100)

    func run() throws {
        let stop = LoomRuntimeStop.latch()
        let file: FeedLogFile
        do {
            file = try FeedLogFile(path: out, format: format)
        } catch {
            Console.error("error: \(error)")
            throw ExitCode.failure
        }
        defer { file.close() }
        if file.repairedBytes > 0 { Console.error("logger: cut a torn last line (\(file.repairedBytes) bytes) from \(out)") }
        let topics = study.map { ["job/\($0)/"] } ?? [""]
        let start: FeedSubscriber.Start = file.lastSeq.map { .after($0) } ?? .beginning
        let subscriber = try feed.subscriber(topics: topics, start: start, keys: keys, command: "hyperloom logger")
        defer { subscriber.close() }
        Console.line("logger: appending to \(out) (\(format.rawValue)) after seq \(file.lastSeq ?? 0)")
        var lastFlush = ContinuousClock.now
        while !stop.isStopRequested {
            if let event = try subscriber.next(timeout: .milliseconds(100)) { file.append(event) }
            let now = ContinuousClock.now
            if now - lastFlush >= Self.flushInterval {
                try file.syncIfDue(now: now)
                lastFlush = now
            }
        }
        try file.sync()
        Console.line("logger: stopped after seq \(file.lastSeq ?? 0) (\(file.written) lines written, \(subscriber.gaps) missed live and replayed)")
    }
}

extension FeedLogFormat: ExpressibleByArgument {}
