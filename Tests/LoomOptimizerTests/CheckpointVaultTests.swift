import Foundation
import LoomCheckpoint
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Logging
import Testing

/// The optimizer's checkpoint store, with a worker simulated by answering its FETCHes from files.
@Suite struct CheckpointVaultBehaviour {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-vault-\(UUID().uuidString)").path
    let t0 = ContinuousClock.now

    func vault(maxBytes: Int64 = 1 << 20) -> CheckpointVault {
        CheckpointVault(settings: CheckpointStoreSettings(directory: root + "/store", keep: 2, maxBytes: maxBytes,
                                                          transfer: ChunkTransfer.Config(chunkSize: 4, window: 2)),
                        logger: Logger(label: "test"))
    }

    /// A worker's blob directory holding `contents`; returns it and the CHECKPOINT update.
    func worker(_ contents: [String: String], seq: UInt64, lease: UInt64 = 7) throws -> (BlobDirectory, Update) {
        let blobs = try BlobDirectory(root: root + "/worker")
        var files: [CheckpointFile] = []
        for (path, text) in contents.sorted(by: { $0.key < $1.key }) {
            let file = root + "/src-\(UUID().uuidString)"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let (sha, size) = try blobs.ingest(file: file)
            files.append(CheckpointFile(path: path, sha256: sha, size: size))
        }
        let manifest = CheckpointManifest(job: "s-1/1", attempt: 1, seq: seq, files: files)
        let payload: JSONValue = .object(["step": .number(Double(seq)), CheckpointManifest.payloadKey:
            try JSONDecoder().decode(JSONValue.self, from: Data(JSONCoding.encode(manifest)))])
        let update = Update(kind: .checkpoint, attempt: AttemptRef(job: "s-1/1", attempt: 1, lease: lease), seq: seq,
                            payload: JSONCoding.encode(payload))
        return (blobs, update)
    }

