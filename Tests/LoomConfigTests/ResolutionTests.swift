import Foundation
import LoomConfig
import Testing

/// Flags > environment > config file > defaults, and the source of every value.
struct ResolutionTests {
    let file = """
        slots: 3
        liveness: 7
        kill_grace: 2s
        id: from-file
        """

    func resolve(flags: [String: String] = [:], environment: [String: String] = [:],
                 file text: String? = nil) throws -> ConfigResolution {
        let table = WorkerSettings.table
        let parsed = try text.map { text throws(ConfigError) in try ConfigFile.parse(text, path: "w.yaml", table: table) }
        return try table.resolve(flags: flags, file: parsed, fileSource: .flag("--config"), environment: environment)
    }

    @Test func flagBeatsEnvironmentBeatsFileBeatsDefault() throws {
        let settings = try resolve(flags: ["liveness": "9"],
                                   environment: ["HYPERLOOM_WORKER_SLOTS": "5", "HYPERLOOM_WORKER_LIVENESS": "6"],
                                   file: file)
        let s = WorkerSettings.self
        #expect(settings[s.liveness] == 9)
        #expect(settings.source(of: s.liveness) == .flag("--liveness"))
        #expect(settings[s.slots] == 5)
        #expect(settings.source(of: s.slots) == .environment("HYPERLOOM_WORKER_SLOTS"))
        #expect(settings[s.killGrace] == .seconds(2))
        #expect(settings.source(of: s.killGrace) == .file(path: "w.yaml", line: 3, column: 1))
        #expect(settings[s.id] == "from-file")
        #expect(settings[s.heartbeat] == .seconds(1))
        #expect(settings.source(of: s.heartbeat) == .default)
        #expect(settings[s.workDir] == nil)
        #expect(settings.source(of: s.killGrace).description == "file w.yaml:3")
        #expect(settings.source(of: s.slots).description == "env HYPERLOOM_WORKER_SLOTS")
        #expect(settings.source(of: s.liveness).description == "flag")
    }

    @Test func brokerEndpointKeepsItsEstablishedVariable() throws {
        let environment = ["HYPERLOOM_BROKER": "tcp://a:5555", "HYPERLOOM_WORKER_BROKER": "tcp://b:5555"]
        let worker = try resolve(environment: environment)
        #expect(worker[WorkerSettings.broker] == "tcp://a:5555")
        #expect(worker.source(of: WorkerSettings.broker) == .environment("HYPERLOOM_BROKER"))
        let optimizer = try OptimizerSettings.table.resolve(flags: [:], configFile: nil, environment: environment)
        #expect(optimizer[OptimizerSettings.broker] == "tcp://a:5555")
        // The broker's own endpoint is another setting with another variable.
        let broker = try BrokerSettings.table.resolve(flags: [:], configFile: nil, environment: environment)
        #expect(broker[BrokerSettings.endpoint] == "tcp://127.0.0.1:5555")
    }

    @Test func emptyEnvironmentVariableCountsAsUnset() throws {
        let settings = try resolve(environment: ["HYPERLOOM_WORKER_SLOTS": "", "HYPERLOOM_WORKER_CONFIG": ""], file: file)
        #expect(settings[WorkerSettings.slots] == 3)
        #expect(settings.source(of: WorkerSettings.slots) == .file(path: "w.yaml", line: 1, column: 1))
    }

