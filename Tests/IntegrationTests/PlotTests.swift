import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import LoomPlot
import Testing

/// `hyperloom plot` end to end: the README's example study run for real, then every chart drawn
/// from its store; and from a logger file.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct Plots {
    static func cli(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Harness.run([Harness.binary.path] + arguments)
    }

    /// `<g class="series">` groups in the SVG file at `path`, or nil when it is not well-formed XML.
    static func seriesCount(_ path: String) -> Int? {
        final class Counter: NSObject, XMLParserDelegate {
            var series = 0
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                if name == "g" && attributes["class"] == "series" { series += 1 }
            }
        }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let parser = XMLParser(data: data)
        let counter = Counter()
        parser.delegate = counter
        return parser.parse() ? counter.series : nil
    }

    @Test func theExampleStudysStoreGivesEveryChart() throws {
        let dir = Harness.scratch.appendingPathComponent("plot-\(UUID().uuidString.prefix(6))")
        let store = dir.appendingPathComponent("study.db").path
        let run = try Self.cli(["run", "Configs/examples/logreg.yaml", "--store", store, "--work-dir", dir.appendingPathComponent("work").path])
        try #require(run.status == 0, "\(run.output)")
        // "hyperloom run: study logreg-sgd-1 (loss, min) on 4 local slots; store …"
        let study = try #require(run.output.split(separator: "\n").first { $0.hasPrefix("hyperloom run: study ") }?
            .split(separator: " ")[3]).description

        let out = dir.appendingPathComponent("charts").path
        let plot = try Self.cli(["plot", study, "--store", store, "--out", out])
        #expect(plot.status == 0, "\(plot.output)")
        #expect(!plot.output.contains("skipped"), "every chart has data: \(plot.output)")
        let expected: [String: Int] = [
            "convergence-time": 6, "convergence-trials": 6,      // results, best, 4 epoch levels
            "finished-over-time": 1, "concurrency": 2,
            "budget-correlation": 6,                              // 3 panels: diagonal and scatter
            "learning-curves": 40, "parallel-coordinates": 40,    // one per trial
            "importance": 4,                                      // lr, l2, epochs, batch_size (seed is constant)
        ]
        for kind in StudyPlots.kinds {
            let path = "\(out)/\(kind).svg"
            #expect(plot.output.contains("wrote \(path)"), "\(kind)")
            #expect(Self.seriesCount(path) == expected[kind], "\(kind)")
        }

        let unknown = try Self.cli(["plot", "nope-1", "--store", store, "--out", out])
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("error: no study \"nope-1\" in the store \(store); known: \(study)"), "\(unknown.output)")
    }

    @Test func aLoggerFileIsPlottedAndABrokenLineIsNamed() throws {
        let dir = Harness.scratch.appendingPathComponent("plotlog-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var lines: [String] = []
        for n in 1...6 {
            let t = Double(n) * 10
            let job = "demo-1/\(n)"
            lines.append(#"{"seq": \#(lines.count + 1), "topic": "job/\#(job)/queued", "event": "queued", "time": \#(t), "job": "\#(job)", "attempt": 1, "payload": {"command": ["x"], "config": {"lr": \#(pow(10, -Double(n))), "opt": "\#(n % 2 == 0 ? "adam" : "sgd")"}}}"#)
            lines.append(#"{"seq": \#(lines.count + 1), "topic": "job/\#(job)/started", "event": "started", "time": \#(t + 1), "job": "\#(job)", "attempt": 1, "lease": \#(n), "worker": "w1"}"#)
            for epoch in 1...3 {
                lines.append(#"{"seq": \#(lines.count + 1), "topic": "job/\#(job)/report", "event": "report", "time": \#(t + 1 + Double(epoch)), "job": "\#(job)", "attempt": 1, "lease": \#(n), "worker": "w1", "payload": {"epoch": \#(epoch), "loss": \#(Double(n) / Double(epoch))}}"#)
            }
            lines.append(#"{"seq": \#(lines.count + 1), "topic": "job/\#(job)/finished", "event": "finished", "time": \#(t + 5), "job": "\#(job)", "attempt": 1, "lease": \#(n), "worker": "w1", "payload": {"metrics": {"epoch": 3, "loss": \#(Double(n) / 3)}, "exit_code": 0}}"#)
        }
        let log = dir.appendingPathComponent("feed.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("charts").path

        let plot = try Self.cli(["plot", "demo-1", "--from-log", log, "--metric", "loss", "--out", out])
        #expect(plot.status == 0, "\(plot.output)")
        for kind in StudyPlots.kinds {
            #expect((Self.seriesCount("\(out)/\(kind).svg") ?? 0) > 0, "\(kind): \(plot.output)")
        }
        #expect(Self.seriesCount("\(out)/learning-curves.svg") == 6)

        let noMetric = try Self.cli(["plot", "demo-1", "--from-log", log, "--out", out])
        #expect(noMetric.status == 1)
        #expect(noMetric.output.contains("pass --metric KEY (numeric keys in its reports: epoch, loss)"), "\(noMetric.output)")

        let both = try Self.cli(["plot", "demo-1", "--from-log", log, "--store", "x.db", "--out", out])
        #expect(both.status != 0 && both.output.contains("give --store or --from-log, not both"), "\(both.output)")

        let csv = dir.appendingPathComponent("feed.csv").path
        try "seq,topic,event,time\n1,job/demo-1/1/queued,queued,10\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let fromCSV = try Self.cli(["plot", "demo-1", "--from-log", csv, "--metric", "loss", "--out", out])
        #expect(fromCSV.status == 1)
        #expect(fromCSV.output.contains("is a CSV file; plot reads the JSON Lines format (hyperloom logger --format jsonl)"))

        lines[3] = "{\"seq\": 4, \"topic\": "
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let broken = try Self.cli(["plot", "demo-1", "--from-log", log, "--metric", "loss", "--out", out])
        #expect(broken.status == 1)
        #expect(broken.output.contains("error: \(log):4: not valid JSON"), "\(broken.output)")
    }

    @Test func pngComesFromTheConverterOnThePathOrIsSkippedWithAMessage() throws {
        let dir = Harness.scratch.appendingPathComponent("plotpng-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("feed.jsonl").path
        let line = { (n: Int, event: String, time: Double, extra: String) in
            #"{"seq": \#(n), "topic": "job/p-1/\#(n)/\#(event)", "event": "\#(event)", "time": \#(time), "job": "p-1/\#(n)", "attempt": 1\#(extra)}"#
        }
        let lines = (1...3).flatMap { n in [
            line(n, "queued", 1, #", "payload": {"command": ["x"], "config": {"x": \#(n)}}"#),
            line(n, "started", 2, #", "lease": 1, "worker": "w""#),
            line(n, "finished", 3 + Double(n), #", "lease": 1, "worker": "w", "payload": {"metrics": {"loss": \#(n)}}"#),
        ] }
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("charts").path
        let withoutConverters = ["PATH": dir.path]
        let png = try Harness.run([Harness.binary.path, "plot", "p-1", "--from-log", log, "--metric", "loss", "--out", out, "--format", "png"],
                                  environment: withoutConverters)
        #expect(png.status == 1)
        #expect(png.output.contains("PNG skipped: no converter found (install rsvg-convert, Debian package librsvg2-bin, or ImageMagick)"))
        let both = try Harness.run([Harness.binary.path, "plot", "p-1", "--from-log", log, "--metric", "loss", "--out", out, "--format", "both"],
                                   environment: withoutConverters)
        #expect(both.status == 0, "\(both.output)")
        #expect(both.output.contains("warning: PNG skipped"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/convergence-trials.svg"))
        #expect(both.output.contains("skipped learning-curves: no trial reported intermediate results"), "\(both.output)")

        // A stand-in rsvg-convert (shell builtins only) shows the arguments reach it.
        let fake = dir.appendingPathComponent("rsvg-convert").path
        try """
            #!/bin/sh
            while [ $# -gt 0 ]; do if [ "$1" = --output ]; then out=$2; fi; last=$1; shift; done
            echo "png of $last" > "$out"
            """.write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let converted = try Harness.run([Harness.binary.path, "plot", "p-1", "--from-log", log, "--metric", "loss", "--out", out,
                                         "--format", "png"], environment: withoutConverters)
        #expect(converted.status == 0, "\(converted.output)")
        #expect(converted.output.contains("wrote \(out)/convergence-trials.png"))
        let written = try String(contentsOfFile: "\(out)/convergence-trials.png", encoding: .utf8)
        #expect(written == "png of \(out)/convergence-trials.svg\n")
        #expect(!FileManager.default.fileExists(atPath: "\(out)/convergence-trials.svg"), "--format png keeps only the PNG")
    }
}
