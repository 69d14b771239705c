import DequeModule
import LoomWire

/// ZeroMQ over TCP between the broker's ROUTER and every DEALER, as the simulation models it.
///
/// **Sockets and sessions.** A DEALER socket (`.connect` of a worker or client machine) lives
/// until its process closes it or dies. Each TCP connection it makes to a broker is a *session*
/// with a fresh ROUTER identity. While it has no session the DEALER queues what it sends, up to
/// `highWaterMark` messages (more are dropped, as `send(dontWait:)` would refuse them), and
/// delivers the queue when a session is established: at once while the broker is up and the link
/// is not partitioned, otherwise when it comes back.
/// **Order and loss.** Each session carries two FIFO channels; a message arrives after a drawn
/// latency but never before the one sent before it. A session dies with either end (a crash, a
/// closed socket): what was in flight on it is lost, and the ROUTER no longer knows its
/// identity, so a send to it fails (ROUTER_MANDATORY's EHOSTUNREACH).
/// **Partitions** hold the traffic of a link (TCP retransmits) and release it, in order, when
/// they heal. A frozen receiver's messages wait the same way.
struct SimulatedNetwork {
    struct Socket {
        var owner: ProcessID
        var open = true
        var session: Int?
        /// Sent while no session was up.
        var pending: Deque<[Frame]> = []
        /// A connection attempt is scheduled.
        var connecting = false
    }

    struct Session {
        var socket: Int
        var peer: ProcessID
        var identity: Frame
        var alive = true
        var up: Deque<(arrival: SimTime, frames: [Frame])> = []
        var down: Deque<(arrival: SimTime, frames: [Frame])> = []
        var lastUp: SimTime = 0
        var lastDown: SimTime = 0
    }

    /// The DEALER send high-water mark of the simulated sockets.
    static let highWaterMark = 1000

    var random = SimulationRandom(seed: 0)
    var sockets: [Int: Socket] = [:]
    var sessions: [Int: Session] = [:]
    /// ROUTER identity → live session.
    var identities: [Frame: Int] = [:]
    /// Each process's current socket.
    var current: [ProcessID: Int] = [:]
    var nextSocket = 1
    var nextSession = 1
    /// Open partitions per process (its link to the broker).
    var partitioned: [ProcessID: Int] = [:]
    /// Open slow-network faults.
    var slow = 0
    /// Messages lost in flight and dropped at the high-water mark.
    var lost = 0
    var dropped = 0

    /// A one-way latency: 50 µs–2 ms, 20–200 ms more while the network is slow.
    mutating func latency() -> SimTime {
        var t = SimTime(random.int(50...2000)) * 1000
        if slow > 0 { t += SimTime(random.int(20...200)) * 1_000_000 }
        return t
    }

    func isPartitioned(_ p: ProcessID) -> Bool { (partitioned[p] ?? 0) > 0 }
}

extension Simulation {
    /// `.connect`: closes the process's socket and opens a new one that connects.
    func openSocket(for process: ProcessID) {
        closeSocket(of: process)
        let id = network.nextSocket
        network.nextSocket += 1
        network.sockets[id] = SimulatedNetwork.Socket(owner: process)
        network.current[process] = id
        tryConnect(socket: id)
    }

    func closeSocket(of process: ProcessID) {
        guard let id = network.current.removeValue(forKey: process) else { return }
        network.sockets[id]?.open = false
        if let session = network.sockets[id]?.session { killSession(session) }
        network.sockets[id] = nil
    }

    /// Starts a TCP connection when the broker is up and the link open; otherwise the socket
    /// waits for `retryConnects()`.
    func tryConnect(socket id: Int) {
        guard let socket = network.sockets[id], socket.open, socket.session == nil, !socket.connecting,
              alive.contains(.broker), !network.isPartitioned(socket.owner) else { return }
        network.sockets[id]!.connecting = true
        schedule(.connected(socket: id), at: now + network.latency() * 2)
    }

    /// ZeroMQ reconnects on its own (every 100 ms): modelled as an attempt whenever the broker
    /// starts or a partition heals.
    func retryConnects() {
        for id in network.sockets.keys.sorted() { tryConnect(socket: id) }
    }

