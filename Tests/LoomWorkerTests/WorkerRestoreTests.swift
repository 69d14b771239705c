import Foundation
import LoomCheckpoint
@testable import LoomWorker
import LoomWire
import Logging
import Testing

/// The worker's end of checkpoints, with the optimizer simulated by a blob directory.
@Suite struct WorkerRestoreBehaviour {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-restore-\(UUID().uuidString)").path
    let t0 = ContinuousClock.now
    let settings = CheckpointSettings(transfer: ChunkTransfer.Config(chunkSize: 4, window: 2), restoreTimeout: .seconds(30),
                                      manifestTimeout: .seconds(2))

    func coordinator() -> WorkerCheckpoints {
        WorkerCheckpoints(workDir: root + "/work", settings: settings, logger: Logger(label: "test"))
    }

    /// The optimizer's store holding one checkpoint with `files` (path → content).
    func optimizerStore(_ files: [String: String], job: String = "s-1/1", attempt: UInt32 = 1, seq: UInt64 = 6)
        throws -> (BlobDirectory, CheckpointManifest) {
        let blobs = try BlobDirectory(root: root + "/optimizer")
        var entries: [CheckpointFile] = []
        for (path, text) in files.sorted(by: { $0.key < $1.key }) {
            let source = root + "/src-\(UUID().uuidString)"
            try text.write(toFile: source, atomically: true, encoding: .utf8)
            let (sha, size) = try blobs.ingest(file: source)
            entries.append(CheckpointFile(path: path, sha256: sha, size: size))
        }
        return (blobs, CheckpointManifest(job: job, attempt: attempt, seq: seq, files: entries))
    }

    static func body(_ t: Transfer) -> FetchBody? { try? JSONDecoder().decode(FetchBody.self, from: Data(t.body)) }

    /// Answers every FETCH the way the optimizer would, until the coordinator stops asking.
    func serve(_ outcomes: [WorkerCheckpoints.Outcome], by checkpoints: WorkerCheckpoints, manifest: CheckpointManifest?,
               blobs: BlobDirectory, fetches: inout [String]) -> [WorkerCheckpoints.Outcome] {
        var queue = outcomes
        var rest: [WorkerCheckpoints.Outcome] = []
        while !queue.isEmpty {
            let next = queue.removeFirst()
            if case .rebuild(let ref) = next, let job = checkpoints.restoreJob(lease: ref.lease) {
                // The agent's background thread, here on this one.
                queue += checkpoints.restoreFinished(job(), now: t0)
                continue
            }
            guard case .send(let fetch) = next else { rest.append(next); continue }
            let body = Self.body(fetch)!
            fetches.append(body.op == FetchBody.latest ? "latest \(body.job ?? "")" : "blob \(body.offset!)")
            let answer = body.op == FetchBody.latest
                ? fetch.answer(manifest.map { ChunkHeader(checkpoint: $0) } ?? ChunkHeader(none: true))
                : fetch.answer(ChunkHeader(sha256: body.sha256, offset: body.offset),
                               data: (try? blobs.read(body.sha256!, offset: body.offset!, length: body.length!)) ?? [])
            for outcome in checkpoints.received(answer, now: t0) {
                switch outcome {
                case .send, .rebuild: queue.append(outcome)
                default: rest.append(outcome)
                }
            }
        }
        return rest
    }

    @Test func aFirstAttemptStartsAtOnceWithoutAsking() {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ref = AttemptRef(job: "s-1/1", attempt: 1, lease: 5)
        #expect(coordinator().prepare(ref, payload: JobSpec(command: ["true"]).payload, now: t0) == [.launch(ref, payload: JobSpec(command: ["true"]).payload)])
    }

