import Foundation
import LoomClient
import LoomWire
import Testing

/// Settings of the long-running commands from flags, the environment and config files, through
/// the real executable: `hyperloom config show`, the shipped `Configs/*.yaml`, and a broker and a
/// worker started from files.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ConfigFiles {
    /// Every variable these tests read, empty (an empty variable counts as unset), so the caller's
    /// shell cannot change the verdict; each test sets its own on top.
    static let clean: [String: String] = Dictionary(uniqueKeysWithValues: [
        "HYPERLOOM_BROKER", "HYPERLOOM_BROKER_CONFIG", "HYPERLOOM_WORKER_CONFIG", "HYPERLOOM_OPTIMIZER_CONFIG",
        "HYPERLOOM_BROKER_ENDPOINT", "HYPERLOOM_BROKER_FEED", "HYPERLOOM_BROKER_LOG_LEVEL",
        "HYPERLOOM_WORKER_SLOTS", "HYPERLOOM_WORKER_GPUS", "HYPERLOOM_WORKER_WORK_DIR", "HYPERLOOM_WORKER_HEARTBEAT",
        "HYPERLOOM_WORKER_LIVENESS", "HYPERLOOM_WORKER_KILL_GRACE", "HYPERLOOM_WORKER_ID", "HYPERLOOM_WORKER_LOG_LEVEL",
        "HYPERLOOM_OPTIMIZER_STORE", "HYPERLOOM_OPTIMIZER_ID", "HYPERLOOM_OPTIMIZER_FEED", "HYPERLOOM_OPTIMIZER_LOG_LEVEL",
    ].map { ($0, "") })

    static func file(_ name: String, _ text: String) throws -> String {
        let path = Harness.scratch.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(6)).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `hyperloom config show ARGS`; returns its status, output, and the table's rows by key
    /// as (value, source).
    static func show(_ arguments: [String], environment: [String: String] = [:])
        throws -> (status: Int32, output: String, rows: [String: (value: String, source: String)]) {
        let run = try Harness.run([Harness.binary.path, "config", "show"] + arguments,
                                  environment: clean.merging(environment) { $1 })
        var rows: [String: (String, String)] = [:]
        for line in run.output.split(separator: "\n").dropFirst(3) {
            let cells = line.split(separator: "  ").map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.count == 3 { rows[cells[0]] = (cells[1], cells[2]) }
        }
        return (run.status, run.output, rows)
    }

    @Test func configShowNamesEachValuesSourceWithFlagsOverEnvironmentOverFileOverDefaults() throws {
        let path = try Self.file("worker", """
            slots: 3
            liveness: 7
            kill_grace: 2s
            gpus: 0,2
            id: from-file
            """)
        let shown = try Self.show(["worker", "--config", path, "--liveness", "9", "--id", "from-flag"],
                                  environment: ["HYPERLOOM_WORKER_SLOTS": "5", "HYPERLOOM_WORKER_LIVENESS": "6",
                                                "HYPERLOOM_BROKER": "tcp://10.9.8.7:5555"])
        #expect(shown.status == 0, "\(shown.output)")
        let rows = shown.rows
        #expect(rows["liveness"]?.value == "9" && rows["liveness"]?.source == "flag", "\(shown.output)")
        #expect(rows["id"]?.value == "from-flag" && rows["id"]?.source == "flag", "\(shown.output)")
        #expect(rows["slots"]?.value == "5" && rows["slots"]?.source == "env HYPERLOOM_WORKER_SLOTS", "\(shown.output)")
        #expect(rows["broker"]?.value == "tcp://10.9.8.7:5555" && rows["broker"]?.source == "env HYPERLOOM_BROKER", "\(shown.output)")
        #expect(rows["kill_grace"]?.value == "2s" && rows["kill_grace"]?.source == "file \(path):3", "\(shown.output)")
        #expect(rows["gpus"]?.value == "0,2" && rows["gpus"]?.source == "file \(path):4", "\(shown.output)")
        #expect(rows["heartbeat"]?.value == "1s" && rows["heartbeat"]?.source == "default", "\(shown.output)")
        #expect(rows["work_dir"]?.source == "default", "\(shown.output)")
        #expect(shown.output.contains("config file: \(path) (named by --config)"))

        // The file named by the environment instead of --config; a broker flag that is a switch.
        let broker = try Self.file("broker", "shutdown_workers: true\nmax_message_size: 65536\n")
        let byVariable = try Self.show(["broker", "--no-shutdown-workers"], environment: ["HYPERLOOM_BROKER_CONFIG": broker])
        #expect(byVariable.status == 0, "\(byVariable.output)")
        #expect(byVariable.rows["shutdown_workers"]?.value == "false" && byVariable.rows["shutdown_workers"]?.source == "flag")
        #expect(byVariable.rows["max_message_size"]?.value == "65536" && byVariable.rows["max_message_size"]?.source == "file \(broker):2")
        #expect(byVariable.output.contains("(named by env HYPERLOOM_BROKER_CONFIG)"), "\(byVariable.output)")
    }

    @Test(arguments: ["broker", "worker", "optimizer"])
    func shippedConfigLoads(command: String) throws {
        let path = "Configs/\(command).yaml"
        let shown = try Self.show([command, "--config", path])
        #expect(shown.status == 0, "\(shown.output)")
        #expect(shown.rows.values.contains { $0.source.hasPrefix("file \(path):") }, "\(shown.output)")
        #expect(shown.rows.values.allSatisfy { $0.source == "default" || $0.source.hasPrefix("file \(path):") }, "\(shown.output)")
    }

    @Test func badConfigFileFailsNamingTheFileLineAndKey() throws {
        let unknown = try Self.file("bad", "slots: 2\nslotz: 3\n")
        let shown = try Self.show(["worker", "--config", unknown])
        #expect(shown.status != 0)
        #expect(shown.output.contains("\(unknown):2:1: slotz: unknown key \"slotz\" for worker"), "\(shown.output)")
        #expect(shown.output.contains("(did you mean \"slots\"?)"), "\(shown.output)")

        let wrongType = try Self.file("bad", "liveness: many\n")
        let run = try Harness.run([Harness.binary.path, "broker", "--config", wrongType, "--endpoint", "tcp://127.0.0.1:*",
                                   "--feed", "tcp://127.0.0.1:*"], environment: Self.clean)
        #expect(run.status == 1, "\(run.output)")
        #expect(run.output.contains("\(wrongType):1:11: liveness: expected an integer of at least 1, found string \"many\""),
                "\(run.output)")
        #expect(!run.output.contains("listening"), "\(run.output)")

        let badVariable = try Self.show(["worker"], environment: ["HYPERLOOM_WORKER_GPUS": "two"])
        #expect(badVariable.status != 0)
        #expect(badVariable.output.contains("env HYPERLOOM_WORKER_GPUS: \"two\" is not a GPU selection"), "\(badVariable.output)")
    }

    /// The commands themselves, not only `config show`: a broker bound where its file says, and a
    /// worker whose file names the broker, with the environment and a flag overriding the file.
    @Test func brokerAndWorkerRunFromTheirConfigFiles() throws {
        let brokerFile = try Self.file("broker", """
            endpoint: tcp://127.0.0.1:*
            feed: tcp://127.0.0.1:*
            log_level: warning
            """)
        let broker = try Spawned("broker-config", ["broker", "--config", brokerFile], environment: Self.clean)
        defer { broker.stop() }
        guard let line = broker.waitForLine(containing: "broker listening on") else {
            throw HarnessError.noStart("broker", broker.output)
        }
        let endpoint = String(line.split(separator: " ")[3].dropLast())

        let workerFile = try Self.file("worker", """
            broker: \(endpoint)
            slots: 3
            gpus: none
            id: from-file
            work_dir: \(Harness.scratch.appendingPathComponent("work-config").path)
            """)
        let worker = try Spawned("worker-config", ["worker", "--id", "from-flag"],
                                 environment: Self.clean.merging(["HYPERLOOM_WORKER_CONFIG": workerFile,
                                                                  "HYPERLOOM_WORKER_SLOTS": "2"]) { $1 })
        defer { worker.stop() }

        let client = try BrokerClient(endpoint: endpoint, name: "config-test")
        defer { client.close() }
        try client.connect()
        var seen: [String: JSONValue] = [:]
        let deadline = ContinuousClock.now + .seconds(20)
        while seen.isEmpty && ContinuousClock.now < deadline {
            if case .array(let workers)? = try client.status().object?["workers"] {
                seen = workers.compactMap(\.object).first { $0["id"]?.argument == "from-flag" } ?? [:]
            }
            if seen.isEmpty { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(seen["slots"]?.argument == "2", "broker status: \(seen); worker output:\n\(worker.output)")
        #expect(seen["gpus"]?.argument == "0", "\(seen)")
    }
}
