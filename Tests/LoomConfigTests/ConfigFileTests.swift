import Foundation
import LoomConfig
import Testing

/// A config file's own errors: each names the file, the line and column, the key, and what was
/// expected, in the study spec's `FILE:LINE:COL: FIELD: MESSAGE` form.
struct ConfigFileTests {
    func failure(_ text: String, table: SettingsTable = WorkerSettings.table) -> String {
        do {
            let file = try ConfigFile.parse(text, path: "w.yaml", table: table)
            _ = try table.resolve(flags: [:], file: file, environment: [:])
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func unknownKeyPointsAtItsLineAndSuggestsTheNearestKey() {
        #expect(failure("slots: 2\nkill-grace: 5s\n") == """
            w.yaml:2:1: kill-grace: unknown key "kill-grace" for worker; expected one of broker, slots, gpus, work_dir, \
            heartbeat, liveness, kill_grace, id, labels, checkpoint_store, checkpoint_max_bytes, key, broker_key, log_level, \
            metrics_port, metrics_host (did you mean "kill_grace"?)
            """)
        #expect(failure("endpoint: tcp://*:5555\n").hasPrefix("w.yaml:1:1: endpoint: unknown key \"endpoint\" for worker"))
    }

    @Test func valueOfTheWrongTypePointsAtTheValue() {
        #expect(failure("slots: \"4\"") == #"w.yaml:1:8: slots: expected an integer of at least 1, found string "4""#)
        #expect(failure("liveness: 0") == "w.yaml:1:11: liveness: expected an integer of at least 1, found 0")
        #expect(failure("heartbeat: soon").hasPrefix(#"w.yaml:1:12: heartbeat: expected a positive duration such as 500ms"#))
        #expect(failure("gpus: [0, 1]").hasPrefix("w.yaml:1:7: gpus: expected a non-empty string, found a list"))
        #expect(failure("log_level: loud") == #"w.yaml:1:12: log_level: expected one of trace, debug, info, notice, warning, error, critical, found string "loud""#)
    }

    @Test func booleansAreTheCoreSchemasOnly() {
        #expect(failure("shutdown_workers: yes", table: BrokerSettings.table)
            == #"w.yaml:1:19: shutdown_workers: expected true or false, found string "yes""#)
        #expect(failure("id: true") == "w.yaml:1:5: id: expected a non-empty string, found true")
    }

    @Test func keyWithoutAValueAsksToLeaveItOut() {
        #expect(failure("slots: 2\nid:\n") == "w.yaml:2:4: id: expected a non-empty string, found nothing; leave the key out for the default")
    }

    @Test func yamlThatDoesNotParseKeepsItsPosition() {
        #expect(failure("slots: 2\n  liveness: 3\n").hasPrefix("w.yaml:2:11: syntax: "))
        #expect(failure("slots: 2\nslots: 3\n").hasPrefix(#"w.yaml:1:1: syntax: the key "slots" is set more than once"#))
    }

    @Test func documentMustBeAMapping() {
        #expect(failure("- slots: 2\n") == """
            w.yaml:1:1: config: expected a mapping of worker settings (broker, slots, gpus, work_dir, heartbeat, liveness, \
            kill_grace, id, labels, checkpoint_store, checkpoint_max_bytes, key, broker_key, log_level, metrics_port, \
            metrics_host), found a list
            """)
    }

    @Test func fileOfCommentsOnlySetsNothing() throws {
        #expect(try ConfigFile.parse("# nothing yet\n", path: "w.yaml", table: WorkerSettings.table).entries.isEmpty)
        #expect(try ConfigFile.parse("---\n", path: "w.yaml", table: WorkerSettings.table).entries.isEmpty)
    }

    @Test func unreadableFileNamesWhoNamedIt() {
        #expect(throws: ConfigError(file: "/nonexistent/w.yaml", line: 0, column: 0, field: "file",
                                    message: "cannot read the worker config file (named by env HYPERLOOM_WORKER_CONFIG): No such file or directory")) {
            try WorkerSettings.table.resolve(flags: [:], configFile: nil, environment: ["HYPERLOOM_WORKER_CONFIG": "/nonexistent/w.yaml"])
        }
        let error = ConfigError(file: "/nonexistent/w.yaml", line: 0, column: 0, field: "file", message: "m")
        #expect(error.description == "/nonexistent/w.yaml: file: m")
        #expect(throws: ConfigError(file: "/dev/zero", line: 0, column: 0, field: "file",
                                    message: "cannot read the worker config file (named by --config): it is larger than 1 MiB, too large for a config file")) {
            try WorkerSettings.table.resolve(flags: [:], configFile: "/dev/zero", environment: [:])
        }
    }
}