    @Test func aRetriedAttemptFetchesTheStoredCheckpointInChunksBeforeItStarts() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (blobs, manifest) = try optimizerStore(["step": "5", "model/weights": "0123456789"])
        let checkpoints = coordinator()
        let ref = AttemptRef(job: "s-1/1", attempt: 2, lease: 9)
        let payload = JobSpec(command: ["true"]).payload
        let first = checkpoints.prepare(ref, payload: payload, now: t0)
        #expect(checkpoints.isRestoring(lease: 9))
        var fetches: [String] = []
        let rest = serve(first, by: checkpoints, manifest: manifest, blobs: blobs, fetches: &fetches)
        #expect(rest == [.launch(ref, payload: payload)])
        #expect(fetches.first == "latest s-1/1")
        #expect(fetches.count == 1 + 3 + 1, "the manifest, 10 bytes in chunks of 4, 1 byte")
        let dir = checkpoints.paths(ref).checkpointDir
        #expect(try String(contentsOfFile: dir + "/model/weights", encoding: .utf8) == "0123456789")
        #expect(try String(contentsOfFile: dir + "/step", encoding: .utf8) == "5")
        #expect(CheckpointOrigin.read(checkpoints.paths(ref).checkpointOriginFile) == CheckpointOrigin(job: "s-1/1", attempt: 1, seq: 6))

