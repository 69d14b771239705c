import Foundation
import Testing

/// The deliverables that are not Swift: the container files and the protocol document's examples.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct Deployment {
    /// `Docker/validate.sh`: `docker-compose config` on the compose file, the Dockerfile's
    /// structure, the example trial, and the healthcheck's exit status.
    @Test func composeFileAndDockerfileValidateWithoutADockerEngine() throws {
        let run = try Harness.run(["/bin/bash", "Docker/validate.sh"], environment: ["HYPERLOOM_BIN": Harness.binary.path])
        #expect(run.status == 0, "validate.sh:\n\(run.output)")
        #expect(run.output.contains("docker-compose config -q' accepts it"))
    }

    /// The pyzmq worker and client of Docs/protocol.md, written from the document alone, run jobs
    /// through the Swift broker.
    @Test func pythonWorkerAndClientFromTheProtocolDocumentRunJobsThroughTheBroker() throws {
        let (broker, endpoint, _) = try Harness.broker()
        defer { broker.stop() }
        let worker = try Spawned("pyworker", ["Docs/examples/pyworker.py", "--broker", endpoint, "--slots", "2", "--id", "py-test"],
                                 executable: URL(fileURLWithPath: "/usr/bin/env"), prefix: ["python3"])
        defer { worker.stop() }
        let run = try Harness.run(["/usr/bin/env", "python3", "Docs/examples/pyclient.py", "--broker", endpoint, "--jobs", "6"])
        #expect(run.status == 0, "pyclient:\n\(run.output)\npyworker:\n\(worker.output)")
        #expect(run.output.contains("6 of 6 jobs finished"))
        #expect(run.output.contains("started on py-test"))
    }

    /// `hyperloom ping`: reachable → id, versions, round trip, exit 0; unreachable → exit 1.
    @Test func pingReportsTheBrokersVersionAndRoundTripOrFails() throws {
        let (broker, endpoint, _) = try Harness.broker()
        defer { broker.stop() }
        let ok = try Harness.run([Harness.binary.path, "ping", "--broker", endpoint, "--count", "5"])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("hyperloom 0.1.0, protocol 1") && ok.output.contains("round trip min"), "\(ok.output)")
        let closed = "tcp://127.0.0.1:\(Harness.port(of: endpoint) == 1 ? 2 : 1)"
        let down = try Harness.run([Harness.binary.path, "ping", "--broker", closed, "--timeout", "300ms"])
        #expect(down.status == 1 && down.output.contains("does not answer"), "\(down.output)")
    }

    /// The root `--help` lists every subcommand with its one-line purpose (pinned: a command that
    /// disappears or loses its abstract fails here).
    @Test func helpListsEveryCommand() throws {
        let help = try Harness.run([Harness.binary.path, "--help"])
        #expect(help.status == 0)
        for command in ["run", "submit", "status", "trials", "best", "export", "cancel", "ask", "tell", "logs", "broker", "optimizer",
                        "worker", "feed", "plot", "ping", "keygen", "config", "bench"] {
            #expect(help.output.contains("  \(command) "), "--help lacks \(command):\n\(help.output)")
        }
        #expect(help.output.contains("A job fabric for distributed hyperparameter optimization over ZeroMQ."))
    }
}
