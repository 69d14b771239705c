import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ZeroMQ

/// CURVE key files: `NAME.key` holds a secret key, `NAME.pub` the public key that goes with it.
///
/// **Format.** Text: any number of lines starting with `#` (comments) and blank lines, and
/// exactly one line holding the key as 40 Z85 characters (surrounding whitespace ignored). The
/// files `writeKeyPair` makes have a one-line `#` header in `NAME.key` and only the key in
/// `NAME.pub`, so the public key can be pasted anywhere.
/// **Permissions.** A secret key file is created with mode 0600 by `open(O_CREAT|O_EXCL, 0600)`:
/// it is never readable by anyone else, not even between a create and a `chmod`. Reading refuses
/// a secret key file that group or others may read or write, as ssh does for private keys.
/// Public key files are 0644 (less whatever the umask takes away).
public enum KeyFiles {
    /// The file name suffix of a secret key file.
    public static let secretSuffix = ".key"
    /// The file name suffix of a public key file.
    public static let publicSuffix = ".pub"

    /// Generates a key pair and writes `DIRECTORY/NAME.key` (secret, 0600) and
    /// `DIRECTORY/NAME.pub` (public, 0644). Creates `directory` (0700, with missing parents) when it does not exist;
    /// refuses to overwrite either file.
    ///
    /// - Returns: the paths written.
    /// - Throws: `KeyFileError` naming the path (`.alreadyExists`, `.invalidName`, ...), or a
    ///   `ZMQError` when libzmq cannot make keys (built without CURVE).
    @discardableResult
    public static func writeKeyPair(name: String, directory: String) throws -> (secretPath: String, publicPath: String) {
        guard isValidName(name) else {
            throw KeyFileError(path: join(directory, name), problem: .invalidName)
        }
        try makeDirectoryIfMissing(directory)
        let pair = try ZMQCurveKeyPair.generate()
        let secretPath = join(directory, name + secretSuffix)
        let publicPath = join(directory, name + publicSuffix)
        let header = "# hyperloom CURVE secret key \"\(name)\": keep it private (mode 0600); "
            + "its public key is \(name)\(publicSuffix)\n"
        try writeNewFile(secretPath, mode: 0o600, contents: header + pair.secretKey + "\n")
        do {
            try writeNewFile(publicPath, mode: 0o644, contents: pair.publicKey + "\n")
        } catch {
            // Leave no half pair behind: a secret without its public key is of no use to anyone.
            unlink(secretPath)
            throw error
        }
        return (secretPath, publicPath)
    }

    /// Reads a secret key file and derives its public key (`zmq_curve_public`).
    ///
    /// - Throws: `KeyFileError`: `.missing`, `.tooOpen` (readable or writable by group or
    ///   others: fix with `chmod 600`), `.noKey`, `.severalKeys`, `.badLength`, `.notZ85`.
    public static func readSecretKey(_ path: String) throws -> ZMQCurveKeyPair {
        let secretKey = try readKeyLine(path, secret: true)
        guard let publicKey = try? ZMQCurveKeyPair.publicKey(fromSecret: secretKey) else {
            throw KeyFileError(path: path, problem: .notZ85)
        }
        return ZMQCurveKeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    /// Reads a public key file: the key as 40 Z85 characters.
    ///
    /// - Throws: `KeyFileError`: `.missing`, `.noKey`, `.severalKeys`, `.badLength`, `.notZ85`.
    public static func readPublicKey(_ path: String) throws -> String {
        try readKeyLine(path, secret: false)
    }

    /// Whether `name` can be a key name: 1 to 200 characters from letters, digits, `-`, `_`
    /// and `.`, not starting with `.` (no hidden files, no path components).
    public static func isValidName(_ name: String) -> Bool {
        guard (1...200).contains(name.utf8.count), !name.hasPrefix(".") else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }

    // MARK: - Reading

    /// Key files are a few lines; anything longer is not one.
    private static let maximumFileSize = 64 * 1024

    /// The one key line of the file at `path`, checked for length and Z85.
    private static func readKeyLine(_ path: String, secret: Bool) throws(KeyFileError) -> String {
        let text = try readSmallFile(path, secret: secret)
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let key = lines.first else { throw KeyFileError(path: path, problem: .noKey) }
        guard lines.count == 1 else { throw KeyFileError(path: path, problem: .severalKeys) }
        guard key.utf8.count == ZMQCurveKeyPair.z85KeyLength else {
            throw KeyFileError(path: path, problem: .badLength(key.count))
        }
        guard ZMQCurveKeyPair.z85Decode(key) != nil else { throw KeyFileError(path: path, problem: .notZ85) }
        return key
    }

    /// The contents of a regular file of at most `maximumFileSize` bytes. For a secret key,
    /// first checks that group and others have no access to it (on the opened file, so a swap
    /// between the check and the read is impossible).
    private static func readSmallFile(_ path: String, secret: Bool) throws(KeyFileError) -> String {
        let fd = try retryingEINTR("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var status = stat()
        _ = try retryingEINTR("fstat", path: path) { fstat(fd, &status) }
        guard status.st_mode & S_IFMT == S_IFREG else { throw KeyFileError(path: path, problem: .notARegularFile) }
        if secret, status.st_mode & 0o077 != 0 {
            throw KeyFileError(path: path, problem: .tooOpen(mode: UInt32(status.st_mode) & 0o777))
        }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while contents.count <= maximumFileSize {
            let count = try retryingEINTR("read", path: path) { read(fd, &buffer, buffer.count) }
            if count == 0 { break }
            contents += buffer.prefix(count)
        }
        guard contents.count <= maximumFileSize else { throw KeyFileError(path: path, problem: .severalKeys) }
        return String(decoding: contents, as: UTF8.self)
    }

    // MARK: - Writing

    /// Creates `path` (which must not exist) with `mode` and writes `contents`, synced to disk.
    private static func writeNewFile(_ path: String, mode: mode_t, contents: String) throws(KeyFileError) {
        let fd = try retryingEINTR("open", path: path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
        defer { close(fd) }
        do {
            let bytes = Array(contents.utf8)
            var written = 0
            while written < bytes.count {
                written += try retryingEINTR("write", path: path) {
                    bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
                }
            }
            _ = try retryingEINTR("fsync", path: path) { fsync(fd) }
        } catch {
            unlink(path)
            throw error
        }
    }

    /// Creates `directory` and any missing parents with mode 0700 unless it exists (`mkdir -p`).
    private static func makeDirectoryIfMissing(_ directory: String) throws(KeyFileError) {
        guard mkdir(directory, 0o700) != 0 else { return }
        var code = errno
        if code == ENOENT {
            let parent = (directory as NSString).deletingLastPathComponent
            if !parent.isEmpty && parent != directory {
                try makeDirectoryIfMissing(parent)
                guard mkdir(directory, 0o700) != 0 else { return }
                code = errno
            }
        }
        guard code == EEXIST else { throw KeyFileError.system("mkdir", code: code, path: directory) }
        var status = stat()
        guard stat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw KeyFileError(path: directory, problem: .notADirectory)
        }
    }

    /// `directory/file`, without doubling a trailing `/`.
    static func join(_ directory: String, _ file: String) -> String {
        directory.hasSuffix("/") ? directory + file : directory + "/" + file
    }
}

/// Runs a system call, retrying it on `EINTR`; throws any other failure as a `KeyFileError`
/// about `path`.
func retryingEINTR<T: BinaryInteger>(_ function: String, path: String, _ call: () -> T) throws(KeyFileError) -> T {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw KeyFileError.system(function, code: code, path: path)
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
