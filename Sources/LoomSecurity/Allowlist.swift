#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ZeroMQ

/// The public keys allowed to connect to the broker, each with the role and name it gets.
///
/// **Layout.** A keys directory `KEYS` holds the broker's secret key in `KEYS/broker.key` and one
/// subdirectory per role: `KEYS/workers/NAME.pub`, `KEYS/clients/NAME.pub`,
/// `KEYS/optimizers/NAME.pub`, `KEYS/subscribers/NAME.pub`, `KEYS/viewers/NAME.pub`. The directory a `.pub` file is in
/// decides the role; its file name (without `.pub`) is the peer's name, and the peer's ZAP user
/// id is `ROLE/NAME` (`worker/gpu-01`). A missing role directory means "no peer of that role".
/// **Problems are not fatal.** A bad `.pub` file, a secret key in a role directory, an unknown
/// subdirectory or a key listed twice is reported in `problems` and skipped, so one stray file
/// does not lock every peer out; only an unusable keys directory makes `load` throw.
/// **Duplicates.** A key found twice keeps its first place in role order (worker, client,
/// optimizer, subscriber, viewer), then name order; the later file is reported.
public struct Allowlist: Sendable, Equatable {
    /// One allowed key.
    public struct Peer: Sendable, Equatable {
        /// What the key may do.
        public let role: PeerRole
        /// The peer's name: its `.pub` file name without the suffix.
        public let name: String
        /// The 32-byte CURVE public key.
        public let publicKey: [UInt8]
        /// The file it came from; nil for a peer made in code.
        public let path: String?

        /// A peer; `publicKey` must be 32 bytes to ever match a CURVE client.
        public init(role: PeerRole, name: String, publicKey: [UInt8], path: String? = nil) {
            self.role = role
            self.name = name
            self.publicKey = publicKey
            self.path = path
        }

        /// The ZAP user id: `ROLE/NAME`.
        public var userID: String { "\(role.rawValue)/\(name)" }

        /// The public key in Z85 text, for logs.
        public var publicKeyZ85: String { ZMQCurveKeyPair.z85Encode(publicKey) ?? "<\(publicKey.count) bytes>" }
    }

    /// A file or directory that was skipped while loading.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The file or directory.
        public let path: String
        /// Why it was skipped.
        public let reason: String

