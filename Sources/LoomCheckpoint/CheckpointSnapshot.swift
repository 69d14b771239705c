import Foundation
import LoomWire

/// Taking a checkpoint directory apart into blobs, and putting it back together.
///
/// A snapshot copies every regular file of the directory into a `BlobDirectory` (hashing while
/// copying), so the trial may go on writing its next checkpoint while this one is shipped.
/// Symbolic links, sockets and other special files are skipped; empty directories are not kept.
/// A file whose size, modification time and inode are those it had in the previous snapshot
/// (`Stamps`), and whose blob is still there, is not read again: an unchanged model costs a
/// `stat`, not a copy.
public enum CheckpointSnapshot {
    /// What identifies a file's version without reading it.
    public struct Stamp: Equatable, Sendable {
        public var size: Int64
        public var modified: Double
        public var inode: UInt64
    }

    /// The previous snapshot's files of one directory, by path: the stamp and the file it gave.
    public typealias Stamps = [String: (stamp: Stamp, file: CheckpointFile)]

    /// The regular files below `directory`, relative, sorted, with their sizes.
    public static func list(directory: String) throws(CheckpointError) -> [(path: String, size: Int64, executable: Bool)] {
        try entries(directory).map { ($0.path, $0.stamp.size, $0.executable) }
    }

    static func entries(_ directory: String) throws(CheckpointError) -> [(path: String, stamp: Stamp, executable: Bool)] {
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: directory) else { return [] }
        var out: [(String, Stamp, Bool)] = []
        while let relative = walker.nextObject() as? String {
            let full = directory + "/" + relative
            guard let attributes = try? fm.attributesOfItem(atPath: full),
                  attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            let stamp = Stamp(size: (attributes[.size] as? NSNumber)?.int64Value ?? 0,
                              modified: (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0,
                              inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
            out.append((relative, stamp, mode & 0o111 != 0))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// Copies `directory` into `blobs`; fails without copying anything when its files add up to
    /// more than `maxBytes`. `stamps` (the previous snapshot's) is replaced by this one's.
    public static func take(directory: String, into blobs: BlobDirectory, maxBytes: Int64,
                            stamps: inout Stamps) throws(CheckpointError) -> [CheckpointFile] {
        let entries = try entries(directory)
        let total = entries.reduce(Int64(0)) { $0 + $1.stamp.size }
        guard total <= maxBytes else {
            throw CheckpointError("the checkpoint directory \(directory) holds \(total) bytes in \(entries.count) files; "
                + "the limit is \(maxBytes) bytes (--checkpoint-max-bytes): not shipped")
        }
        var files: [CheckpointFile] = []
        var next: Stamps = [:]
        for entry in entries {
            var file: CheckpointFile
            if let previous = stamps[entry.path], previous.stamp == entry.stamp, blobs.contains(previous.file.sha256) {
                file = previous.file
            } else {
                let (sha, size) = try blobs.ingest(file: directory + "/" + entry.path)
                file = CheckpointFile(path: entry.path, sha256: sha, size: size)
            }
            file.executable = entry.executable ? true : nil
            files.append(file)
            next[entry.path] = (entry.stamp, file)
        }
        stamps = next
        return files
    }

    /// `take(directory:into:maxBytes:stamps:)` reading every file.
    public static func take(directory: String, into blobs: BlobDirectory, maxBytes: Int64) throws(CheckpointError) -> [CheckpointFile] {
        var stamps: Stamps = [:]
        return try take(directory: directory, into: blobs, maxBytes: maxBytes, stamps: &stamps)
    }

    /// Makes `directory` hold exactly `files`, from `blobs`: built beside it, then swapped in,
    /// so a crash leaves either the old content or the new one.
    public static func materialize(_ files: [CheckpointFile], from blobs: BlobDirectory, into directory: String) throws(CheckpointError) {
        let fm = FileManager.default
        let staging = directory + ".restoring"
        try? fm.removeItem(atPath: staging)
        try BlobDirectory.makeDirectory(staging)
        for file in files {
            guard isSafe(file.path) else { throw CheckpointError("unsafe path in checkpoint manifest: \"\(file.path)\"") }
            let target = staging + "/" + file.path
            try BlobDirectory.makeDirectory((target as NSString).deletingLastPathComponent)
            do {
                try fm.copyItem(atPath: blobs.path(of: file.sha256), toPath: target)
                if file.executable == true { try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target) }
            } catch {
                throw CheckpointError("cannot restore \(file.path) from blob \(file.sha256): \(error.localizedDescription)")
            }
        }
        let old = directory + ".replaced"
        try? fm.removeItem(atPath: old)
        if fm.fileExists(atPath: directory), rename(directory, old) != 0 {
            throw CheckpointError("cannot move \(directory) aside: errno \(errno)")
        }
        guard rename(staging, directory) == 0 else { throw CheckpointError("cannot move \(staging) to \(directory): errno \(errno)") }
        try? fm.removeItem(atPath: old)
    }

    /// A relative path without `..`, `.` or empty components, nor NUL (`CheckpointManifest.isSafePath`).
    public static func isSafe(_ path: String) -> Bool { CheckpointManifest.isSafePath(path) }
}
