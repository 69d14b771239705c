import Foundation
import LoomCheckpoint
import LoomWire
import Testing

/// Blob directories and snapshots on real files.
@Suite("BlobDirectory and snapshots")
struct BlobDirectoryTests {
    static func temporary() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-blobs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func snapshotNamesFilesByContentAndIdenticalFilesShareABlob() throws {
        let root = try Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let blobs = try BlobDirectory(root: root + "/blobs")
        try Self.write("weights", root + "/ckpt/model.bin")
        try Self.write("weights", root + "/ckpt/sub/copy.bin")
        try Self.write("3", root + "/ckpt/step")
        let files = try CheckpointSnapshot.take(directory: root + "/ckpt", into: blobs, maxBytes: 1000)
        #expect(files.map(\.path) == ["model.bin", "step", "sub/copy.bin"])
        #expect(files[0].sha256 == BlobDirectory.hash(Array("weights".utf8)))
        #expect(files[0].sha256 == files[2].sha256)
        #expect(blobs.allBlobs().count == 2, "one blob per distinct content")
        #expect(try blobs.read(files[1].sha256, offset: 0, length: 10) == Array("3".utf8))
    }

    @Test func anUnchangedFileIsNotReadAgainAndAChangedOneIs() throws {
        let root = try Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let blobs = try BlobDirectory(root: root + "/blobs")
        try Self.write("big model", root + "/ckpt/model")
        try Self.write("1", root + "/ckpt/step")
        // A whole second, which every file system stores exactly.
        let modified = Date(timeIntervalSince1970: 1_700_000_000)
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: root + "/ckpt/model")
        var stamps: CheckpointSnapshot.Stamps = [:]
        let first = try CheckpointSnapshot.take(directory: root + "/ckpt", into: blobs, maxBytes: 100, stamps: &stamps)
        let model = first[0].sha256
        // Rewritten in place with the same size, inode and modification time: only a snapshot
        // that trusts the stamp (and does not read the file) keeps the old hash.
        let path = root + "/ckpt/model"
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: Data("BIG MODEL".utf8))
        try handle.close()
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: path)
        try Self.write("2", root + "/ckpt/step")
        let second = try CheckpointSnapshot.take(directory: root + "/ckpt", into: blobs, maxBytes: 100, stamps: &stamps)
        #expect(second[0] == first[0], "unchanged stamp: not read again")
        #expect(second[1].sha256 == BlobDirectory.hash(Array("2".utf8)), "changed (renamed over): read again")
        blobs.remove(model)
        let third = try CheckpointSnapshot.take(directory: root + "/ckpt", into: blobs, maxBytes: 100, stamps: &stamps)
        #expect(third[0].sha256 == BlobDirectory.hash(Array("BIG MODEL".utf8)), "a stamp whose blob is gone: read again")
    }

    @Test func aDirectoryOverTheLimitIsRefusedNamingItsSize() throws {
        let root = try Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let blobs = try BlobDirectory(root: root + "/blobs")
        try Self.write(String(repeating: "x", count: 100), root + "/ckpt/big")
        let error = try #require(throws: CheckpointError.self) {
            try CheckpointSnapshot.take(directory: root + "/ckpt", into: blobs, maxBytes: 99)
        }
        #expect(error.description.contains("holds 100 bytes in 1 files; the limit is 99 bytes"))
        #expect(blobs.allBlobs().isEmpty, "nothing copied")
    }

    @Test func receivedChunksAreVerifiedBeforeTheyBecomeABlob() throws {
        let root = try Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let blobs = try BlobDirectory(root: root)
        let content = Array("hello, checkpoint".utf8)
        let sha = BlobDirectory.hash(content)
        let partial = try blobs.beginPartial()
        try blobs.write(Array(content[10...]), at: 10, into: partial)
        try blobs.write(Array(content[..<10]), at: 0, into: partial)
        try blobs.commit(partial: partial, sha256: sha)
        #expect(blobs.contains(sha))
        #expect(blobs.size(of: sha) == Int64(content.count))
        let bad = try blobs.beginPartial()
        try blobs.write(Array("tampered".utf8), at: 0, into: bad)
        let other = BlobDirectory.hash(Array("something else".utf8))
        #expect(throws: CheckpointError.self) { try blobs.commit(partial: bad, sha256: other) }
        #expect(!blobs.contains(other))
    }

    @Test func materializeRebuildsTheDirectoryExactly() throws {
        let root = try Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let blobs = try BlobDirectory(root: root + "/blobs")
        try Self.write("a", root + "/src/a")
        try Self.write("b", root + "/src/d/b")
        let files = try CheckpointSnapshot.take(directory: root + "/src", into: blobs, maxBytes: 100)
        try Self.write("stale", root + "/dst/old")
        try CheckpointSnapshot.materialize(files, from: blobs, into: root + "/dst")
        #expect(try CheckpointSnapshot.list(directory: root + "/dst").map(\.path) == ["a", "d/b"])
        #expect(try String(contentsOfFile: root + "/dst/d/b", encoding: .utf8) == "b")
        let unsafe = [CheckpointFile(path: "../escape", sha256: files[0].sha256, size: 1)]
        #expect(throws: CheckpointError.self) { try CheckpointSnapshot.materialize(unsafe, from: blobs, into: root + "/dst") }
    }
}