    @Test func badValueIsReportedWhereItWasGivenEvenWhenOverridden() {
        #expect(throws: ConfigError(source: .flag("--slots"), field: "slots",
                                    message: #"expected an integer of at least 1, found "many""#)) {
            try resolve(flags: ["slots": "many"])
        }
        #expect(throws: ConfigError(source: .environment("HYPERLOOM_WORKER_KILL_GRACE"), field: "kill_grace",
                                    message: #"expected a duration such as 500ms, 5s, 2m or a number of seconds, found "-1s""#)) {
            try resolve(flags: ["kill_grace": "1s"], environment: ["HYPERLOOM_WORKER_KILL_GRACE": "-1s"])
        }
        // A flag that hides a broken file entry does not make the file right.
        #expect(throws: ConfigError(file: "w.yaml", line: 1, column: 8, field: "slots",
                                    message: "expected an integer of at least 1, found 0")) {
            try resolve(flags: ["slots": "2"], file: "slots: 0")
        }
        #expect(ConfigError(source: .environment("HYPERLOOM_WORKER_SLOTS"), field: "slots", message: "m").description
            == "env HYPERLOOM_WORKER_SLOTS: m")
        #expect(ConfigError(source: .flag("--slots"), field: "slots", message: "m").description == "--slots: m")
    }

    @Test func durationsAreWrittenWithAUnitOrInSeconds() throws {
        let cases: [(String, Duration)] = [("1s", .seconds(1)), ("500ms", .milliseconds(500)), ("2m", .seconds(120)),
                                           ("1h30m", .seconds(5400)), ("0.25", .milliseconds(250)), ("30", .seconds(30))]
        for (text, expected) in cases {
            #expect(try resolve(flags: ["kill_grace": text])[WorkerSettings.killGrace] == expected, "\(text)")
        }
        #expect(try resolve(file: "kill_grace: 1.5")[WorkerSettings.killGrace] == .milliseconds(1500))
        #expect(try resolve(file: "kill_grace: 0")[WorkerSettings.killGrace] == .zero)
        #expect(throws: ConfigError.self) { try resolve(file: "heartbeat: 0") }
        #expect(throws: ConfigError.self) { try resolve(flags: ["heartbeat": "1 s"]) }
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(DurationText.format(.seconds(7200)) == "2h")
        #expect(DurationText.format(.seconds(90)) == "90s")
    }

    @Test func booleanFlagsAndVariablesReadTheUsualSpellings() throws {
        let table = BrokerSettings.table
        for (text, value) in [("true", true), ("1", true), ("yes", true), ("false", false), ("0", false), ("NO", false)] {
            let settings = try table.resolve(flags: [:], configFile: nil, environment: ["HYPERLOOM_BROKER_SHUTDOWN_WORKERS": text])
            #expect(settings[BrokerSettings.shutdownWorkers] == value, "\(text)")
        }
    }

    @Test func configFileIsNamedByTheFlagOrElseByItsVariable() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loomconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fromFlag = directory.appendingPathComponent("flag.yaml").path
        let fromEnvironment = directory.appendingPathComponent("env.yaml").path
        try "store: flag.db\n".write(toFile: fromFlag, atomically: true, encoding: .utf8)
        try "store: env.db\n".write(toFile: fromEnvironment, atomically: true, encoding: .utf8)
        let environment = ["HYPERLOOM_OPTIMIZER_CONFIG": fromEnvironment]
        let byVariable = try OptimizerSettings.table.resolve(flags: [:], configFile: nil, environment: environment)
        #expect(byVariable[OptimizerSettings.store] == "env.db")
        #expect(byVariable.file?.source == .environment("HYPERLOOM_OPTIMIZER_CONFIG"))
        let byFlag = try OptimizerSettings.table.resolve(flags: [:], configFile: fromFlag, environment: environment)
        #expect(byFlag[OptimizerSettings.store] == "flag.db")
        #expect(byFlag.source(of: OptimizerSettings.store) == .file(path: fromFlag, line: 1, column: 1))
    }

    @Test func showListsEveryKeyWithItsValueAndSource() throws {
        let rendered = try resolve(flags: ["liveness": "9"], environment: ["HYPERLOOM_WORKER_SLOTS": "5"], file: file).rendered()
        let rows = rendered.split(separator: "\n").dropFirst(3).map {
            $0.split(separator: "  ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        #expect(rows.map { $0[0] } == WorkerSettings.table.keys)
        #expect(rows.contains(["liveness", "9", "flag"]))
        #expect(rows.contains(["slots", "5", "env HYPERLOOM_WORKER_SLOTS"]))
        #expect(rows.contains(["kill_grace", "2s", "file w.yaml:3"]))
        #expect(rows.contains(["work_dir", "hyperloom-data/worker-<id>", "default"]))
        #expect(rendered.contains("config file: w.yaml (named by --config)"))
    }
}