    static func payload(_ update: Update) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(update.payload)) }

    /// Answers every FETCH in `progress` from `blobs` until the upload settles; counts FETCHes.
    func pump(_ vault: CheckpointVault, _ progress: [CheckpointVault.Progress], from blobs: BlobDirectory,
              fetches: inout Int) -> [CheckpointVault.Progress] {
        var queue = progress
        var settled: [CheckpointVault.Progress] = []
        while !queue.isEmpty {
            let step = queue.removeFirst()
            guard case .send(let fetch) = step else { settled.append(step); continue }
            fetches += 1
            let body = try! JSONDecoder().decode(FetchBody.self, from: Data(fetch.body))
            let data = (try? blobs.read(body.sha256!, offset: body.offset!, length: body.length!)) ?? []
            queue += vault.received(fetch.answer(ChunkHeader(sha256: body.sha256, offset: body.offset), data: data), now: t0)
        }
        return settled
    }

    @Test func anUploadPullsOnlyMissingBlobsInWindowedChunks() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vault = vault()
        let (blobs, first) = try worker(["model": "0123456789", "step": "1"], seq: 2)
        let start = vault.arrived(first, payload: Self.payload(first), now: t0)
        #expect(start.count == 2, "a window of two FETCHes: \(start)")
        var fetches = 0
        let settled = pump(vault, start, from: blobs, fetches: &fetches)
        #expect(fetches == 4, "10 bytes in chunks of 4, and 1 byte")
        guard case .completed(let update, let manifest)? = settled.first else { Issue.record("\(settled)"); return }
        #expect(update == first)
        #expect(manifest.files.allSatisfy { vault.blobs!.contains($0.sha256) })

        // The next checkpoint changed one file: only that blob travels.
        let (_, second) = try worker(["model": "0123456789", "step": "2"], seq: 4)
        fetches = 0
        let again = pump(vault, vault.arrived(second, payload: Self.payload(second), now: t0), from: blobs, fetches: &fetches)
        #expect(fetches == 1)
        #expect(again.count == 1)
    }

    @Test func aNewerCheckpointWaitsBehindTheUploadAndReplacesAnOlderWaitingOne() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vault = vault()
        let (blobs, one) = try worker(["a": "first"], seq: 2)
        let (_, two) = try worker(["a": "second"], seq: 4)
        let (_, three) = try worker(["a": "third"], seq: 6)
        let start = vault.arrived(one, payload: Self.payload(one), now: t0)
        #expect(vault.arrived(two, payload: Self.payload(two), now: t0).isEmpty, "waits")
        #expect(vault.arrived(three, payload: Self.payload(three), now: t0) == [.superseded(two)])
        #expect(vault.arrived(one, payload: Self.payload(one), now: t0).isEmpty, "a resend of the one in flight")
        let result = Update(kind: .final, attempt: one.attempt, seq: 7, payload: [])
        #expect(vault.holdBack(result))
        var fetches = 0
        let settled = pump(vault, start, from: blobs, fetches: &fetches)
        let kinds = settled.map { step -> String in
            switch step {
            case .completed(let u, _): "completed \(u.seq)"
            case .release(let u): "release \(u.seq)"
            default: "\(step)"
            }
        }
        #expect(kinds == ["completed 2", "completed 6", "release 7"])
        #expect(!vault.holdBack(result), "nothing uploads any more")
    }

    /// A CHECKPOINT whose manifest claims sizes that overflow, or negative ones that would slip
    /// under the limit, is recorded as a report with the reason, and no upload starts.
    @Test func overflowingOrNegativeSizesAreRefusedWithoutAnUpload() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vault = vault(maxBytes: 1 << 20)
        let a = String(repeating: "a", count: 64), b = String(repeating: "b", count: 64)
        let cases: [(Int64, Int64)] = [(1 << 62, 1 << 62), (1 << 40, -(1 << 40)), (3 << 20, -(3 << 20) + 1)]
        for sizes in cases {
            let manifest = CheckpointManifest(job: "s-1/1", attempt: 1, seq: 1, files: [
                CheckpointFile(path: "x", sha256: a, size: sizes.0), CheckpointFile(path: "y", sha256: b, size: sizes.1),
            ])
            let payload: JSONValue = .object([CheckpointManifest.payloadKey:
                try JSONDecoder().decode(JSONValue.self, from: Data(JSONCoding.encode(manifest)))])
            let update = Update(kind: .checkpoint, attempt: AttemptRef(job: "s-1/1", attempt: 1, lease: 7), seq: 1,
                                payload: JSONCoding.encode(payload))
            let progress = vault.arrived(update, payload: payload, now: t0)
            guard case .recordReport(_, let metrics)? = progress.first, progress.count == 1 else {
                Issue.record("not recorded as a report: \(progress)"); continue
            }
            #expect(metrics.object?["checkpoint_error"]?.argument.contains("size") == true)
            #expect(vault.uploads.isEmpty)
        }
    }

    /// A path with a NUL byte never reaches the index.
    @Test func aNulBytePathIsRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vault = vault()
        let manifest = CheckpointManifest(job: "s-1/1", attempt: 1, seq: 1, files: [
            CheckpointFile(path: "a\u{0}b", sha256: String(repeating: "a", count: 64), size: 1),
        ])
        let payload: JSONValue = .object([CheckpointManifest.payloadKey:
            try JSONDecoder().decode(JSONValue.self, from: Data(JSONCoding.encode(manifest)))])
        let update = Update(kind: .checkpoint, attempt: AttemptRef(job: "s-1/1", attempt: 1, lease: 7), seq: 1, payload: JSONCoding.encode(payload))
        guard case .recordReport(_, let metrics)? = vault.arrived(update, payload: payload, now: t0).first else {
            Issue.record("not recorded as a report"); return
        }
        #expect(metrics.object?["checkpoint_error"]?.argument.contains("path") == true)
    }

    @Test func tooLargeOrWithoutManifestIsRecordedAsAReport() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vault = vault(maxBytes: 3)
        let (_, big) = try worker(["a": "four"], seq: 2)
        guard case .recordReport(_, let metrics)? = vault.arrived(big, payload: Self.payload(big), now: t0).first else {
            Issue.record("not recorded as a report"); return
        }
        #expect(metrics.object?["checkpoint_error"]?.argument.contains("holds 4 bytes; this optimizer keeps at most 3") == true)
        #expect(metrics.object?[CheckpointManifest.payloadKey] == nil)
        let plain = Update(kind: .checkpoint, attempt: big.attempt, seq: 3, payload: Array(#"{"step": 1}"#.utf8))
        #expect(vault.arrived(plain, payload: Self.payload(plain), now: t0) == [.recordReport(plain, .object(["step": .number(1)]))])
    }

    @Test func restoresAreServedFromTheIndexNewestFirst() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vault = vault()
        let store = InMemoryStore()
        try store.createStudy(StudyRecord(id: "s-1", name: "s", specText: "", baseDirectory: "/", createdAt: 0))
        try store.insertTrial(TrialRecord(study: "s-1", number: 1, config: [:], createdAt: 0))
        let fetch = Transfer.fetch(job: "s-1/1", lease: 9, request: 5, FetchBody(op: FetchBody.latest))
        func header(_ t: Transfer) -> ChunkHeader? { try? JSONDecoder().decode(ChunkHeader.self, from: Data(t.body)) }
        #expect(header(vault.serve(fetch, index: store))?.none == true)
        let (blobs, first) = try worker(["a": "xyz"], seq: 2)
        var fetches = 0
        guard case .completed(_, let manifest)? = pump(vault, vault.arrived(first, payload: Self.payload(first), now: t0),
                                                       from: blobs, fetches: &fetches).first else { return }
        try store.recordCheckpoint(CheckpointRecord(study: "s-1", trial: 1, attempt: 1, lease: 7, seq: 2, files: manifest.files, createdAt: 0))
        let answer = vault.serve(fetch, index: store)
        #expect(answer.request == 5)
        #expect(header(answer)?.checkpoint?.files == manifest.files)
        let blob = vault.serve(.fetch(job: "s-1/1", lease: 9, request: 6,
                                      FetchBody(op: FetchBody.blob, sha256: manifest.files[0].sha256, offset: 1, length: 10)), index: store)
        #expect(blob.data == Array("yz".utf8))
        let unknown = vault.serve(.fetch(job: "s-1/1", lease: 9, request: 7, FetchBody(op: "nope")), index: store)
        #expect(header(unknown)?.error?.contains("unknown FETCH op") == true)
    }
}
