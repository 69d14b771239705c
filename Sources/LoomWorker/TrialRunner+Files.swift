import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TrialRunner {
    /// `mkdir -p`: creates every missing directory of `path`.
    static func makeDirectories(_ path: String) throws(SystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            do {
                try Syscall.call("mkdir \(current)") { mkdir(current, 0o755) }
            } catch where error.errno == EEXIST {
                continue
            }
        }
    }

    /// Opens an attempt log for appending (created if missing; closed on exec).
    static func openLog(_ path: String) throws(SystemError) -> Int32 {
        // `open` never reports "would block" for a regular file.
        try Syscall.call("open \(path)") { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) } ?? -1
    }

    /// Whether the directory has any entry (the checkpoint directory: `HYPERLOOM_RESUME`).
    static func hasEntries(_ path: String) -> Bool {
        guard let dir = opendir(path) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { return true }
        }
        return false
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// util-linux's `setpriv`, which sets the parent-death signal and execs the trial (Linux).
    static let deathSignalHelper: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first(where: isExecutable)

    static func isExecutable(_ path: String) -> Bool {
        access(path, X_OK) == 0 && !isDirectory(path)
    }
}