        /// A problem with `path`.
        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }

        /// `PATH: reason`.
        public var description: String { "\(path): \(reason)" }
    }

    /// The broker's secret key file inside a keys directory.
    public static let brokerSecretKeyFile = "broker.key"

    /// `DIRECTORY/broker.key`: where the broker's secret key lives.
    public static func brokerSecretKeyPath(in directory: String) -> String {
        KeyFiles.join(directory, brokerSecretKeyFile)
    }

    /// The allowed keys, by their 32 bytes.
    private var peersByKey: [[UInt8]: Peer] = [:]
    /// Files and directories that were skipped, in the order they were met.
    public private(set) var problems: [Problem] = []

    /// An allowlist of `peers`; a key given twice keeps its first peer and reports the others.
    public init(peers: [Peer] = []) {
        for peer in peers { insert(peer) }
    }

    /// Reads every `KEYS/<role>s/*.pub`; see **Layout** and **Problems are not fatal**.
    ///
    /// - Throws: `KeyFileError` when `directory` is missing, not a directory or unreadable.
    public static func load(directory: String) throws -> Allowlist {
        let entries = try listDirectory(directory)
        var allowlist = Allowlist()
        for entry in entries where !entry.hasPrefix(".") && isDirectory(KeyFiles.join(directory, entry)) {
            if PeerRole(directoryName: entry) == nil {
                let expected = PeerRole.allCases.map(\.directoryName).joined(separator: ", ")
                allowlist.problems.append(Problem(path: KeyFiles.join(directory, entry),
                                                  reason: "not a role directory (expected one of \(expected)); skipped"))
            }
        }
        for role in PeerRole.allCases {
            let roleDirectory = KeyFiles.join(directory, role.directoryName)
            guard isDirectory(roleDirectory) else { continue }
            let files: [String]
            do {
                files = try listDirectory(roleDirectory)
            } catch {
                allowlist.problems.append(Problem(path: roleDirectory, reason: error.reason))
                continue
            }
            for file in files where !file.hasPrefix(".") {
                allowlist.loadFile(KeyFiles.join(roleDirectory, file), named: file, role: role)
            }
        }
        return allowlist
    }

    /// The role and name of `publicKey` (32 bytes, as a ZAP request carries it); nil when the
    /// key is not allowed.
    public func role(of publicKey: [UInt8]) -> (role: PeerRole, name: String)? {
        peersByKey[publicKey].map { ($0.role, $0.name) }
    }

    /// The peer holding `publicKey`; nil when the key is not allowed.
    public func peer(of publicKey: [UInt8]) -> Peer? {
        peersByKey[publicKey]
    }

    /// How many keys have `role`.
    public func count(of role: PeerRole) -> Int {
        peersByKey.values.count { $0.role == role }
    }

    /// The number of keys of every role (0 for a role without keys).
    public var counts: [PeerRole: Int] {
        Dictionary(uniqueKeysWithValues: PeerRole.allCases.map { ($0, count(of: $0)) })
    }

    /// Every allowed peer, by role then name.
    public var peers: [Peer] {
        peersByKey.values.sorted { ($0.role, $0.name) < ($1.role, $1.name) }
    }

    /// Total number of allowed keys.
    public var count: Int { peersByKey.count }

    /// `2 workers, 1 client, 0 optimizers, 0 subscribers, 0 viewers`: for a startup log line.
    public var summary: String {
        PeerRole.allCases.map { role in
            let count = count(of: role)
            return "\(count) \(count == 1 ? role.rawValue : role.directoryName)"
        }.joined(separator: ", ")
    }

    // MARK: - Loading

    /// Adds the key in `path` when it is a `.pub` file; reports it when it is bad or a secret.
    private mutating func loadFile(_ path: String, named file: String, role: PeerRole) {
        if file.hasSuffix(KeyFiles.secretSuffix) {
            problems.append(Problem(path: path, reason: "a secret key does not belong in the allowlist "
                + "(only \(KeyFiles.publicSuffix) files are read; move it away and keep it private)"))
            return
        }
        guard file.hasSuffix(KeyFiles.publicSuffix), Self.isRegularFile(path) else { return }
        let name = String(file.dropLast(KeyFiles.publicSuffix.count))
        do {
            let key = try KeyFiles.readPublicKey(path)
            guard let bytes = ZMQCurveKeyPair.z85Decode(key) else {
                problems.append(Problem(path: path, reason: "the key is not valid Z85"))
                return
            }
            insert(Peer(role: role, name: name, publicKey: bytes, path: path))
        } catch let error as KeyFileError {
            problems.append(Problem(path: path, reason: error.reason))
        } catch {
            problems.append(Problem(path: path, reason: "\(error)"))
        }
    }

    /// Adds `peer` unless its key is there already (then reports it).
    private mutating func insert(_ peer: Peer) {
        if let first = peersByKey[peer.publicKey] {
            let place = first.path ?? first.userID
            problems.append(Problem(path: peer.path ?? peer.userID,
                                    reason: "same key as \(place) (\(first.userID)); skipped"))
            return
        }
        peersByKey[peer.publicKey] = peer
    }

    /// The names in `directory` (`opendir`/`readdir`, without `.` and `..`), sorted, so
    /// problems and duplicates come out the same every time.
    private static func listDirectory(_ directory: String) throws(KeyFileError) -> [String] {
        guard let stream = opendir(directory) else {
            throw KeyFileError.system("opendir", code: errno, path: directory)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether `path` is a directory (following symbolic links).
    private static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    /// Whether `path` is a regular file (following symbolic links, as Kubernetes secret
    /// volumes need).
    private static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }
}
