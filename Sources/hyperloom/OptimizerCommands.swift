import ArgumentParser
import Foundation
import LoomClient
import LoomConfig
import LoomEmbedded
import LoomModel
import LoomOptimizer
import LoomRuntime
import LoomStore
import LoomWire
import ZeroMQ
import Logging

/// The optimizer's options: every setting of `OptimizerSettings`, and `--config`.
struct OptimizerOptions: SettingsOptions {
    static var table: SettingsTable { OptimizerSettings.table }

    @Option(help: Self.configHelp) var config: String?
    @Option(help: OptimizerSettings.broker.argumentHelp) var broker: String?
    @Option(help: OptimizerSettings.store.argumentHelp) var store: String?
    @Option(help: OptimizerSettings.id.argumentHelp) var id: String?
    @Option(help: OptimizerSettings.feed.argumentHelp) var feed: String?
    @Option(help: OptimizerSettings.key.argumentHelp) var key: String?
    @Option(help: OptimizerSettings.brokerKey.argumentHelp) var brokerKey: String?
    @Option(help: OptimizerSettings.logLevel.argumentHelp) var logLevel: String?
    @Option(help: OptimizerSettings.checkpointDir.argumentHelp) var checkpointDir: String?
    @Option(help: OptimizerSettings.checkpointKeep.argumentHelp) var checkpointKeep: String?
    @Option(help: OptimizerSettings.checkpointMaxBytes.argumentHelp) var checkpointMaxBytes: String?
    @Option(help: OptimizerSettings.checkpointMaxFiles.argumentHelp) var checkpointMaxFiles: String?
    @Option(help: OptimizerSettings.specMaxBytes.argumentHelp) var specMaxBytes: String?
    @Option(help: OptimizerSettings.specMaxNodes.argumentHelp) var specMaxNodes: String?

    var flags: [String: String?] {
        let s = OptimizerSettings.self
        return [s.broker.key: broker, s.store.key: store, s.id.key: id, s.feed.key: feed, s.key.key: key,
                s.brokerKey.key: brokerKey, s.logLevel.key: logLevel, s.checkpointDir.key: checkpointDir,
                s.checkpointKeep.key: checkpointKeep, s.checkpointMaxBytes.key: checkpointMaxBytes,
                s.checkpointMaxFiles.key: checkpointMaxFiles, s.specMaxBytes.key: specMaxBytes, s.specMaxNodes.key: specMaxNodes]
    }
}

struct Optimizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the optimizer: owns studies, asks searchers, submits trials through the broker, records results in the store.")

    @OptionGroup var options: OptimizerOptions

    func run() throws {
        let settings = try options.settings()
        let s = OptimizerSettings.self
        LoggingOptions.bootstrap(level: settings[s.logLevel])
        let curve = try Security.curveOrExit("error") { try Security.curve(key: settings[s.key], brokerKey: settings[s.brokerKey]) }
        let stop = StopLatch()
        stop.stopOnSignals()
        let store = settings[s.store], broker = settings[s.broker], id = settings[s.id]
        let db: SQLiteStore
        do {
            db = try SQLiteStore(path: store)
        } catch {
            Console.error("error: cannot open the store \(store): \(error)")
            throw ExitCode.failure
        }
        let checkpoints = CheckpointStoreSettings(
            directory: settings[s.checkpointDir] ?? URL(fileURLWithPath: store).deletingLastPathComponent().appendingPathComponent("checkpoints").path,
            keep: settings[s.checkpointKeep], maxBytes: Int64(settings[s.checkpointMaxBytes]), maxFiles: settings[s.checkpointMaxFiles])
        let service = try OptimizerService(
            config: OptimizerConfig(brokerEndpoint: broker, clientID: id, feedEndpoint: settings[s.feed], curve: curve,
                                    checkpoints: checkpoints,
                                    specLimits: SpecBudget.Limits(maxBytes: settings[s.specMaxBytes], maxNodes: settings[s.specMaxNodes])),
            store: db)
        Console.line("optimizer \(id) using store \(store), broker \(broker)")
        try service.run(until: stop)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a study end to end in one process: broker, optimizer and local workers.",
        discussion: """
            Starts an embedded broker on loopback, the optimizer with its store, and WORKERS local \
            worker slots, submits the spec, shows progress until the study ends, and prints the \
            best trials. The store stays at --store for `hyperloom status/trials/best/export`.
            """)

    @Argument(help: "The study spec (YAML; see Docs/study-spec.md).")
    var spec: String

    @Option(help: "Local worker slots.")
    var workers = 4

    @Option(help: "The store (SQLite file) the results are kept in.")
    var store = StudySourceOptions.defaultStore

    @Option(help: "Directory for the workers' attempt logs and checkpoints.")
    var workDir = "hyperloom-data/workers"

    @Option(help: "How many of the best trials to print at the end.")
    var top = 10

    @Option(help: "Log level of the embedded services.")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    }

    func run() throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        try reportingFailures {
            let text: String
            do {
                text = try String(contentsOfFile: spec, encoding: .utf8)
            } catch {
                throw Failure("cannot read \(spec): \(error.localizedDescription)")
            }
            let parsed = try SpecParser.parse(text, file: spec)
            for warning in parsed.warnings { Console.error("warning: \(warning)") }
            let interrupted = LoomRuntimeStop.latch()
            let base = URL(fileURLWithPath: spec).standardizedFileURL.deletingLastPathComponent().path
            let db: SQLiteStore
            do {
                db = try SQLiteStore(path: store)
            } catch {
                throw Failure("cannot open the store \(store): \(error)")
            }
            let fabric = try LocalFabric(store: db, optimizerID: "optimizer-run", workerID: "local", slots: workers,
                                         workDir: URL(fileURLWithPath: workDir).standardizedFileURL.path,
                                         version: Hyperloom.version)
            defer { fabric.stop() }

            let studies = try StudySource.connect(fabric.endpoint, timeout: .seconds(10), context: fabric.context)
            defer { studies.close() }
            let answer = try studies.fetch(OptimizerRequest(op: "submit", spec: text, file: spec, baseDirectory: base))
            guard let id = answer.object?["study"]?.argument else { throw Failure("the optimizer did not name the study") }
            Console.line("hyperloom run: study \(id) (\(parsed.metric), \(parsed.mode.rawValue)) on \(workers) local slots; store \(store)")
            try Progress.follow(id, source: studies, stop: { interrupted.isStopRequested })
            if interrupted.isStopRequested {
                Console.line("interrupted: the study stays running in \(store); `hyperloom optimizer --store \(store)` resumes it")
                throw ExitCode(130)
            }
            let doc = try studies.fetch(OptimizerRequest(op: "trials", study: id))
            Console.line(StudyRendering.summary(doc.object?["study"] ?? .null))
            Console.line("")
            Console.line(StudyRendering.best(doc, top: top))
            Console.line("")
            Console.line("more: hyperloom trials \(id) · hyperloom export \(id) --format csv   (store \(store))")
            try StudyOutcome.requireSuccess(id, source: studies, trials: doc)
        }
    }
}
