import Testing
import ZeroMQ

/// A context plus the sockets a test made from it, all torn down by `withLoopback`.
///
/// **Threading.** One test, one thread.
/// **Ownership.** Sockets get linger 0, so `terminate()` in the teardown returns at once.
final class Loopback {
    let context: ZMQContext
    private var sockets: [ZMQSocket] = []

    init() throws {
        context = try ZMQContext()
    }

    /// A new socket with linger 0, closed at teardown.
    func socket(_ type: ZMQSocketType) throws -> ZMQSocket {
        let socket = try context.socket(type)
        try socket.setLinger(.zero)
        sockets.append(socket)
        return socket
    }

    /// A socket bound to an ephemeral loopback TCP port, and the endpoint it resolved to.
    /// `configure` runs before the bind (for options that must precede it).
    func bound(_ type: ZMQSocketType, configure: (ZMQSocket) throws -> Void = { _ in }) throws -> (ZMQSocket, String) {
        let socket = try socket(type)
        try configure(socket)
        try socket.bind("tcp://127.0.0.1:*")
        return (socket, try socket.lastEndpoint())
    }

    /// A socket connected to `endpoint`; `configure` runs before the connect.
    func connected(_ type: ZMQSocketType, to endpoint: String, configure: (ZMQSocket) throws -> Void = { _ in }) throws -> ZMQSocket {
        let socket = try socket(type)
        try configure(socket)
        try socket.connect(endpoint)
        return socket
    }

    func tearDown() {
        for socket in sockets { socket.close() }
        context.terminate()
    }
}

/// Runs `body` with a fresh `Loopback` and tears it down afterwards.
func withLoopback<T>(_ body: (Loopback) throws -> T) throws -> T {
    let loopback = try Loopback()
    defer { loopback.tearDown() }
    return try body(loopback)
}

/// The next message on `socket`, or nil when none arrives within `timeout`.
func receive(_ socket: ZMQSocket, within timeout: Duration) throws(ZMQError) -> [[UInt8]]? {
    var poller = Poller()
    poller.add(socket)
    let deadline = ContinuousClock.now + timeout
    while true {
        if let frames = try socket.receive(dontWait: true) { return frames }
        let now = ContinuousClock.now
        guard now < deadline else { return nil }
        _ = try poller.poll(timeout: now.duration(to: deadline))
    }
}

/// A generous bound for things that happen "at once" on loopback.
let prompt: Duration = .seconds(5)
