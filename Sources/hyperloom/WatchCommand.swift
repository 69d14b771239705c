import ArgumentParser
import Foundation
import LoomClient
import LoomOptimizer
import LoomRuntime
import LoomWire

/// `hyperloom watch [STUDY]`: a live view of a study (or of all) from the feed and the status
/// documents. The screen is `WatchScreen.render` of a `WatchModel`; this command only feeds the
/// model and draws.
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live view of a study: progress, best so far, running trials, incumbent changes, worker health.",
        discussion: """
            On a terminal the screen is redrawn in place (at most 10 times a second, and on resize); otherwise one \
            plain line per notable event (trial started, complete, failed; incumbent change; worker joined, lost) \
            and a progress line every 5 seconds. With a STUDY, exits when the study is over.
            """)

    @Argument(help: "The study id (default: every study; run until interrupted).")
    var study: String?

    @OptionGroup var feed: FeedOptions

    @OptionGroup var source: StudySourceOptions

    /// The status documents are asked for this often.
    static let statusInterval: Duration = .seconds(1)
    /// Redraws at most this often.
    static let drawInterval: Duration = .milliseconds(100)
    /// How long an ended study's last events may take to arrive before watch exits anyway.
    static let catchUpLimit: Duration = .seconds(10)
    /// Plain mode prints the progress this often.
    static let plainProgressInterval: Duration = .seconds(5)

    func run() throws {
        let stop = LoomRuntimeStop.latch()
        let resize = SignalFlag(signals: [SIGWINCH])
        let tty = isatty(STDOUT_FILENO) == 1
        var model = WatchModel(study: study)
        let studies = try? source.open()
        defer { studies?.close() }
        if let study, let studies {
            // A study the optimizer does not know is a typo: say so instead of watching nothing.
            do {
                model.applyStudyStatus(try studies.fetch(OptimizerRequest(op: "status", study: study)))
            } catch {
                Console.error("error: \(error)")
                throw ExitCode.failure
            }
        }
        let subscriber = try feed.subscriber(topics: model.topics, start: .beginning, keys: source.keys, command: "hyperloom watch",
                                             broker: source.broker)
        defer { subscriber.close() }
        var size = Terminal.size()
        var lastStatus = ContinuousClock.now - Self.statusInterval
        var lastDraw = ContinuousClock.now - Self.drawInterval
        var lastPlain = ContinuousClock.now
        var dirty = true
        var finished = false
        var silenceNoted = false
        while !stop.isStopRequested {
            if !tty, subscriber.isPublisherSilent != silenceNoted {
                silenceNoted.toggle()
                Console.error(silenceNoted ? "watch: \(FeedOptions.silenceNote)" : "watch: the feed is back")
            }
            var budget = 2_000
            while budget > 0, let event = try subscriber.next(timeout: budget == 2_000 ? .milliseconds(50) : .zero) {
                let notes = model.apply(event)
                if !tty { for note in notes { Console.line(note) } }
                dirty = true
                budget -= 1
            }
            let now = ContinuousClock.now
            if now - lastStatus >= Self.statusInterval, let studies {
                lastStatus = now
                if let study, let doc = try? studies.fetch(OptimizerRequest(op: "status", study: study), patience: .seconds(2)) {
                    model.applyStudyStatus(doc)
                }
                if let broker = studies.brokerStatus() { model.applyBrokerStatus(broker) }
                dirty = true
                if study != nil, model.studyState.map({ $0 != "running" }) == true {
                    // The study is over: its last events were published before it; take them all.
                    let deadline = ContinuousClock.now + Self.catchUpLimit
                    while !subscriber.isCaughtUp, ContinuousClock.now < deadline, !stop.isStopRequested {
                        guard let event = try subscriber.next(timeout: .milliseconds(100)) else { continue }
                        let notes = model.apply(event)
                        if !tty { for note in notes { Console.line(note) } }
                    }
                    while let event = try subscriber.next(timeout: .zero) {
                        let notes = model.apply(event)
                        if !tty { for note in notes { Console.line(note) } }
                    }
                    finished = true
                }
            }
            if resize.take() {
                size = Terminal.size()
                dirty = true
            }
            let wall = Date().timeIntervalSince1970
            if tty, dirty, now - lastDraw >= Self.drawInterval || finished {
                let lines = WatchScreen.render(model, width: size.columns, height: size.rows, now: wall,
                                               publisherSilent: subscriber.isPublisherSilent)
                Terminal.draw(lines)
                lastDraw = now
                dirty = false
            } else if !tty, now - lastPlain >= Self.plainProgressInterval || finished {
                Console.line(WatchScreen.progress(model, width: 100, now: wall))
                lastPlain = now
            }
            if finished { break }
        }
        if tty { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }
}

/// The terminal: its size and a whole-screen redraw.
enum Terminal {
    /// Rows and columns of standard output's terminal (24×80 when it cannot say).
    static func size() -> (rows: Int, columns: Int) {
        var w = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &w) == 0, w.ws_row > 0, w.ws_col > 0 else { return (24, 80) }
        return (Int(w.ws_row), Int(w.ws_col))
    }

    /// Home, then each line followed by clear-to-end-of-line, then clear below: no flicker, and
    /// nothing of a longer previous frame stays behind. One write.
    static func draw(_ lines: [String]) {
        let text = "\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J"
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
