import Crypto
import Foundation
import LoomWire

/// Leases as capabilities: every ASSIGN carries a MAC over (job, attempt, lease, holder) under
/// the broker's secret, where the holder is the worker's key (`ROLE/NAME`) when peers are
/// authenticated and its worker id otherwise. A worker lists the MAC of each attempt it holds in
/// READY; an attempt this broker does not know (it restarted, with the same secret) is adopted
/// only when its MAC verifies, so a worker key cannot claim queued or unsubmitted jobs as running
/// and then report results for them.
extension BrokerStateMachine {
    /// The key a lease given to `workerID` is bound to.
    func holder(ofWorker workerID: String) -> String {
        workers[workerID]?.userID ?? "worker-id:" + workerID
    }

    /// The capability of `ref` given to `workerID`.
    func leaseToken(_ ref: AttemptRef, worker workerID: String) -> Frame {
        Self.leaseToken(ref, holder: holder(ofWorker: workerID), key: config.leaseKey)
    }

    /// The capability of `ref` for `holder` under `key` (tests and the fuzz seeds make real ones with it).
    public static func leaseToken(_ ref: AttemptRef, holder: String, key: [UInt8]) -> Frame {
        let message = LeaseToken.message(job: ref.job, attempt: ref.attempt, lease: ref.lease, holder: holder)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// Whether `attempt`'s token is the MAC this broker's secret gives for it and `workerID`'s key
    /// (compared in constant time).
    func verifies(_ attempt: RunningAttempt, worker workerID: String) -> Bool {
        guard let hex = attempt.token, let token = LeaseToken.bytes(hex: hex) else { return false }
        let message = LeaseToken.message(job: attempt.job, attempt: attempt.attempt, lease: attempt.lease,
                                         holder: holder(ofWorker: workerID))
        return HMAC<SHA256>.isValidAuthenticationCode(token, authenticating: message, using: SymmetricKey(data: config.leaseKey))
    }

    /// A held attempt whose capability does not verify: not adopted. The worker is told to stop
    /// it (CANCEL "unverified") and why (ERROR); nothing else changes.
    mutating func refuseUnverified(_ attempt: RunningAttempt, worker id: String, now: ContinuousClock.Instant,
                                   why: String? = nil) -> [BrokerAction] {
        let key = holder(ofWorker: id)
        let text = "READY: attempt \(attempt.job)#\(attempt.attempt) (lease \(attempt.lease)) was not given to \(key) by this broker"
            + (why.map { " (\($0))" } ?? "") + ": not adopted"
        refuse("lease", from: workers[id]?.identity, message: "READY", detail: text, now: now)
        return [
            send(toWorker: id, BrokerToWorker.error(text).frames, now: now),
            send(toWorker: id, BrokerToWorker.cancel(job: attempt.job, lease: attempt.lease, reason: CancelReason.unverified).frames, now: now),
        ]
    }
}

/// The broker's lease secret: 32 random bytes in a file of its data directory, created with mode
/// 0600, so leases issued before a restart still verify after it.
public enum LeaseSecret {
    /// Bytes of a secret.
    public static let size = 32

    /// Why the secret file could not be used.
    public struct Failure: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "lease secret \(path): \(reason)" }
    }

    /// A fresh random secret (for a broker without a data directory: leases then do not survive
    /// its restart, and workers' attempts are fenced and run again).
    public static func random() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Reads the secret at `path`, creating it (mode 0600) when missing. Refuses a file that
    /// group or others may read or write, or that does not hold 64 hex digits. Creation is
    /// atomic (written to a temporary file, then linked into place), so two brokers starting in
    /// one data directory at once both read the same complete secret.
    public static func load(path: String) throws(Failure) -> [UInt8] {
        if access(path, F_OK) != 0 {
            let temporary = path + ".\(getpid()).tmp"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Failure(path: path, reason: "cannot create it: \(String(cString: strerror(errno)))") }
            let text = Array((LeaseToken.hex(random()) + "\n").utf8)
            let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd)
            close(fd)
            defer { unlink(temporary) }
            guard written == text.count, synced == 0 else { throw Failure(path: path, reason: "cannot write it (errno \(errno))") }
            // link(2) never replaces: whoever links first wins, and everyone reads that file.
            guard link(temporary, path) == 0 || errno == EEXIST else {
                throw Failure(path: path, reason: "cannot create it: \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw Failure(path: path, reason: "cannot stat it: \(String(cString: strerror(errno)))") }
        guard info.st_mode & 0o077 == 0 else {
            throw Failure(path: path, reason: "permissions \(String(info.st_mode & 0o777, radix: 8)) are too open: it must be readable by its owner only (chmod 600)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let secret = LeaseToken.bytes(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(path: path, reason: "does not hold \(size * 2) hex digits")
        }
        return secret
    }
}