    func established(socket id: Int) {
        guard var socket = network.sockets[id] else { return }
        socket.connecting = false
        network.sockets[id] = socket
        guard socket.open, socket.session == nil, alive.contains(.broker), !network.isPartitioned(socket.owner) else { return }
        let sid = network.nextSession
        network.nextSession += 1
        let identity = Array("s\(sid)".utf8)
        network.sessions[sid] = SimulatedNetwork.Session(socket: id, peer: socket.owner, identity: identity)
        network.identities[identity] = sid
        network.sockets[id]!.session = sid
        let queued = socket.pending
        network.sockets[id]!.pending = []
        for frames in queued { push(session: sid, up: true, frames) }
    }

    func killSession(_ sid: Int) {
        guard let session = network.sessions.removeValue(forKey: sid) else { return }
        network.lost += session.up.count + session.down.count
        network.identities[session.identity] = nil
        if network.sockets[session.socket]?.session == sid {
            network.sockets[session.socket]!.session = nil
            tryConnect(socket: session.socket)
        }
    }

    /// The broker died: every TCP connection to it breaks; DEALERs wait to reconnect.
    func dropAllSessions() {
        for sid in network.sessions.keys.sorted() { killSession(sid) }
    }

    /// A DEALER sends.
    func send(from process: ProcessID, _ frames: [Frame]) {
        guard let id = network.current[process], let socket = network.sockets[id] else { return }
        if let sid = socket.session {
            push(session: sid, up: true, frames)
        } else if socket.pending.count < SimulatedNetwork.highWaterMark {
            network.sockets[id]!.pending.append(frames)
        } else {
            network.dropped += 1
        }
    }

    /// The ROUTER sends to `identity`; false when no connection has it (EHOSTUNREACH).
    func routerSend(to identity: Frame, _ frames: [Frame]) -> Bool {
        guard let sid = network.identities[identity] else { return false }
        push(session: sid, up: false, frames)
        return true
    }

    func push(session sid: Int, up: Bool, _ frames: [Frame]) {
        guard var session = network.sessions[sid] else { return }
        let arrival = max(now + network.latency(), up ? session.lastUp : session.lastDown)
        let wasEmpty: Bool
        if up {
            wasEmpty = session.up.isEmpty
            session.up.append((arrival, frames))
            session.lastUp = arrival
        } else {
            wasEmpty = session.down.isEmpty
            session.down.append((arrival, frames))
            session.lastDown = arrival
        }
        network.sessions[sid] = session
        if wasEmpty { schedule(.pump(session: sid, up: up), at: arrival) }
    }

    /// Delivers what has arrived on a channel, in order, unless the link is partitioned or the
    /// receiver frozen (then `pumpChannels` resumes it).
    func pump(session sid: Int, up: Bool) {
        while let session = network.sessions[sid], let head = up ? session.up.first : session.down.first {
            if head.arrival > now {
                schedule(.pump(session: sid, up: up), at: head.arrival)
                return
            }
            let receiver: ProcessID = up ? .broker : session.peer
            guard !network.isPartitioned(session.peer), !frozen.contains(receiver) else { return }
            if up { network.sessions[sid]!.up.removeFirst() } else { network.sessions[sid]!.down.removeFirst() }
            if up {
                deliverToBroker(from: session.identity, peer: session.peer, head.frames)
            } else {
                deliver(to: session.peer, head.frames)
            }
        }
    }

    /// Resumes the channels of `process`'s sessions (a partition healed).
    func pumpChannels(of process: ProcessID) {
        for (sid, session) in network.sessions.sorted(by: { $0.key < $1.key }) where session.peer == process {
            schedule(.pump(session: sid, up: true), at: now)
            schedule(.pump(session: sid, up: false), at: now)
        }
    }

    /// Resumes the channels whose receiver is `process` (it thawed).
    func pumpChannels(towards process: ProcessID) {
        for (sid, session) in network.sessions.sorted(by: { $0.key < $1.key }) {
            if process == .broker { schedule(.pump(session: sid, up: true), at: now) }
            if session.peer == process { schedule(.pump(session: sid, up: false), at: now) }
        }
    }

    /// A message reached a DEALER's process.
    func deliver(to process: ProcessID, _ frames: [Frame]) {
        guard alive.contains(process) else { return }
        switch process {
        case .broker: return
        case .optimizer:
            note("optimizer ← \(TraceText.toClient(frames))")
            guard optimizer != nil else { return }
            performClient(optimizer!.received(frames, now: instant))
            arm(.optimizer)
        case .worker(let i):
            note("\(process) ← \(TraceText.toWorker(frames))")
            receivedByWorker(i, frames)
        }
    }
}
