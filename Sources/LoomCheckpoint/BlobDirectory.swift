import Crypto
import Foundation
import LoomWire

/// Why a checkpoint operation failed; the text names the file and what was wrong.
public struct CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A directory of content-addressed blobs: each file is named by the SHA-256 of its content.
///
/// ```
/// <root>/<first two hex digits>/<sha256>    complete, verified blobs
/// <root>/partial/<name>                     blobs being received (chunks written at their offset)
/// ```
///
/// **Invariant.** A file under its hash's name holds exactly the content with that hash: blobs
/// enter only through `ingest(file:)` (hashed while copied) or `commit(partial:sha256:)` (hashed
/// before the rename), and a rename is atomic, so a crash leaves at worst a stray partial file.
/// **Threading.** It keeps no state but the files: threads may ingest, read and commit at once
/// (partials have unique names, blobs appear by atomic rename). A `remove` must not race an
/// `ingest` or snapshot that counts on the blob being there (the worker pauses its garbage
/// collection while a snapshot runs on its background thread).
public final class BlobDirectory: @unchecked Sendable {
    public let root: String
    /// Bytes read or copied per system call while streaming.
    static let bufferSize = 1 << 20

    public init(root: String) throws(CheckpointError) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        try Self.makeDirectory(self.root + "/partial")
    }

    /// Where blob `sha256` lives (whether or not it is there).
    public func path(of sha256: String) -> String { "\(root)/\(sha256.prefix(2))/\(sha256)" }

    public func contains(_ sha256: String) -> Bool {
        Self.isHash(sha256) && FileManager.default.fileExists(atPath: path(of: sha256))
    }

    /// Size of a stored blob, nil when absent.
    public func size(of sha256: String) -> Int64? {
        guard Self.isHash(sha256), let attributes = try? FileManager.default.attributesOfItem(atPath: path(of: sha256)) else { return nil }
        return (attributes[.size] as? NSNumber)?.int64Value
    }

    /// Up to `length` bytes of a blob from `offset` (fewer at its end).
    public func read(_ sha256: String, offset: Int64, length: Int) throws(CheckpointError) -> [UInt8] {
        guard Self.isHash(sha256) else { throw CheckpointError("not a SHA-256 hex digest: \"\(sha256)\"") }
        guard offset >= 0, length >= 0 else { throw CheckpointError("blob \(sha256): bad range \(offset)+\(length)") }
        guard let handle = FileHandle(forReadingAtPath: path(of: sha256)) else {
            throw CheckpointError("no blob \(sha256) in \(root)")
        }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(offset))
            return Array(try handle.read(upToCount: length) ?? Data())
        } catch {
            throw CheckpointError("blob \(sha256): \(error.localizedDescription)")
        }
    }

    /// Copies `file` in under its hash, streaming; returns the hash and size.
    public func ingest(file: String) throws(CheckpointError) -> (sha256: String, size: Int64) {
        guard let input = FileHandle(forReadingAtPath: file) else { throw CheckpointError("cannot read \(file)") }
        defer { try? input.close() }
        let partial = "\(root)/partial/ingest-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let output = FileHandle(forWritingAtPath: partial) else {
            throw CheckpointError("cannot create \(partial)")
        }
        var hasher = SHA256()
        var size: Int64 = 0
        do {
            defer { try? output.close() }
            while let data = try input.read(upToCount: Self.bufferSize), !data.isEmpty {
                hasher.update(data: data)
                try output.write(contentsOf: data)
                size += Int64(data.count)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw CheckpointError("cannot copy \(file): \(error.localizedDescription)")
        }
        let sha = Self.hex(hasher.finalize())
        try place(partial, as: sha)
        return (sha, size)
    }

    /// A new, empty partial file for a blob being received; chunks go in with `write(_:at:into:)`.
    public func beginPartial() throws(CheckpointError) -> String {
        let partial = "\(root)/partial/receive-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: partial, contents: nil) else { throw CheckpointError("cannot create \(partial)") }
        return partial
    }

    /// Writes `bytes` at `offset` of a partial file.
    public func write(_ bytes: [UInt8], at offset: Int64, into partial: String) throws(CheckpointError) {
        guard let handle = FileHandle(forWritingAtPath: partial) else { throw CheckpointError("cannot open \(partial)") }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: bytes)
        } catch {
            throw CheckpointError("cannot write \(partial): \(error.localizedDescription)")
        }
    }

    /// Verifies that a partial file hashes to `sha256` and makes it that blob.
    public func commit(partial: String, sha256: String) throws(CheckpointError) {
        let actual = try Self.hash(file: partial)
        guard actual == sha256 else {
            try? FileManager.default.removeItem(atPath: partial)
            throw CheckpointError("received blob \(sha256) hashes to \(actual): discarded")
        }
        try place(partial, as: sha256)
    }

    /// The partial file `name` (a plain file name chosen by the receiver, e.g. the optimizer's
    /// machine), for receivers that name their partials instead of calling `beginPartial()`.
    public func partial(named name: String) -> String { "\(root)/partial/\(name)" }

    /// Writes `bytes` at `offset` of the partial file `name`, creating it first if needed.
    public func write(_ bytes: [UInt8], at offset: Int64, intoPartialNamed name: String) throws(CheckpointError) {
        let path = partial(named: name)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CheckpointError("cannot create \(path)") }
        }
        try write(bytes, at: offset, into: path)
    }

    /// Removes every partial file: a receiver that restarts starts its transfers over, so what
    /// the last run left half-received is garbage.
    public func discardAllPartials() {
        let directory = "\(root)/partial"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
    }

    /// Removes a partial file (a transfer that failed).
    public func discard(partial: String) { try? FileManager.default.removeItem(atPath: partial) }

    public func remove(_ sha256: String) {
        guard Self.isHash(sha256) else { return }
        try? FileManager.default.removeItem(atPath: path(of: sha256))
    }

    /// Every stored blob's hash.
    public func allBlobs() -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        for prefix in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where prefix.count == 2 {
            out += ((try? fm.contentsOfDirectory(atPath: "\(root)/\(prefix)")) ?? []).filter(Self.isHash)
        }
        return out.sorted()
    }

    // MARK: - Helpers

    private func place(_ partial: String, as sha256: String) throws(CheckpointError) {
        let target = path(of: sha256)
        do {
            try Self.makeDirectory((target as NSString).deletingLastPathComponent)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        guard rename(partial, target) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(atPath: partial)
            throw CheckpointError("cannot rename \(partial) to \(target): errno \(code)")
        }
    }

    /// SHA-256 of a file, streaming, as lower-case hex.
    public static func hash(file: String) throws(CheckpointError) -> String {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw CheckpointError("cannot read \(file)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        do {
            while let data = try handle.read(upToCount: bufferSize), !data.isEmpty { hasher.update(data: data) }
        } catch {
            throw CheckpointError("cannot read \(file): \(error.localizedDescription)")
        }
        return hex(hasher.finalize())
    }

    /// SHA-256 of bytes as lower-case hex.
    public static func hash(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { byte in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }

    /// Whether `text` is 64 lower-case hex digits (so it is safe as a file name).
    public static func isHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    static func makeDirectory(_ path: String) throws(CheckpointError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError("cannot create directory \(path): \(error.localizedDescription)")
        }
    }
}