        // The next attempt here finds the same checkpoint already in place: nothing more travels.
        let third = AttemptRef(job: "s-1/1", attempt: 3, lease: 11)
        fetches = []
        let again = serve(checkpoints.prepare(third, payload: payload, now: t0), by: checkpoints, manifest: manifest,
                          blobs: blobs, fetches: &fetches)
        #expect(again == [.launch(third, payload: payload)])
        #expect(fetches == ["latest s-1/1"])
    }

    /// Seed 13297 (S6): a backup copy (attempt 2) ran here from an older checkpoint and left its
    /// own in the job's directory, while attempt 1 went on elsewhere and stored a later one. The
    /// next attempt here must restore the stored checkpoint: a higher attempt number is not more
    /// work done. The same attempt's later checkpoint in place is still used as it is.
    @Test func aCheckpointOfAnotherAttemptInPlaceIsReplacedByTheStoredOne() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (blobs, manifest) = try optimizerStore(["step": "5"], attempt: 1, seq: 8)
        let checkpoints = coordinator()
        let payload = JobSpec(command: ["true"]).payload
        let backup = AttemptRef(job: "s-1/1", attempt: 2, lease: 9)
        let dir = checkpoints.paths(backup).checkpointDir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "4".write(toFile: dir + "/step", atomically: true, encoding: .utf8)
        CheckpointOrigin(job: "s-1/1", attempt: 2, seq: 2).write(to: checkpoints.paths(backup).checkpointOriginFile)
        let next = AttemptRef(job: "s-1/1", attempt: 3, lease: 11)
        var fetches: [String] = []
        let rest = serve(checkpoints.prepare(next, payload: payload, now: t0), by: checkpoints, manifest: manifest,
                         blobs: blobs, fetches: &fetches)
        #expect(rest == [.launch(next, payload: payload)])
        #expect(fetches == ["latest s-1/1", "blob 0"])
        #expect(try String(contentsOfFile: checkpoints.paths(next).checkpointDir + "/step", encoding: .utf8) == "5")
        #expect(CheckpointOrigin.read(checkpoints.paths(next).checkpointOriginFile) == CheckpointOrigin(job: "s-1/1", attempt: 1, seq: 8))

        // Attempt 1's own later checkpoint in place (seq 9 here, 8 stored): nothing travels.
        CheckpointOrigin(job: "s-1/1", attempt: 1, seq: 9).write(to: checkpoints.paths(next).checkpointOriginFile)
        let fourth = AttemptRef(job: "s-1/1", attempt: 4, lease: 13)
        fetches = []
        let again = serve(checkpoints.prepare(fourth, payload: payload, now: t0), by: checkpoints, manifest: manifest,
                          blobs: blobs, fetches: &fetches)
        #expect(again == [.launch(fourth, payload: payload)])
        #expect(fetches == ["latest s-1/1"])
    }

    @Test func aReceivedBlobThatDoesNotMatchItsHashIsCaughtByTheRebuildAndTheRestoreStartsOver() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (blobs, manifest) = try optimizerStore(["step": "5"])
        // The optimizer's copy is corrupted on disk: the bytes travel, their hash does not match.
        try "6".write(toFile: blobs.path(of: manifest.files[0].sha256), atomically: true, encoding: .utf8)
        let checkpoints = coordinator()
        let ref = AttemptRef(job: "s-1/1", attempt: 2, lease: 9)
        var fetches: [String] = []
        let rest = serve(checkpoints.prepare(ref, payload: JobSpec(command: ["true"]).payload, now: t0), by: checkpoints,
                         manifest: manifest, blobs: blobs, fetches: &fetches)
        #expect(rest.isEmpty, "the trial does not start on a checkpoint that failed verification")
        #expect(checkpoints.isRestoring(lease: 9), "it asks for the manifest again after manifestTimeout")
        #expect(checkpoints.rebuildsInFlight == 0)
        #expect(!FileManager.default.fileExists(atPath: checkpoints.paths(ref).checkpointDir + "/step"))
    }

    @Test func restoreFromAsksForTheOtherJobsCheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (blobs, manifest) = try optimizerStore(["step": "9"], job: "s-1/4")
        let checkpoints = coordinator()
        let ref = AttemptRef(job: "s-1/7", attempt: 1, lease: 3)
        let payload = JobSpec(command: ["true"], restoreFrom: "s-1/4").payload
        var fetches: [String] = []
        let rest = serve(checkpoints.prepare(ref, payload: payload, now: t0), by: checkpoints, manifest: manifest,
                         blobs: blobs, fetches: &fetches)
        #expect(fetches.first == "latest s-1/4")
        #expect(rest == [.launch(ref, payload: payload)])
        #expect(try String(contentsOfFile: checkpoints.paths(ref).checkpointDir + "/step", encoding: .utf8) == "9")
    }

    /// A PBT exploit follows the donor's REPORT; the donor's CHECKPOINT may still be uploading.
    /// "None stored" for another job is asked again (every `manifestTimeout`) until `donorWait`,
    /// instead of starting the exploited trial from its own checkpoint.
    @Test func restoreFromWaitsForTheOtherJobsFirstStoredCheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (blobs, manifest) = try optimizerStore(["step": "9"], job: "s-1/4")
        let checkpoints = coordinator()
        let ref = AttemptRef(job: "s-1/7", attempt: 2, lease: 3)
        let payload = JobSpec(command: ["true"], restoreFrom: "s-1/4").payload
        guard case .send(let first)? = checkpoints.prepare(ref, payload: payload, now: t0).first else { Issue.record("no FETCH"); return }
        #expect(checkpoints.received(first.answer(ChunkHeader(none: true)), now: t0).isEmpty, "does not start on its own state")
        #expect(checkpoints.isRestoring(lease: 3))
        var fetches: [String] = []
        let rest = serve(checkpoints.expire(now: t0 + .seconds(2)), by: checkpoints, manifest: manifest, blobs: blobs, fetches: &fetches)
        #expect(fetches.first == "latest s-1/4")
        #expect(rest == [.launch(ref, payload: payload)])
        #expect(try String(contentsOfFile: checkpoints.paths(ref).checkpointDir + "/step", encoding: .utf8) == "9")
    }

    @Test func restoreFromStartsWithoutTheOtherJobsCheckpointOnceTheWaitIsOver() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let checkpoints = WorkerCheckpoints(workDir: root + "/work", settings: CheckpointSettings(restoreTimeout: .seconds(120),
                                                                                                   manifestTimeout: .seconds(2), donorWait: .seconds(10)),
                                            logger: Logger(label: "test"))
        let ref = AttemptRef(job: "s-1/7", attempt: 2, lease: 3)
        let payload = JobSpec(command: ["true"], restoreFrom: "s-1/4").payload
        guard case .send(let first)? = checkpoints.prepare(ref, payload: payload, now: t0).first else { Issue.record("no FETCH"); return }
        #expect(checkpoints.received(first.answer(ChunkHeader(none: true)), now: t0 + .seconds(1)).isEmpty)
        guard case .send(let again)? = checkpoints.expire(now: t0 + .seconds(11)).first else { Issue.record("not asked again"); return }
        #expect(checkpoints.received(again.answer(ChunkHeader(none: true)), now: t0 + .seconds(11)) == [.launch(ref, payload: payload)])
        // Its own job's "none" needs no wait: a retry without a stored checkpoint starts at once.
        let own = AttemptRef(job: "s-1/8", attempt: 2, lease: 4)
        let plain = JobSpec(command: ["true"]).payload
        guard case .send(let mine)? = checkpoints.prepare(own, payload: plain, now: t0).first else { Issue.record("no FETCH"); return }
        #expect(checkpoints.received(mine.answer(ChunkHeader(none: true)), now: t0) == [.launch(own, payload: plain)])
    }

    @Test func anUnansweredManifestIsAskedAgainAndTheAttemptFailsAtTheDeadline() {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let checkpoints = coordinator()
        let ref = AttemptRef(job: "s-1/1", attempt: 2, lease: 9)
        _ = checkpoints.prepare(ref, payload: JobSpec(command: ["true"]).payload, now: t0)
        #expect(checkpoints.expire(now: t0 + .seconds(1)).isEmpty)
        guard case .send(let again)? = checkpoints.expire(now: t0 + .seconds(2)).first else { Issue.record("not asked again"); return }
        #expect(Self.body(again)?.op == FetchBody.latest)
        let outcome = checkpoints.expire(now: t0 + .seconds(30))
        guard case .fail(let failed, let error)? = outcome.first else { Issue.record("\(outcome)"); return }
        #expect(failed == ref)
        #expect(error.contains("cannot restore its checkpoint"))
        #expect(!checkpoints.isRestoring(lease: 9))
    }

    @Test func aSnapshotAddsTheManifestAndTheFetchForItsBlobsIsServed() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let checkpoints = coordinator()
        let ref = AttemptRef(job: "s-1/2", attempt: 1, lease: 4)
        let dir = checkpoints.paths(ref).checkpointDir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "state".write(toFile: dir + "/state", atomically: true, encoding: .utf8)
        let payload = try checkpoints.snapshotNow(ref, metrics: Array(#"{"step": 1, "checkpoint": true}"#.utf8), seq: 2)
        let object = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(payload)).object)
        let manifest = try JSONDecoder().decode(CheckpointManifest.self, from: Data(JSONCoding.encode(try #require(object[CheckpointManifest.payloadKey]))))
        #expect(manifest.seq == 2 && manifest.files.map(\.path) == ["state"])
        let fetch = Transfer.fetch(job: ref.job, lease: 4, request: 1,
                                   FetchBody(op: FetchBody.blob, sha256: manifest.files[0].sha256, offset: 2, length: 100))
        #expect(checkpoints.serve(fetch).data == Array("ate".utf8))
    }

    @Test func snapshotBlobsStayWhileUnacknowledgedAndTheNewestStaysWhileTheJobIsHeld() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let checkpoints = coordinator()
        let ref = AttemptRef(job: "s-1/2", attempt: 1, lease: 4)
        let dir = checkpoints.paths(ref).checkpointDir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func snapshot(_ text: String, seq: UInt64) throws -> String {
            try text.write(toFile: dir + "/state", atomically: true, encoding: .utf8)
            _ = try checkpoints.snapshotNow(ref, metrics: Array(#"{"checkpoint": true}"#.utf8), seq: seq)
            return BlobDirectory.hash(Array(text.utf8))
        }
        let one = try snapshot("one", seq: 2), two = try snapshot("two", seq: 4), three = try snapshot("three", seq: 6)
        func present(_ sha: String) -> Bool {
            let fetch = Transfer.fetch(job: ref.job, lease: 4, request: 1, FetchBody(op: FetchBody.blob, sha256: sha, offset: 0, length: 9))
            return !checkpoints.serve(fetch).data.isEmpty
        }
        checkpoints.collectGarbage(heldJobs: [ref.job]) { _, seq in seq == 2 }
        #expect(present(one), "unacknowledged: the optimizer may still fetch it")
        #expect(!present(two), "acknowledged and not the newest")
        #expect(present(three), "the newest")
        checkpoints.collectGarbage(heldJobs: []) { _, _ in true }
        #expect(!present(one) && !present(three), "the job is no longer held here")
    }
}

extension WorkerCheckpoints {
    /// Takes a snapshot on this thread, as the agent's background thread would, and takes it back.
    func snapshotNow(_ ref: AttemptRef, metrics: Frame, seq: UInt64) throws -> Frame {
        let job = try #require(snapshotJob(ref, metrics: metrics))
        return snapshotFinished(job(), seq: seq)
    }
}
