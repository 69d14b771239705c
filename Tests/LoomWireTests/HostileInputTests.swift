import Testing
@testable import LoomWire

/// Numbers and collections a hostile peer sends are refused at the codec, each with an error
/// naming the field (issue 16).
@Suite struct HostileInput {
    func ready(slots: Int = 1, gpus: Int = 0, heartbeatMs: Int = 1000, liveness: Int = 3, host: String = "h",
               running: [RunningAttempt] = []) -> [Frame] {
        WorkerMessage.ready(ReadyInfo(worker: "w", slots: slots, gpus: gpus, heartbeatMs: heartbeatMs, liveness: liveness,
                                      host: host, pid: 1, version: "v", running: running)).frames
    }

    func rejection(_ frames: [Frame]) -> WireError? {
        do {
            _ = try WireDecoder.inbound(frames)
            return nil
        } catch {
            return error
        }
    }

    @Test func readyWithSlotsThatWouldOverflowCapacityIsRefused() {
        let error = rejection(ready(slots: 1 << 62))
        #expect(error?.category == "value")
        #expect(error?.description.contains("slots") == true)
        #expect(rejection(ready(gpus: 1 << 62))?.description.contains("gpus") == true)
        #expect(rejection(ready(slots: Wire.maxSlots)) == nil)
        #expect(rejection(ready(slots: -1))?.description.contains("slots") == true)
    }

    @Test func readyWithAHugeLivenessOrHeartbeatIsRefused() {
        #expect(rejection(ready(liveness: 1 << 62))?.description.contains("liveness") == true)
        #expect(rejection(ready(liveness: 0))?.description.contains("liveness") == true)
        #expect(rejection(ready(heartbeatMs: 1 << 62))?.description.contains("heartbeat_ms") == true)
        #expect(rejection(ready(liveness: Wire.maxLiveness)) == nil)
    }

    @Test func readyListingMoreRunningAttemptsThanTheBudgetIsRefused() {
        let many = (0...Wire.maxRunningPerReady).map { RunningAttempt(AttemptRef(job: "j\($0)", attempt: 1, lease: UInt64($0))) }
        #expect(rejection(ready(running: many))?.description.contains("running") == true)
        let zero = [RunningAttempt(AttemptRef(job: "j", attempt: 0, lease: 1))]
        #expect(rejection(ready(running: zero))?.description.contains("running.attempt") == true)
        #expect(rejection(ready(host: String(repeating: "h", count: Wire.maxLabelBytes + 1)))?.description.contains("host") == true)
    }

    @Test func helloWithAnUnboundedNameOrTooManyServicesIsRefused() {
        let long = ClientMessage.hello(HelloInfo(client: "c", name: String(repeating: "n", count: 1 << 20))).frames
        #expect(rejection(long)?.description.contains("name") == true)
        let services = ClientMessage.hello(HelloInfo(client: "c", name: "n", services: (0...Wire.maxServices).map { "s\($0)" })).frames
        #expect(rejection(services)?.description.contains("services") == true)
        #expect(rejection(ClientMessage.hello(HelloInfo(client: "c", name: "n", services: ["optimizer"])).frames) == nil)
    }
}

/// Checkpoint manifests from a peer: sizes, counts and paths are validated before anything is
/// added up or materialised.
@Suite struct HostileManifests {
    let sha = String(repeating: "a", count: 64)
    let other = String(repeating: "b", count: 64)

    func manifest(_ files: [CheckpointFile]) -> CheckpointManifest {
        CheckpointManifest(job: "s/1", attempt: 1, seq: 1, files: files)
    }

    @Test func sizesThatWouldOverflowTheTotalAreRefusedAndTheTotalNeverTraps() {
        let m = manifest([CheckpointFile(path: "a", sha256: sha, size: 1 << 62), CheckpointFile(path: "b", sha256: other, size: 1 << 62)])
        #expect(throws: WireError.self) { try m.validate() }
        #expect(m.bytes == Int64.max)
    }

    @Test func negativeSizesAreRefusedAndDoNotLowerTheTotal() {
        let m = manifest([CheckpointFile(path: "a", sha256: sha, size: 1 << 40), CheckpointFile(path: "b", sha256: other, size: -(1 << 40))])
        #expect(throws: WireError.self) { try m.validate() }
        #expect(m.bytes == 1 << 40)
    }

    @Test func aNulByteOrAnEscapingComponentInAPathIsRefused() {
        for path in ["a\0b", "/etc/passwd", "a/../b", "", "a//b", "./a", String(repeating: "p", count: 4097)] {
            #expect(throws: WireError.self) { try manifest([CheckpointFile(path: path, sha256: sha, size: 1)]).validate() }
            #expect(!CheckpointManifest.isSafePath(path))
        }
        #expect(CheckpointManifest.isSafePath("model/weights.bin"))
    }

