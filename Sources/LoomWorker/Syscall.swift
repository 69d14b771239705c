#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call, with the exact `errno` it failed with.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The call that failed, with its argument when that helps (`"open /tmp/x"`).
    public var call: String
    /// The `errno` value, exactly as the call set it.
    public var errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// The C library's text for the error code.
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "\(call): \(reason) (errno \(errno))" }
}

/// The one way the worker makes a C call: retried on `EINTR`, "would block" returned as `nil`,
/// any other failure thrown with its exact `errno`.
enum Syscall {
    @discardableResult
    static func call<T: BinaryInteger>(_ name: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T? {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return nil }
            throw SystemError(name(), errno: code)
        }
    }

    /// What a non-blocking read found.
    enum ReadResult: Equatable {
        /// This many bytes were read.
        case bytes(Int)
        /// Nothing is available now.
        case wouldBlock
        /// The write end is closed and the pipe is empty.
        case endOfFile
    }

    static func readChunk(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> ReadResult {
        guard let n = try call("read fd \(fd)", { read(fd, buffer.baseAddress, buffer.count) }) else {
            return .wouldBlock
        }
        return n == 0 ? .endOfFile : .bytes(n)
    }

    /// Writes all of `bytes` to a blocking descriptor (a log file).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            guard let n = try call("write fd \(fd)", { write(fd, rest.baseAddress, rest.count) }) else {
                throw SystemError("write fd \(fd)", errno: EAGAIN)
            }
            offset += n
        }
    }

    /// Closes a descriptor; a failed close has nothing useful left to do, so it is not reported.
    static func closeQuietly(_ fd: Int32) {
        // EINTR on close must not be retried on Linux: the descriptor is already released.
        _ = close(fd)
    }
}
