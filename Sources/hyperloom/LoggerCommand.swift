import ArgumentParser
import Foundation
import LoomClient
import LoomConfig
import LoomRuntime
import LoomWire
import ZeroMQ

/// The feed endpoints shared by the commands that read it (logger, watch, logs); the keys come
/// from the command's own `ClientKeyOptions`.
///
/// Without `--feed`, the feed is the one the broker announces in its WELCOME (the broker is the
/// command's `--broker`, else `$HYPERLOOM_BROKER`, else the default); a broker that cannot be
/// reached or announces nothing leaves its port + 1 and + 2 (the defaults' layout), with a note.
struct FeedOptions: ParsableArguments {
    @Option(help: "The broker's feed endpoint (default: what the broker announces).")
    var feed: String?

    @Option(help: "The broker's feed replay endpoint (default: what the broker announces, else the feed's host, port + 1; heartbeats correct it).")
    var replay: String?

    /// What a command says when the feed stays silent.
    static let silenceNote = "nothing from the feed for 3 s (no event, no heartbeat): is the broker running, and is this its feed? (--feed, --broker)"

    /// How long to wait for the broker's WELCOME when asking it for its feed.
    static let announcementTimeout: Duration = .seconds(3)

    /// A gap-free subscriber for `topics` starting at `start`; `broker` is the command's
    /// `--broker` when it has one.
    func subscriber(topics: [String], start: FeedSubscriber.Start, keys: ClientKeyOptions, command: String,
                    broker: String? = nil, journal: UInt64? = nil) throws -> FeedSubscriber {
        let curve = try Security.curveOrExit(command) { try keys.curve() }
        let (feed, replay) = endpoints(broker: broker, curve: curve, command: command)
        return try FeedSubscriber(endpoint: feed, topics: topics, start: start, replayEndpoint: replay, journal: journal, curve: curve)
    }

    /// `--feed`/`--replay`, else the broker's announcement, else derived from its endpoint.
    func endpoints(broker: String?, curve: CurveClientKeys?, command: String) -> (feed: String, replay: String?) {
        if let feed { return (feed, replay) }
        let endpoint = broker ?? ProcessInfo.processInfo.environment["HYPERLOOM_BROKER"].flatMap { $0.isEmpty ? nil : $0 }
            ?? OptimizerSettings.broker.defaultValue
        if let client = try? BrokerClient(endpoint: endpoint, name: command, curve: curve) {
            defer { client.close() }
            if let welcome = try? client.connect(timeout: Self.announcementTimeout),
               let announced = FeedEndpoints.announced(by: welcome, broker: endpoint) {
                return (announced.feed, replay ?? announced.replay)
            }
        }
        let derived = FeedEndpoints.derived(fromBroker: endpoint) ?? ("tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557")
        Console.error("\(command): the broker at \(endpoint) did not announce its feed; using \(derived.feed) (pass --feed to choose)")
        return (derived.feed, replay ?? derived.replay)
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
            the file. History the broker's retention dropped before it was written becomes one line with topic \
            feed/gap (from, through); a replaced broker journal one line with topic feed/journal and seq 0 (the journal \
            id is kept in OUT.journal). SIGTERM/SIGINT: flush, fsync, exit 0.
            """)

    @OptionGroup var feed: FeedOptions

    @Option(help: "The broker, which announces its feed (default: $HYPERLOOM_BROKER or tcp://127.0.0.1:5555); --feed overrides it.")
    var broker: String?

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
        let subscriber = try feed.subscriber(topics: topics, start: start, keys: keys, command: "hyperloom logger", broker: broker,
                                             journal: file.journal)
        defer { subscriber.close() }
        Console.line("logger: appending to \(out) (\(format.rawValue)) after seq \(file.lastSeq ?? 0)")
        var lastFlush = ContinuousClock.now
        var silenceNoted = false
        while !stop.isStopRequested {
            switch try subscriber.nextItem(timeout: .milliseconds(100)) {
            case .event(let event)?:
                file.append(event)
            case .historyDropped(let after, let through)?:
                file.appendGap(after: after, through: through, journal: subscriber.journal, time: Date().timeIntervalSince1970)
                Console.error("logger: seqs \(after + 1)…\(through) were dropped by the broker's feed retention before they could be written; recorded as a feed/gap line")
            case .journalReplaced(let previous, let current)?:
                file.appendJournalReplaced(previous: previous, current: current, time: Date().timeIntervalSince1970)
                try file.recordJournal(current)
                Console.error("logger: the broker's journal \(String(previous, radix: 16)) was replaced by \(String(current, radix: 16)); its seqs start again from 1 (recorded as a feed/journal line)")
            case nil:
                break
            }
            if file.journal == nil, let id = subscriber.journal { try file.recordJournal(id) }
            if subscriber.isPublisherSilent != silenceNoted {
                silenceNoted.toggle()
                Console.error(silenceNoted ? "logger: \(FeedOptions.silenceNote)" : "logger: the feed is back")
            }
            let now = ContinuousClock.now
            if now - lastFlush >= Self.flushInterval {
                try file.syncIfDue(now: now)
                lastFlush = now
            }
        }
        try file.sync()
        Console.line("logger: stopped after seq \(file.lastSeq ?? 0) (\(file.written) lines written, \(subscriber.gaps) missed live and replayed, "
            + "\(subscriber.droppedEvents) dropped by retention)")
    }
}

extension FeedLogFormat: ExpressibleByArgument {}
