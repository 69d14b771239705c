import Foundation
import LoomBroker
import LoomCheckpoint
import LoomClient
import LoomEmbedded
import LoomWire
@testable import LoomWorker
import Testing

/// A slow checkpoint snapshot does not stop the worker's heartbeat (issue 16: a checkpoint of
/// 50,000 tiny files blocked the loop ~5 s and the broker declared the worker lost).
@Suite(.serialized, .timeLimit(.minutes(1))) struct SnapshotLivenessTests {
    @Test func aWorkerWithShortLivenessIsNotDeclaredLostWhileASlowSnapshotRuns() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-snapshot-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let services = EmbeddedServices()
        defer { services.stopAll(workersFirst: true) }
        // Silence limit: 3 × 100 ms. The snapshot takes 2 s: a loop blocked by it loses the worker.
        let broker = try BrokerService(config: BrokerServiceConfig(
            endpoint: "tcp://127.0.0.1:*", feedEndpoint: "tcp://127.0.0.1:*", feedReplayEndpoint: "tcp://127.0.0.1:*",
            heartbeat: .milliseconds(100), liveness: 3, recoveryWindow: .zero))
        let (endpoint, _, _) = try broker.bind()
        services.start("broker") { stop in try broker.run(until: stop) }

        let snapshotTime: Duration = .seconds(2)
        let slowSnapshotter: WorkerCheckpoints.Snapshotter = { directory, blobs, maxBytes, stamps throws(CheckpointError) in
            Thread.sleep(forTimeInterval: Double(snapshotTime.components.seconds))
            return try CheckpointSnapshot.take(directory: directory, into: blobs, maxBytes: maxBytes, stamps: &stamps)
        }
        let worker = WorkerConfig(workerID: "w-slow", slots: 1, gpus: 0, heartbeat: .milliseconds(100), liveness: 3,
                                  host: "localhost", pid: getpid(), version: "test")
        let agent = try WorkerAgent(config: WorkerAgentConfig(brokerEndpoint: endpoint, workDir: root, worker: worker),
                                    snapshotter: slowSnapshotter)
        services.start("worker") { stop in try agent.run(until: stop) }

        let client = try BrokerClient(endpoint: endpoint)
        defer { client.close() }
        try client.connect()
        let script = """
            echo state > "$HYPERLOOM_CHECKPOINT_DIR/state"
            echo '@hyperloom {"loss": 2, "checkpoint": true}'
            sleep 0.2
            echo '@hyperloom {"loss": 1}'
            """
        try client.submitAndWait([Harness.shellJob("slow/1", script, maxAttempts: 1)])
        var tally = Tally()
        var kinds: [UpdateKind] = []
        let started = ContinuousClock.now
        try Harness.drive(client, timeout: .seconds(30), until: { tally.terminalCount == 1 }) { event in
            tally.record(event)
            if case .update(let update) = event { kinds.append(update.kind) }
        }
        let elapsed = started.duration(to: .now)

        #expect(tally.started["slow/1"]?.map(\.attempt) == [1], "the worker was never declared lost, so nothing ran again")
        let final = try #require(tally.finals["slow/1"]?.first)
        #expect(final.attempt.attempt == 1)
        #expect(kinds == [.report, .report, .checkpoint, .final], "the second report goes out during the snapshot; FINAL waits for it")
        #expect(elapsed >= snapshotTime, "the snapshot really was slow")
        let status = try client.status()
        #expect(status.object?["counters"]?.object?["workers_lost"] == .number(0), "\(status)")
        guard case .array(let workers)? = status.object?["workers"], let isolation = workers.first?.object?["isolation"]?.argument else {
            Issue.record("no worker with an isolation in \(status)")
            return
        }
        #expect(["process-group", "cgroup2", "cgroup1-freezer"].contains(isolation), "READY says how attempts are isolated")
    }
}
