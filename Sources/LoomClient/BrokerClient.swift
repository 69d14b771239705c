import Foundation
import LoomWire
import Logging
import ZeroMQ

/// Why a client call did not succeed.
public enum ClientError: Error, CustomStringConvertible {
    /// No answer within the time allowed; names what was awaited.
    case timeout(String)
    /// The socket layer failed.
    case transport(ZMQError)
    /// The broker answered with an ERROR.
    case broker(String)
    /// The outgoing queue is full (the broker is unreachable and too much is waiting).
    case backpressure
    /// A service answered a REQUEST with an error.
    case service(String)

    public var description: String {
        switch self {
        case .timeout(let what): "timed out waiting for \(what)"
        case .transport(let error): "transport error: \(error)"
        case .broker(let text): "broker error: \(text)"
        case .backpressure: "the outgoing queue to the broker is full"
        case .service(let message): message
        }
    }
}

/// A blocking client of the broker: submit jobs, receive their progress and results, cancel,
/// query. Used by the CLI, the optimizer and tests.
///
/// **Threading.** One thread at a time; the client owns a DEALER socket, which ZeroMQ forbids
/// sharing between threads. Nothing happens in the background: heartbeats are sent and the
/// broker's death is noticed only inside calls (`poll`, `query`, ...), so a long-lived client
/// calls `poll` at least once per heartbeat interval.
/// **Delivery.** Every `.update` event must be passed to `acknowledge(_:)` once the application
/// has recorded it; unacknowledged updates are sent again by their worker.
public final class BrokerClient {
    public let endpoint: String
    private let context: ZMQContext
    private let ownsContext: Bool
    private var socket: ZMQSocket?
    private var machine: ClientStateMachine
    private var pending: [ClientEvent] = []
    private let logger: Logger
    /// The keys of an authenticated connection; nil for a plain one.
    private let curve: CurveClientKeys?

    /// Creates a client; nothing is sent before `connect(timeout:)`.
    public init(endpoint: String, clientID: String = "client-\(UUID().uuidString.prefix(8).lowercased())",
                name: String = "client", services: [String] = [], curve: CurveClientKeys? = nil, context: ZMQContext? = nil,
                logger: Logger = Logger(label: "hyperloom.client")) throws(ZMQError) {
        self.endpoint = endpoint
        (self.context, ownsContext) = try ZMQContext.borrowing(context)
        self.logger = logger
        self.curve = curve
        machine = ClientStateMachine(config: ClientConfig(clientID: clientID, name: name, services: services), now: .now)
    }

    deinit { close() }

    /// The client id results are routed by.
    public var clientID: String { machine.config.clientID }
    /// The broker's last WELCOME (its feed endpoints among others), nil before one.
    public var welcome: WelcomeInfo? { machine.broker }
    /// Jobs whose terminal result has not been delivered.
    public var outstandingCount: Int { machine.outstandingCount }

    /// Connects and waits for the broker's WELCOME.
    @discardableResult
    public func connect(timeout: Duration = .seconds(10)) throws(ClientError) -> WelcomeInfo {
        try perform(machine.start(now: .now))
        let deadline = ContinuousClock.now + timeout
        while true {
            if let info = machine.broker, machine.isConnected { return info }
            guard ContinuousClock.now < deadline else { throw .timeout("WELCOME from \(endpoint)") }
            pending += try turn(until: deadline)
        }
    }

    /// Submits jobs (split into batches of at most `Wire.maxBatch`); returns the request ids.
    @discardableResult
    public func submit(_ jobs: [JobSubmission]) throws(ClientError) -> [UInt64] {
        let (requests, actions) = machine.submit(jobs, now: .now)
        try perform(actions)
        return requests
    }

    /// Submits jobs and waits until the broker has accepted all of them.
    public func submitAndWait(_ jobs: [JobSubmission], timeout: Duration = .seconds(10)) throws(ClientError) {
        var waiting = Set(try submit(jobs))
        let deadline = ContinuousClock.now + timeout
        while !waiting.isEmpty {
            guard ContinuousClock.now < deadline else { throw .timeout("SUBMITTED for \(waiting.count) requests") }
            for event in try turn(until: deadline) {
                if case .submitted(let request, _) = event, waiting.remove(request) != nil { continue }
                pending.append(event)
            }
        }
    }

    /// Sends a QUERY and waits for its REPLY body.
    public func query(_ body: Frame, timeout: Duration = .seconds(5)) throws(ClientError) -> Frame {
        let (request, actions) = machine.query(body, now: .now)
        try perform(actions)
        let deadline = ContinuousClock.now + timeout
        while true {
            guard ContinuousClock.now < deadline else { throw .timeout("REPLY to QUERY") }
            for event in try turn(until: deadline) {
                if case .reply(request, let reply) = event { return reply }
                pending.append(event)
            }
        }
    }

