import ArgumentParser
import LoomClient
import LoomOptimizer
import LoomRuntime
import LoomWire

/// `hyperloom logs STUDY TRIAL`: a trial's stdout/stderr from the store, then (`--follow`) live
/// from the feed until the trial ends.
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a trial's output (stdout and stderr lines); --follow streams it until the trial ends.",
        discussion: """
            Lines come from the optimizer's store (or --store FILE), a page of up to \(LogQuery.maxLimit) at a time. \
            With --follow the command then subscribes to the feed (topics log/STUDY/TRIAL/ and job/STUDY/TRIAL/), \
            prints each new line once, and exits 0 when the trial's job is finished, failed or cancelled. \
            With both streams, stderr lines are prefixed "stderr| ".
            """)

    enum StreamChoice: String, ExpressibleByArgument, CaseIterable {
        case stdout, stderr, both
    }

    @Argument(help: "The study id.")
    var study: String

    @Argument(help: "The trial number.")
    var trial: Int

    @Option(help: "Only this attempt (from 1).")
    var attempt: Int?

    @Option(help: "stdout, stderr or both.")
    var stream: StreamChoice = .both

    @Flag(help: "After the stored lines, print new ones as the trial writes them, until it ends.")
    var follow = false

    @OptionGroup var feed: FeedOptions

    @OptionGroup var source: StudySourceOptions

    func validate() throws {
        if follow && source.store != nil { throw ValidationError("--follow needs the optimizer and the feed, not --store") }
        if let attempt, attempt < 1 { throw ValidationError("--attempt counts from 1") }
    }

    func run() throws {
        try source.session { studies in
            var follow = LogFollow(job: "\(study)/\(trial)", attempt: attempt, stream: stream == .both ? nil : stream.rawValue)
            var query = OptimizerRequest(op: "logs", study: study, trial: trial, attempt: attempt,
                                         stream: stream == .both ? nil : stream.rawValue, offset: 0, limit: LogQuery.maxLimit)
            var finished = false
            var position: UInt64 = 0
            while true {
                let doc = try studies.fetch(query)
                let fields = doc.object ?? [:]
                guard case .array(let lines)? = fields["lines"] else { throw Failure("the optimizer's logs answer has no lines") }
                print(follow.accept(lines.compactMap(Self.line)))
                finished = fields["finished"] == .bool(true)
                position = UInt64(fields["feed_position"]?.double ?? 0)
                guard let next = fields["next_offset"]?.double else { break }
                query.offset = Int(next)
            }
            guard self.follow else { return }
            try stream(&follow, after: position, trialFinished: finished, studies: studies)
        }
    }

    /// How often a quiet follow asks the optimizer whether the trial ended: its job's end event
    /// may precede the feed position the follow started after.
    static let endCheckInterval: Duration = .seconds(2)

    /// Prints the feed's new lines until the trial's job ends (or, for a trial that had already
    /// ended, until the feed is caught up); SIGINT/SIGTERM stop it early.
    private func stream(_ follow: inout LogFollow, after position: UInt64, trialFinished: Bool, studies: StudySource) throws {
        let stop = LoomRuntimeStop.latch()
        let subscriber = try feed.subscriber(topics: follow.topics, start: .after(position), keys: source.keys, command: "hyperloom logs",
                                             broker: source.broker)
        defer { subscriber.close() }
        var trialFinished = trialFinished
        var lastCheck = ContinuousClock.now
        while !stop.isStopRequested {
            guard let event = try subscriber.next(timeout: .milliseconds(100)) else {
                if trialFinished && subscriber.isCaughtUp { return }
                if !trialFinished, ContinuousClock.now - lastCheck >= Self.endCheckInterval {
                    lastCheck = ContinuousClock.now
                    // No lines asked for: only the trial's state.
                    let state = try? studies.fetch(OptimizerRequest(op: "logs", study: study, trial: trial, offset: Int(Int32.max), limit: 1))
                    trialFinished = state?.object?["finished"] == .bool(true)
                }
                continue
            }
            print(follow.accept(LogFollow.lines(of: event)))
            if follow.isEnd(event) { return }
        }
    }

    private func print(_ lines: [LogFollow.Line]) {
        for line in lines {
            Console.line(stream == .both && line.stream == "stderr" ? "stderr| \(line.text)" : line.text)
        }
    }

    static func line(_ value: JSONValue) -> LogFollow.Line? {
        guard let fields = value.object, let attempt = fields["attempt"]?.double, let line = fields["line"]?.double,
              case .string(let stream)? = fields["stream"], case .string(let text)? = fields["text"] else { return nil }
        return LogFollow.Line(attempt: Int(attempt), stream: stream, line: Int(line), text: text)
    }
}
