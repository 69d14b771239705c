import ArgumentParser
import Foundation
import LoomPlot

/// `hyperloom plot STUDY --out DIR`: every chart of a study as SVG (and PNG when a converter is
/// installed), from a store file or from a logger's JSONL file. See Docs/plots.md.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw a study's charts (convergence, progress, budgets, learning curves, parallel coordinates, importance) as SVG/PNG.",
        discussion: """
            Reads the study from a store file (default \(StudySourceOptions.defaultStore), what `hyperloom run` \
            leaves) or from a logger's JSON Lines file (--from-log), and writes one file per chart into --out. \
            Charts the study has no data for are skipped with the reason. PNG needs rsvg-convert \
            (Debian: librsvg2-bin) or ImageMagick.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case svg, png, both }

    @Argument(help: "The study id (as `hyperloom status` lists it).")
    var study: String

    @Option(help: "The directory to write the charts into (created when missing).")
    var out: String

    @Option(help: "Read this store file (default: \(StudySourceOptions.defaultStore)).")
    var store: String?

    @Option(name: .customLong("from-log"), help: "Read this logger file (JSON Lines, one feed event per line) instead of a store.")
    var fromLog: String?

    @Option(help: "svg, png or both.")
    var format: Format = .svg

    @Option(name: .customLong("log-scale"), help: "Metric axes on a log scale: auto (when the values span two decades), always or never.")
    var logScale: LogScaleChoice = .auto

    @Option(help: "The metric to plot (default: the study's; required with --from-log, which does not record it).")
    var metric: String?

    @Option(help: "min or max: which values of the metric are better (default: the study's; min with --from-log).")
    var mode: Goal?

    @Option(help: "The metric-line key measuring progress (default: the spec's scheduler.resource, else epoch, training_iteration, iteration, step, budget).")
    var resource: String?

    func validate() throws {
        if store != nil && fromLog != nil { throw ValidationError("give --store or --from-log, not both") }
    }

    func run() throws {
        try reportingFailures {
            let data = if let fromLog {
                try PlotInput.fromLog(path: fromLog, study: study, metric: metric, goal: mode, resource: resource)
            } else {
                try PlotInput.fromStore(path: store ?? StudySourceOptions.defaultStore, study: study, metric: metric, goal: mode,
                                        resource: resource)
            }
            let rendered: (plots: [Plot], skipped: [(name: String, reason: String)])
            do {
                rendered = try StudyPlots.render(data, logScale: logScale)
            } catch {
                throw Failure("\(error)")
            }
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            } catch {
                throw Failure("cannot create \(out): \(error.localizedDescription)")
            }
            var converter = format == .svg ? nil : PNGConverter.find()
            var conversionFailure: String?
            if format != .svg && converter == nil {
                let message = "PNG skipped: no converter found (install rsvg-convert, Debian package librsvg2-bin, or ImageMagick)"
                if format == .png { throw Failure(message) }
                Console.error("warning: \(message)")
            }
            for plot in rendered.plots {
                let svgPath = (out as NSString).appendingPathComponent(plot.name + ".svg")
                do {
                    try plot.svg.write(toFile: svgPath, atomically: true, encoding: .utf8)
                } catch {
                    throw Failure("cannot write \(svgPath): \(error.localizedDescription)")
                }
                if let png = converter {
                    let pngPath = (out as NSString).appendingPathComponent(plot.name + ".png")
                    do {
                        try png.convert(svgPath, to: pngPath)
                        if format == .png { try? FileManager.default.removeItem(atPath: svgPath) }
                        Console.line("wrote \(format == .png ? pngPath : svgPath + " and " + pngPath)")
                        continue
                    } catch {
                        // A converter that fails once fails for every chart: keep the SVGs, stop converting.
                        conversionFailure = "\(error)"
                        converter = nil
                        Console.error("warning: PNG skipped from here on: \(error); every chart is still written as SVG")
                    }
                }
                Console.line("wrote \(svgPath)")
            }
            for skip in rendered.skipped { Console.line("skipped \(skip.name): \(skip.reason)") }
            if format == .png, let conversionFailure {
                throw Failure("PNG conversion failed (\(conversionFailure)); the charts are in \(out) as SVG")
            }
        }
    }
}

extension LogScaleChoice: ExpressibleByArgument {}
extension Goal: ExpressibleByArgument {}

/// An external SVG → PNG converter: rsvg-convert, else ImageMagick.
struct PNGConverter {
    var program: String
    var arguments: (_ svg: String, _ png: String) -> [String]

    /// The first converter on `PATH`.
    static func find() -> PNGConverter? {
        let candidates: [(String, (String, String) -> [String])] = [
            ("rsvg-convert", { svg, png in ["--background-color", "white", "--output", png, svg] }),
            ("magick", { svg, png in ["-background", "white", svg, png] }),
            ("convert", { svg, png in ["-background", "white", svg, png] }),
        ]
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for (name, arguments) in candidates {
            for dir in path.split(separator: ":") {
                let candidate = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return PNGConverter(program: candidate, arguments: arguments) }
            }
        }
        return nil
    }

    func convert(_ svg: String, to png: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments(svg, png)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure("cannot run \(program): \(error.localizedDescription)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure("\(program) could not convert \(svg) (exit \(process.terminationStatus)): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