    /// Sends a REQUEST to the client providing `service` (through the broker) and waits for the
    /// REPLY body. While no provider is connected (one may be starting) the request is repeated
    /// every 200 ms until `timeout`; any other body `{"error": "…"}` is thrown as `.service`.
    public func request(service: String, body: Frame, timeout: Duration = .seconds(10)) throws(ClientError) -> Frame {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (request, actions) = machine.request(service: service, body: body, now: .now)
            try perform(actions)
            var answer: Frame?
            while answer == nil {
                guard ContinuousClock.now < deadline else { throw .timeout("REPLY from the \(service)") }
                for event in try turn(until: deadline) {
                    if case .reply(request, let reply) = event { answer = reply } else { pending.append(event) }
                }
            }
            guard let reply = answer, let object = (try? JSONValue(parsing: reply))?.object,
                  case .string(let message)? = object["error"] else { return answer ?? [] }
            guard object["unavailable"] == .bool(true), ContinuousClock.now + .milliseconds(200) < deadline else {
                throw .service(message)
            }
            Self.sleep(.milliseconds(200))
        }
    }

    /// Answers a REQUEST received as a `.request` event.
    public func respond(request: UInt64, to client: String, body: Frame) throws(ClientError) {
        try perform(machine.respond(request: request, to: client, body: body, now: .now))
    }

    /// The broker's status document (`QUERY {"what":"status"}`).
    public func status(timeout: Duration = .seconds(5)) throws(ClientError) -> JSONValue {
        let body = try query(Array(#"{"what":"status"}"#.utf8), timeout: timeout)
        guard let value = try? JSONValue(parsing: body) else {
            throw .broker("status reply is not JSON: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        return value
    }

    /// Cancels jobs and waits for the count the broker cancelled.
    public func cancel(_ ids: [String], reason: String? = nil, timeout: Duration = .seconds(5)) throws(ClientError) -> UInt32 {
        let (request, actions) = machine.cancel(ids, reason: reason, now: .now)
        try perform(actions)
        let deadline = ContinuousClock.now + timeout
        while true {
            guard ContinuousClock.now < deadline else { throw .timeout("CANCELLED") }
            for event in try turn(until: deadline) {
                if case .cancelled(request, let count) = event { return count }
                pending.append(event)
            }
        }
    }

    /// Delivers the updates of jobs this client did not submit (`ClientStateMachine.follow(_:)`);
    /// sends nothing.
    public func follow(_ ids: [String]) {
        machine.follow(ids)
    }

    /// Sends CANCEL_JOBS without waiting: the broker's answer arrives as a `.cancelled` event
    /// from `poll` (the optimizer must not block its loop on a round trip). Returns the request id.
    @discardableResult
    public func sendCancel(_ ids: [String], reason: String? = nil) throws(ClientError) -> UInt64 {
        let (request, actions) = machine.cancel(ids, reason: reason, now: .now)
        try perform(actions)
        return request
    }

    /// Waits up to `timeout` for events; returns as soon as there are some.
    public func poll(timeout: Duration) throws(ClientError) -> [ClientEvent] {
        if !pending.isEmpty {
            defer { pending.removeAll() }
            return pending
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            let events = try turn(until: deadline)
            if !events.isEmpty || ContinuousClock.now >= deadline { return events }
        }
    }

    /// Acknowledges an update after the application recorded it.
    public func acknowledge(_ update: Update) throws(ClientError) {
        try perform(machine.acknowledge(update, now: .now))
    }

    /// Sends a FETCH or CHUNK to the worker of a job (checkpoint transfers).
    public func transfer(_ transfer: Transfer) throws(ClientError) {
        try perform(machine.transfer(transfer, now: .now))
    }

    /// Says DISCONNECT and closes the socket (and the context when the client made it).
    public func close() {
        if let socket {
            _ = try? socket.send(ClientMessage.disconnect.frames, dontWait: true)
            socket.close()
            self.socket = nil
        }
        if ownsContext { context.terminate() }
    }

    // MARK: - Loop

    /// One loop turn: wait for input or the state machine's deadline (bounded by `deadline`),
    /// feed everything that arrived to the state machine, run its timers.
    private func turn(until deadline: ContinuousClock.Instant) throws(ClientError) -> [ClientEvent] {
        var events: [ClientEvent] = []
        try perform(machine.tick(now: .now))
        let now = ContinuousClock.now
        let wake = min(deadline, machine.nextDeadline)
        if let socket {
            var poller = Poller()
            poller.add(socket)
            var arrived: [[Frame]] = []
            do {
                _ = try poller.poll(timeout: wake > now ? now.duration(to: wake) : .zero)
                while let frames = try socket.receive(dontWait: true) { arrived.append(frames) }
            } catch {
                throw .transport(error)
            }
            for frames in arrived {
                let (received, actions) = machine.received(frames, now: .now)
                events += received
                try perform(actions)
            }
        } else if wake > now {
            Self.sleep(now.duration(to: wake))
        }
        try perform(machine.tick(now: .now))
        for case .error(let text) in events { logger.warning("broker error", metadata: ["error": "\(text)"]) }
        return events
    }

    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        nanosleep(&ts, nil)
    }

    private func perform(_ actions: [ClientAction]) throws(ClientError) {
        for action in actions {
            switch action {
            case .connect:
                socket?.close()
                do {
                    let s = try context.socket(.dealer)
                    try curve?.apply(to: s)
                    try s.setLinger(.zero)
                    try s.setSendHighWaterMark(100_000)
                    try s.setReceiveHighWaterMark(100_000)
                    try s.connect(endpoint)
                    socket = s
                } catch {
                    throw .transport(error)
                }
            case .send(let frames):
                guard let socket else { continue }
                let sent: Bool
                do {
                    sent = try socket.send(frames, dontWait: true)
                } catch {
                    throw .transport(error)
                }
                if !sent { throw .backpressure }
            }
        }
    }
}
