#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A key file or key directory that cannot be used, naming the path and what was wrong with it.
///
/// **Secrecy.** No case carries key material: an error about a secret key file says what is
/// wrong with the file, never what is in it.
public struct KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public enum Problem: Equatable, Sendable {
        /// The file or directory does not exist.
        case missing
        /// A key file to be written exists already; keys are never overwritten.
        case alreadyExists
        /// Not a regular file (a directory, a device, ...).
        case notARegularFile
        /// Not a directory (where a keys directory was expected).
        case notADirectory
        /// A secret key file that group or others may read or write: its permission bits.
        case tooOpen(mode: UInt32)
        /// No key line, only comments and blank lines.
        case noKey
        /// More than one non-comment line.
        case severalKeys
        /// The key line has this many characters instead of 40.
        case badLength(Int)
        /// The key line is 40 characters but not Z85 (or not a valid CURVE secret key).
        case notZ85
        /// A key name that cannot be a file name (empty, with a `/`, or starting with `.`).
        case invalidName
        /// A system call failed: its name and errno.
        case system(function: String, code: Int32)
    }

    /// The file or directory.
    public let path: String
    /// What was wrong with it.
    public let problem: Problem

    /// An error about `path`.
    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    /// `PATH: reason`.
    public var description: String { "\(path): \(reason)" }

    /// What was wrong, without the path.
    public var reason: String {
        let expected = "one line of \(keyLength) Z85 characters (a 32-byte CURVE key)"
        switch problem {
        case .missing:
            return "no such file or directory"
        case .alreadyExists:
            return "already exists; a key is never overwritten (move it away first)"
        case .notARegularFile:
            return "not a regular file"
        case .notADirectory:
            return "not a directory"
        case .tooOpen(let mode):
            let octal = String(mode & 0o777, radix: 8)
            return "permissions 0\(octal) are too open: a secret key must be readable by its owner only "
                + "(chmod 600 \(path))"
        case .noKey:
            return "no key: expected \(expected) after any # comment lines"
        case .severalKeys:
            return "more than one key line: expected \(expected)"
        case .badLength(let count):
            return "the key has \(count) characters: expected \(expected)"
        case .notZ85:
            return "the key is not valid Z85: expected \(expected)"
        case .invalidName:
            return "not a usable key name: use letters, digits, '-', '_' or '.', not starting with '.'"
        case .system(let function, let code):
            return "\(function) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }

    private var keyLength: Int { 40 }

    /// The error for a failed system call on `path`: `ENOENT` reads as `.missing`, `EEXIST` as
    /// `.alreadyExists`, `ENOTDIR` as `.notADirectory`.
    static func system(_ function: String, code: Int32, path: String) -> KeyFileError {
        switch code {
        case ENOENT: KeyFileError(path: path, problem: .missing)
        case EEXIST: KeyFileError(path: path, problem: .alreadyExists)
        case ENOTDIR: KeyFileError(path: path, problem: .notADirectory)
        default: KeyFileError(path: path, problem: .system(function: function, code: code))
        }
    }
}
