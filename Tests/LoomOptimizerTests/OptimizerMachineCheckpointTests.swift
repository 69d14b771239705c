import Foundation
import LoomCheckpoint
import LoomClient
import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// Checkpoint uploads inside the machine: FETCHes out, chunks in, blob writes as actions whose
/// outcomes come back as events, and results held back until their attempt's upload ends.
@Suite struct OptimizerMachineCheckpoints {
    static let settings = OptimizerMachine.Settings(keepsCheckpoints: true, keep: 2, transfer: ChunkTransfer.Config(chunkSize: 4, window: 2),
                                                    workingDirectory: "/w")

    /// A CHECKPOINT update of `job`'s attempt 1 whose files hold `contents`.
    static func checkpoint(_ job: String, seq: UInt64, _ contents: [String: String]) throws -> (Update, [String: [UInt8]]) {
        var files: [CheckpointFile] = []
        var bytes: [String: [UInt8]] = [:]
        for (path, text) in contents.sorted(by: { $0.key < $1.key }) {
            let data = Array(text.utf8)
            let sha = BlobDirectory.hash(data)
            bytes[sha] = data
            files.append(CheckpointFile(path: path, sha256: sha, size: Int64(data.count)))
        }
        let manifest = CheckpointManifest(job: job, attempt: 1, seq: seq, files: files)
        let payload: JSONValue = .object(["step": .number(Double(seq)), "loss": .number(0.5),
                                          CheckpointManifest.payloadKey: try JSONDecoder().decode(JSONValue.self, from: Data(JSONCoding.encode(manifest)))])
        return (MachineHarness.update(.checkpoint, job, seq: seq, payload), bytes)
    }

    static func fetches(_ actions: OptimizerActions) -> [Transfer] {
        actions.messages.compactMap { message -> Transfer? in if case .transfer(let t) = message, t.kind == .fetch { t } else { nil } }
    }

    /// Answers every FETCH from `bytes` (the worker) and performs every blob write as a disk that
    /// never fails would, until nothing is asked any more; returns every turn's actions.
    static func pump(_ h: inout MachineHarness, _ first: OptimizerActions, from bytes: [String: [UInt8]]) throws -> [OptimizerActions] {
        var turns = [first]
        var queue = fetches(first)
        var commits = first.disk
        while !queue.isEmpty || !commits.isEmpty {
            if !queue.isEmpty {
                let fetch = queue.removeFirst()
                let body = try JSONDecoder().decode(FetchBody.self, from: Data(fetch.body))
                let blob = bytes[body.sha256!]!
                let end = min(blob.count, Int(body.offset!) + body.length!)
                let chunk = fetch.answer(ChunkHeader(sha256: body.sha256, offset: body.offset), data: Array(blob[Int(body.offset!)..<end]))
                let turn = try h.event(.transfer(chunk))
                turns.append(turn)
                queue += fetches(turn)
                commits += turn.disk
            } else {
                let outcomes = commits.compactMap { action -> DiskOutcome? in
                    if case .commitBlob(let upload, _, let sha) = action { .committed(upload: upload, sha256: sha) } else { nil }
                }
                commits = []
                let turn = try h.apply(h.machine.diskDone(outcomes, now: h.now))
                turns.append(turn)
                queue += fetches(turn)
                commits += turn.disk
            }
        }
        return turns
    }