    @Test func oneBlobWithTwoSizesOrABadHashIsRefused() {
        let twice = manifest([CheckpointFile(path: "a", sha256: sha, size: 1), CheckpointFile(path: "b", sha256: sha, size: 2)])
        #expect(throws: WireError.self) { try twice.validate() }
        #expect(throws: WireError.self) { try manifest([CheckpointFile(path: "a", sha256: "ABC", size: 1)]).validate() }
        #expect(throws: Never.self) { try manifest([CheckpointFile(path: "a", sha256: sha, size: 1), CheckpointFile(path: "b", sha256: sha, size: 1)]).validate() }
    }
}

/// Found by the broker fuzzer: SUBMIT's first_attempt UInt32.max overflowed the broker's next
/// attempt counter at ASSIGN; attempt numbers are bounded wherever a peer sends one.
@Suite struct HostileAttemptNumbers {
    @Test func attemptNumbersNearTheTopOfUInt32AreRefused() {
        let submit = ClientMessage.submit(request: 1, jobs: [JobSubmission(id: "s/1", requirements: Requirements(firstAttempt: .max), payload: [])]).frames
        #expect(throws: WireError.self) { try WireDecoder.inbound(submit) }
        let update = WorkerMessage.update(Update(kind: .final, attempt: AttemptRef(job: "s/1", attempt: .max, lease: 1), seq: 1, payload: [])).frames
        #expect(throws: WireError.self) { try WireDecoder.inbound(update) }
        let ready = WorkerMessage.ready(ReadyInfo(worker: "w", slots: 1, heartbeatMs: 1000, liveness: 3, host: "h", pid: 1, version: "v",
                                                  running: [RunningAttempt(AttemptRef(job: "s/1", attempt: .max, lease: 1))])).frames
        #expect(throws: WireError.self) { try WireDecoder.inbound(ready) }
        let fine = ClientMessage.submit(request: 1, jobs: [JobSubmission(id: "s/1", requirements: Requirements(firstAttempt: Wire.maxAttemptNumber), payload: [])]).frames
        #expect(throws: Never.self) { try WireDecoder.inbound(fine) }
    }
}

@Suite struct HostileLabels {
    @Test func readyLabelsAreBounded() {
        func ready(_ labels: [String]) -> [Frame] {
            WorkerMessage.ready(ReadyInfo(worker: "w", slots: 1, heartbeatMs: 1000, liveness: 3, host: "h", pid: 1, version: "v", labels: labels)).frames
        }
        #expect(throws: WireError.self) { try WireDecoder.inbound(ready((0...Wire.maxWorkerLabels).map { "l\($0)" })) }
        #expect(throws: WireError.self) { try WireDecoder.inbound(ready([String(repeating: "x", count: Wire.maxWorkerLabelBytes + 1)])) }
        #expect(throws: WireError.self) { try WireDecoder.inbound(ready([""])) }
        #expect(throws: Never.self) { try WireDecoder.inbound(ready(["trusted", "a100"])) }
    }

    @Test func readyIsolationIsBoundedLikeTheHostName() {
        func ready(_ isolation: String) -> [Frame] {
            WorkerMessage.ready(ReadyInfo(worker: "w", slots: 1, heartbeatMs: 1000, liveness: 3, host: "h", pid: 1, version: "v",
                                          isolation: isolation)).frames
        }
        #expect(throws: WireError.self) { try WireDecoder.inbound(ready(String(repeating: "x", count: Wire.maxLabelBytes + 1))) }
        guard case .worker(.ready(let info))? = try? WireDecoder.inbound(ready("cgroup2")) else {
            Issue.record("READY with isolation did not decode")
            return
        }
        #expect(info.isolation == "cgroup2")
    }

    @Test func workerLabelsTravelInTheJobSpec() throws {
        let spec = JobSpec(command: ["true"], workerLabels: ["trusted"])
        #expect(try JobSpec.decode(spec.payload).workerLabels == ["trusted"])
    }
}

/// The writer of a CHECKPOINT travels only from the broker to a client: a worker cannot name one.
@Suite struct CheckpointWriterFrame {
    @Test func aRelayedCheckpointCarriesItsWriterAndAWorkerCannotClaimOne() throws {
        let ref = AttemptRef(job: "s/1", attempt: 1, lease: 9)
        let update = Update(kind: .checkpoint, attempt: ref, seq: 3, payload: Array("{}".utf8), writer: "worker/gpu-01")
        #expect(try WireDecoder.brokerToClient(BrokerToClient.update(update).frames) == .update(update))
        var plain = update
        plain.writer = nil
        #expect(try WireDecoder.brokerToClient(BrokerToClient.update(plain).frames) == .update(plain))
        // A worker's UPDATE with a sixth frame is malformed, whatever it says.
        #expect(throws: WireError.self) { try WireDecoder.inbound(WorkerMessage.update(plain).frames + [Array("worker/other".utf8)]) }
        // Only a CHECKPOINT has a writer.
        var report = plain
        report.kind = .report
        #expect(throws: WireError.self) { try WireDecoder.brokerToClient(BrokerToClient.update(report).frames + [Array("x".utf8)]) }
    }
}
