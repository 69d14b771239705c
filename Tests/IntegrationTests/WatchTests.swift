import Foundation
import LoomWire
import Testing

/// A terminal of `rows` × `columns` that understands what `hyperloom watch` writes: cursor home,
/// clear to end of line, clear below, carriage return, line feed and printable characters.
struct ScreenEmulator {
    let rows: Int
    let columns: Int
    private(set) var cells: [[Character]]
    /// Characters written beyond the right margin (a frame wider than the terminal).
    private(set) var overflow = 0
    private var row = 0
    private var column = 0

    init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        cells = Array(repeating: Array(repeating: " ", count: columns), count: rows)
    }

    var lines: [String] { cells.map { String($0).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) } }

    mutating func feed(_ text: String) {
        var chars = text[...]
        while let c = chars.popFirst() {
            switch c {
            case "\u{1B}":
                guard chars.first == "[" else { continue }
                chars.removeFirst()
                var parameters = ""
                while let p = chars.first, p.isNumber || p == ";" { parameters.append(chars.removeFirst()) }
                guard let command = chars.popFirst() else { return }
                control(command, parameters)
            case "\r": column = 0
            case "\n", "\r\n":
                if c == "\r\n" { column = 0 }
                row += 1
                if row >= rows { cells.removeFirst(); cells.append(Array(repeating: " ", count: columns)); row = rows - 1 }
            default:
                if column < columns { cells[row][column] = c } else { overflow += 1 }
                column += 1
            }
        }
    }

    private mutating func control(_ command: Character, _ parameters: String) {
        switch command {
        case "H": (row, column) = (0, 0)
        case "K": for x in min(column, columns)..<columns { cells[row][x] = " " }
        case "J":
            for x in min(column, columns)..<columns { cells[row][x] = " " }
            for y in (row + 1)..<max(rows, row + 1) { cells[y] = Array(repeating: " ", count: columns) }
        default: break
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct WatchTests {
    @Test func watchDrawsTheStudyInAFixedSizePseudoTerminal() throws {
        let (broker, endpoint, feed) = try Harness.broker()
        defer { broker.stop() }
        let replay = try #require(broker.waitForLine(containing: "feed replay on")?.split(separator: " ")[3].dropLast())
        let store = Harness.scratch.appendingPathComponent("watch-\(UUID().uuidString.prefix(6)).db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feed])
        defer { optimizer.stop() }
        let worker = try Harness.worker("watcher", broker: endpoint, slots: 2)
        defer { worker.stop() }
        let submitted = try Studies.cli(["submit", try Studies.spec(name: "watched", trials: 6, delay: 0.3), "--broker", endpoint])
        #expect(submitted.status == 0, "\(submitted.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)

        let (rows, columns) = (18, 72)
        let screenLog = Harness.scratch.appendingPathComponent("watch-\(UUID().uuidString.prefix(6)).typescript")
        let command = "stty rows \(rows) cols \(columns); exec \(Harness.binary.path) watch \(study) --broker \(endpoint) --feed \(feed) --replay \(replay)"
        let run = try Harness.run(["/usr/bin/script", "-qfec", command, screenLog.path])
        #expect(run.status == 0, "\(run.output)")
        let typescript = try String(contentsOf: screenLog, encoding: .utf8)
        #expect(typescript.contains("\u{1B}[H"), "redrawn in place on a terminal")
        // script(1) frames the session with its own "Script started/done" lines: keep what watch wrote.
        let start = try #require(typescript.range(of: "\u{1B}[H")).lowerBound
        let session = typescript[start...].components(separatedBy: "\nScript done")[0]
        var screen = ScreenEmulator(rows: rows, columns: columns)
        screen.feed(session)
        let lines = screen.lines
        #expect(screen.overflow == 0, "a frame was wider than the terminal:\n\(lines.joined(separator: "\n"))")
        #expect(lines[0].hasPrefix("hyperloom watch  study \(study) (") && !lines[0].contains("(running)"), "\(lines)")
        #expect(lines[1].range(of: #"^\[#{10,}\]  6/6  "#, options: .regularExpression) != nil, "a full bar: \(lines)")
        #expect(lines[2].hasPrefix("best loss (min): "), "\(lines)")
        #expect(lines[3] == "trials: queued 0  running 0  complete 6  failed 0", "\(lines)")
        #expect(lines.contains { $0.hasPrefix("workers: watcher alive") }, "\(lines)")
    }

    @Test func watchPrintsPlainLinesWhenNotATerminal() throws {
        let (broker, endpoint, feed) = try Harness.broker()
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("watch-\(UUID().uuidString.prefix(6)).db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feed])
        defer { optimizer.stop() }
        let worker = try Harness.worker("plain", broker: endpoint, slots: 2)
        defer { worker.stop() }
        let submitted = try Studies.cli(["submit", try Studies.spec(name: "plain", trials: 4, delay: 0.1), "--broker", endpoint])
        #expect(submitted.status == 0)
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try Studies.waitForEnd(study, broker: endpoint)
        // Started after the study ended: the replay gives it the whole story.
        let run = try Studies.cli(["watch", study, "--broker", endpoint, "--feed", feed])
        #expect(run.status == 0, "\(run.output)")
        #expect(!run.output.contains("\u{1B}["), "no escape sequences in a pipe")
        for n in 1...4 { #expect(run.output.contains("trial \(n) complete: loss "), "\(run.output)") }
        #expect(run.output.contains("trial 1 started on plain (attempt 1)"), "\(run.output)")
        #expect(run.output.contains("4/4"), "\(run.output)")
    }
}