    @Test func aCheckpointIsAcknowledgedOnlyOnceItsBlobsAreCommittedAndIndexed() throws {
        var h = try MachineHarness(settings: Self.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (update, bytes) = try Self.checkpoint("m-1/1", seq: 1, ["model": "0123456789", "step": "1"])
        let first = try h.event(.update(update))
        #expect(Self.fetches(first).count == 2, "a window of two FETCHes")
        #expect(h.acknowledged.isEmpty)
        let turns = try Self.pump(&h, first, from: bytes)
        let writes = turns.flatMap(\.disk).filter { if case .writeChunk = $0 { true } else { false } }
        #expect(writes.count == 4, "10 bytes in chunks of 4, and 1 byte")
        #expect(h.acknowledged == [1])
        let stored = try h.store.checkpoints(study: id, trial: 1)
        #expect(stored.map(\.seq) == [1])
        // The next checkpoint changed one file: only that blob travels.
        let (second, more) = try Self.checkpoint("m-1/1", seq: 2, ["model": "0123456789", "step": "2"])
        let again = try Self.pump(&h, try h.event(.update(second)), from: more)
        #expect(again.flatMap { Self.fetches($0) }.count == 1)
        #expect(h.acknowledged == [1, 2])
    }

    @Test func aResultWaitsForItsAttemptsUploadAndIsRecordedAfterTheCheckpoint() throws {
        var h = try MachineHarness(settings: Self.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (update, bytes) = try Self.checkpoint("m-1/1", seq: 1, ["model": "abc"])
        let first = try h.event(.update(update))
        let held = try h.final("m-1/1", seq: 2, ["loss": 0.5])
        #expect(held.isEmpty, "held back while the upload runs")
        let turns = try Self.pump(&h, first, from: bytes)
        let writes = turns.flatMap(\.writes)
        let kept = try #require(writes.firstIndex { if case .keepCheckpoint = $0 { true } else { false } })
        let result = try #require(writes.firstIndex { if case .recordResult = $0 { true } else { false } })
        #expect(kept < result)
        #expect(h.acknowledged == [1, 2])
        #expect(try h.trial(id, 1).state == .complete)
    }

    @Test func aFailedBlobWriteWithNoResultWaitingLeavesTheCheckpointUnacknowledged() throws {
        var h = try MachineHarness(settings: Self.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (update, bytes) = try Self.checkpoint("m-1/1", seq: 1, ["model": "abc"])
        let first = try h.event(.update(update))
        let fetch = try #require(Self.fetches(first).first)
        let body = try JSONDecoder().decode(FetchBody.self, from: Data(fetch.body))
        let chunk = try h.event(.transfer(fetch.answer(ChunkHeader(sha256: body.sha256, offset: 0), data: bytes[body.sha256!]!)))
        guard case .commitBlob(let upload, let partial, _)? = chunk.disk.last else { Issue.record("\(chunk.disk)"); return }
        let failed = try h.apply(h.machine.diskDone([.failed(upload: upload, reason: "disk full")], now: h.now))
        #expect(failed.disk == [.discardPartial(partial)])
        #expect(h.acknowledged.isEmpty, "the checkpoint stays unacknowledged: its worker sends it again, which starts over")
        #expect(try h.store.reports(study: id, trial: 1).isEmpty)
        #expect(try h.trial(id, 1).state == .running)
    }

    @Test func aFailedBlobWriteWhileTheResultWaitsRecordsWhyAndReleasesTheResult() throws {
        var h = try MachineHarness(settings: Self.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (update, bytes) = try Self.checkpoint("m-1/1", seq: 1, ["model": "abc"])
        let first = try h.event(.update(update))
        try h.final("m-1/1", seq: 2, ["loss": 0.5])
        let fetch = try #require(Self.fetches(first).first)
        let body = try JSONDecoder().decode(FetchBody.self, from: Data(fetch.body))
        let chunk = try h.event(.transfer(fetch.answer(ChunkHeader(sha256: body.sha256, offset: 0), data: bytes[body.sha256!]!)))
        guard case .commitBlob(let upload, let partial, _)? = chunk.disk.last else { Issue.record("\(chunk.disk)"); return }
        let failed = try h.apply(h.machine.diskDone([.failed(upload: upload, reason: "disk full")], now: h.now))
        #expect(failed.disk == [.discardPartial(partial)])
        // The attempt has ended: no resend would bring the checkpoint before its result. The
        // checkpoint's metrics are stored with the reason, then the result is recorded.
        #expect(h.acknowledged == [1, 2])
        #expect(try h.store.checkpoints(study: id, trial: 1).isEmpty)
        let report = try #require(try h.store.reports(study: id, trial: 1).first { $0.seq == 1 })
        #expect(report.metrics.object?["checkpoint_error"]?.argument.contains("disk full") == true, "\(report.metrics)")
        #expect(try h.trial(id, 1).state == .complete)
        #expect(try h.trial(id, 1).value == 0.5)
    }

    @Test func aResultWaitsForAnUploadAtMostTheHoldEvenWhileReconnectsKeepItAlive() throws {
        // Reconnects ask again for what is outstanding without counting a try: a link that
        // flaps more often than the chunk timeout never failed the upload, and the FINAL held
        // behind it waited for good. The hold bounds that wait.
        var settings = Self.settings
        settings.resultHold = .seconds(20)
        var h = try MachineHarness(settings: settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (update, _) = try Self.checkpoint("m-1/1", seq: 1, ["model": "abc"])
        try h.event(.update(update))
        #expect(try h.final("m-1/1", seq: 2, ["loss": 0.5]).isEmpty, "held behind the upload")
        let welcome = WelcomeInfo(broker: "b", heartbeatMs: 1000, liveness: 3)
        for _ in 0..<30 {
            h.advance(0.9)
            try h.event(.connected(welcome, resynced: 1))
            try h.tick()
            if h.acknowledged.contains(2) { break }
        }
        #expect(h.seconds >= 20 && h.seconds < 21, "given up at the hold, not before: \(h.seconds) s")
        #expect(h.acknowledged == [1, 2])
        let report = try #require(try h.store.reports(study: id, trial: 1).first { $0.seq == 1 })
        #expect(report.metrics.object?["checkpoint_error"]?.argument.contains("waited") == true, "\(report.metrics)")
        #expect(try h.trial(id, 1).state == .complete)
        #expect(try h.trial(id, 1).value == 0.5)
        #expect(h.machine.nextDeadline == nil, "nothing left to wait for")
    }

    @Test func aNewerCheckpointWaitsBehindTheUploadAndReplacesAnOlderWaitingOne() throws {
        var h = try MachineHarness(settings: Self.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (one, b1) = try Self.checkpoint("m-1/1", seq: 2, ["a": "first"])
        let (two, _) = try Self.checkpoint("m-1/1", seq: 4, ["a": "second"])
        let (three, b3) = try Self.checkpoint("m-1/1", seq: 6, ["a": "third"])
        let start = try h.event(.update(one))
        #expect(try h.event(.update(two)).isEmpty, "waits")
        try h.event(.update(three))
        #expect(h.acknowledged == [4], "the waiting one is replaced and acknowledged")
        // Acknowledged means stored: its metrics are a report row, its checkpoint is not kept
        // (simulation seed 1 found it acknowledged with nothing stored).
        let replaced = try h.store.reports(study: id, trial: 1).filter { $0.seq == 4 }
        #expect(replaced.count == 1)
        #expect(replaced.first?.metrics.object?["step"] == .number(4))
        #expect(replaced.first?.metrics.object?[CheckpointManifest.payloadKey] == nil, "the metrics only")
        #expect(replaced.first?.metrics.object?["checkpoint_error"]?.argument.hasPrefix("superseded") == true, "and why it was not kept")
        _ = try Self.pump(&h, start, from: b1.merging(b3) { a, _ in a })
        #expect(h.acknowledged == [4, 2, 6])
    }

    @Test func unansweredFetchesAreAskedAgainOnTheClockAndAfterAReconnect() throws {
        var h = try MachineHarness(settings: Self.settings)
        _ = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (update, _) = try Self.checkpoint("m-1/1", seq: 1, ["model": "abc"])
        let first = Self.fetches(try h.event(.update(update)))
        #expect(Self.fetches(try h.tick()).isEmpty, "not yet due")
        h.advance(1.5)
        let retried = Self.fetches(try h.tick())
        #expect(retried.count == first.count)
        #expect(Set(retried.map(\.request)).isDisjoint(with: first.map(\.request)), "new request ids")
        let reconnect = try h.event(.connected(WelcomeInfo(broker: "b-2", heartbeatMs: 1000, liveness: 3), resynced: 1))
        #expect(Self.fetches(reconnect).count == first.count)
    }

    @Test func anUploadCutByARestartStartsOverWhenTheWorkerResendsAndTheHeldResultFollows() throws {
        var h = try MachineHarness(settings: Self.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (update, bytes) = try Self.checkpoint("m-1/1", seq: 1, ["model": "abcdef"])
        try h.event(.update(update))
        try h.final("m-1/1", seq: 2, ["loss": 0.5])
        #expect(h.acknowledged.isEmpty)
        // The optimizer dies mid-upload; nothing of it was stored, nothing acknowledged.
        try h.restart()
        #expect(h.submittedJobs.contains("m-1/1"), "re-synced")
        #expect(try h.trial(id, 1).state == .running)
        // The worker resends both updates: the upload starts over, the result waits for it again.
        let again = try h.event(.update(update))
        #expect(!Self.fetches(again).isEmpty)
        #expect(try h.final("m-1/1", seq: 2, ["loss": 0.5]).isEmpty)
        _ = try Self.pump(&h, again, from: bytes)
        #expect(h.acknowledged == [1, 2])
        #expect(try h.store.checkpoints(study: id, trial: 1).map(\.seq) == [1])
        #expect(try h.trial(id, 1).value == 0.5)
    }

    @Test func blobsNoCheckpointReferencesAreDeletedUnlessAnUploadNeedsThem() throws {
        var settings = Self.settings
        settings.keep = 1
        var h = try MachineHarness(settings: settings)
        _ = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (one, b1) = try Self.checkpoint("m-1/1", seq: 1, ["model": "one"])
        _ = try Self.pump(&h, try h.event(.update(one)), from: b1)
        let (two, b2) = try Self.checkpoint("m-1/1", seq: 2, ["model": "two"])
        _ = try Self.pump(&h, try h.event(.update(two)), from: b2)
        let first = try #require(b1.keys.first)
        #expect(h.disk.contains(.deleteBlobs([first])), "keep 1: the first checkpoint's blob is garbage")
        #expect(!h.machine.uploads.blobs.contains(first))
    }

    @Test func tooLargeOrWithoutManifestIsRecordedAsAReport() throws {
        var settings = Self.settings
        settings.maxBytes = 3
        var h = try MachineHarness(settings: settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (big, _) = try Self.checkpoint("m-1/1", seq: 1, ["a": "four"])
        try h.event(.update(big))
        let report = try #require(try h.store.reports(study: id, trial: 1).first)
        #expect(report.metrics.object?["checkpoint_error"]?.argument.contains("holds 4 bytes; this optimizer keeps at most 3") == true)
        #expect(h.acknowledged == [1])
    }

    /// A CHECKPOINT update of `job`'s attempt 1 whose manifest lists `files` as given (sizes,
    /// paths and hashes unchecked, as a hostile worker may send them).
    static func checkpoint(_ job: String, seq: UInt64, files: [CheckpointFile]) throws -> Update {
        let manifest = CheckpointManifest(job: job, attempt: 1, seq: seq, files: files)
        let payload: JSONValue = .object(["loss": .number(0.5),
                                          CheckpointManifest.payloadKey: try JSONDecoder().decode(JSONValue.self, from: Data(JSONCoding.encode(manifest)))])
        return MachineHarness.update(.checkpoint, job, seq: seq, payload)
    }

    /// A manifest whose sizes overflow when added up, or whose negative sizes would slip under
    /// the limit, is recorded as a report with the reason and acknowledged; no upload starts
    /// (issue 16: the optimizer crashed, or kept 3 MiB under a 1 MiB limit).
    @Test func overflowingOrNegativeSizesAreRefusedWithoutAnUpload() throws {
        var settings = Self.settings
        settings.maxBytes = 1 << 20
        var h = try MachineHarness(settings: settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let a = String(repeating: "a", count: 64), b = String(repeating: "b", count: 64)
        let cases: [(Int64, Int64)] = [(1 << 62, 1 << 62), (1 << 40, -(1 << 40)), (3 << 20, -(3 << 20) + 1)]
        for (i, sizes) in cases.enumerated() {
            let seq = UInt64(i + 1)
            let update = try Self.checkpoint("m-1/1", seq: seq, files: [
                CheckpointFile(path: "x", sha256: a, size: sizes.0), CheckpointFile(path: "y", sha256: b, size: sizes.1),
            ])
            let actions = try h.event(.update(update))
            #expect(Self.fetches(actions).isEmpty, "no upload for \(sizes)")
            #expect(actions.disk.isEmpty)
            #expect(actions.notes.contains {
                $0.message == "message refused" && $0.metadata["refusal.reason"] == "checkpoint" && $0.metadata["peer.key"] == "worker w1"
                    && $0.metadata["message.kind"] == "CHECKPOINT"
            })
            #expect(h.machine.uploads.uploads.isEmpty)
            let report = try #require(try h.store.reports(study: id, trial: 1).first { $0.seq == seq })
            #expect(report.metrics.object?["checkpoint_error"]?.argument.contains("size") == true, "\(report.metrics)")
            #expect(report.metrics.object?[CheckpointManifest.payloadKey] == nil)
        }
        #expect(h.acknowledged == [1, 2, 3])
        #expect(h.machine.counters.refused == ["checkpoint": 3])
        #expect(try h.store.checkpoints(study: id, trial: 1).isEmpty)
    }

    /// A path with a NUL byte never reaches the index (issue 16: restores then retried ~1,000/s).
    @Test func aNulBytePathIsRefused() throws {
        var h = try MachineHarness(settings: Self.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let update = try Self.checkpoint("m-1/1", seq: 1, files: [
            CheckpointFile(path: "a\u{0}b", sha256: String(repeating: "a", count: 64), size: 1),
        ])
        #expect(Self.fetches(try h.event(.update(update))).isEmpty)
        let report = try #require(try h.store.reports(study: id, trial: 1).first)
        #expect(report.metrics.object?["checkpoint_error"]?.argument.contains("path") == true, "\(report.metrics)")
        #expect(h.acknowledged == [1])
        #expect(try h.store.checkpoints(study: id, trial: 1).isEmpty)
    }

    @Test func restoresAreLeftToTheServiceAndServedNewestFirst() throws {
        var h = try MachineHarness(settings: Self.settings)
        let id = try h.submit(MachineHarness.spec())
        let fetch = Transfer.fetch(job: "m-1/1", lease: 9, request: 5, FetchBody(op: FetchBody.latest))
        #expect(try h.event(.transfer(fetch)).fetches == [fetch])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-serve-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let blobs = try BlobDirectory(root: root)
        func header(_ t: Transfer) -> ChunkHeader? { try? JSONDecoder().decode(ChunkHeader.self, from: Data(t.body)) }
        #expect(header(CheckpointServer.answer(fetch, index: h.store, blobs: blobs))?.none == true)
        let data = Array("xyz".utf8)
        let sha = BlobDirectory.hash(data)
        #expect(DiskAction.writeChunk(upload: UploadID(job: "m-1/1", lease: 1), partial: "p", offset: 0, bytes: data).perform(on: blobs) == nil)
        #expect(DiskAction.commitBlob(upload: UploadID(job: "m-1/1", lease: 1), partial: "p", sha256: sha).perform(on: blobs)
                == .committed(upload: UploadID(job: "m-1/1", lease: 1), sha256: sha))
        let files = [CheckpointFile(path: "a", sha256: sha, size: 3)]
        try h.store.recordCheckpoint(CheckpointRecord(study: id, trial: 1, attempt: 1, lease: 7, seq: 2, files: files, createdAt: 0))
        #expect(header(CheckpointServer.answer(fetch, index: h.store, blobs: blobs))?.checkpoint?.files == files)
        let blob = CheckpointServer.answer(.fetch(job: "m-1/1", lease: 9, request: 6,
                                                  FetchBody(op: FetchBody.blob, sha256: sha, offset: 1, length: 10)), index: h.store, blobs: blobs)
        #expect(blob.data == Array("yz".utf8))
    }
}

/// The optimizer's limits lowered by its settings are enforced with a refusal naming them
/// (issue 16: limits as settings).
@Suite struct OptimizerLoweredLimits {
    @Test func aSpecOverALoweredBudgetIsRefusedNamingIt() throws {
        var settings = OptimizerMachine.Settings(keepsCheckpoints: false, workingDirectory: "/w")
        settings.specLimits = SpecBudget.Limits(maxBytes: 100)
        var h = try MachineHarness(settings: settings)
        let spec = MachineHarness.spec()
        let actions = try h.request(OptimizerRequest(op: "submit", spec: spec, baseDirectory: "/w"), key: "client/alice")
        let body = try #require(actions.messages.compactMap { message -> Frame? in
            if case .respond(_, _, let body) = message { body } else { nil }
        }.first)
        let error = try JSONValue(parsing: body).object?["error"]?.argument ?? ""
        #expect(error.contains("the spec is \(spec.utf8.count) bytes; at most 100 (the optimizer's spec_max_bytes)"), "\(error)")
        #expect(h.machine.studyRecords.isEmpty)
        #expect(h.machine.counters.refused == ["spec": 1])

        settings.specLimits = SpecBudget.Limits(maxNodes: 10)
        var small = try MachineHarness(settings: settings)
        let refused = try small.request(OptimizerRequest(op: "submit", spec: spec, baseDirectory: "/w"))
        #expect(refused.notes.contains { $0.metadata["refusal.detail"]?.contains("more than 10 YAML nodes") == true })
        #expect(refused.notes.contains { $0.metadata["refusal.detail"]?.contains("spec_max_nodes") == true })
        #expect(small.machine.studyRecords.isEmpty)
    }

    @Test func aCheckpointOfMoreFilesThanALoweredLimitIsNotKept() throws {
        var settings = OptimizerMachineCheckpoints.settings
        settings.maxFiles = 1
        var h = try MachineHarness(settings: settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let (update, _) = try OptimizerMachineCheckpoints.checkpoint("m-1/1", seq: 1, ["a": "one", "b": "two"])
        let actions = try h.event(.update(update))
        #expect(OptimizerMachineCheckpoints.fetches(actions).isEmpty)
        let report = try #require(try h.store.reports(study: id, trial: 1).first)
        #expect(report.metrics.object?["checkpoint_error"]?.argument.contains("2 files; this optimizer keeps at most 1 (--checkpoint-max-files)") == true)
        #expect(h.machine.counters.refused == ["checkpoint": 1])
        #expect(h.acknowledged == [1])
    }
}

/// Each kept checkpoint records the key of the worker that wrote it, in the store and in the
/// export (issue 16: checkpoint provenance).
@Suite struct OptimizerCheckpointWriters {
    @Test func aKeptCheckpointRecordsItsWriterAndTheExportShowsIt() throws {
        var h = try MachineHarness(settings: OptimizerMachineCheckpoints.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        var (update, bytes) = try OptimizerMachineCheckpoints.checkpoint("m-1/1", seq: 1, ["model": "weights"])
        update.writer = "worker/gpu-01"
        _ = try OptimizerMachineCheckpoints.pump(&h, try h.event(.update(update)), from: bytes)
        #expect(try h.store.checkpoints(study: id, trial: 1).map(\.writer) == ["worker/gpu-01"])
        let export = try StudyDocuments.trials(id, store: h.store, reports: true)
        guard case .array(let trials)? = export.object?["trials"],
              let trial = trials.first(where: { $0.object?["number"]?.double == 1 }),
              case .array(let checkpoints)? = trial.object?["checkpoints"], let checkpoint = checkpoints.first else {
            Issue.record("no checkpoints in the export: \(export)")
            return
        }
        #expect(checkpoint.object?["writer"]?.argument == "worker/gpu-01")
        #expect(checkpoint.object?["files"]?.double == 1)
    }
}
