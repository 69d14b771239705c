import CZeroMQ

extension ZMQSocket {
    /// Sends a multipart message: `ZMQ_SNDMORE` on every frame but the last, so peers get all
    /// frames or none. Frames may be empty.
    ///
    /// - Parameter dontWait: fail with "would block" instead of waiting for queue space
    ///   (`ZMQ_DONTWAIT`).
    /// - Returns: false when the first frame would block (`EAGAIN`: with `dontWait`, or when a
    ///   send timeout expired); nothing was queued then. True when the message was queued.
    /// - Throws: any other failure, e.g. `EHOSTUNREACH` (`isHostUnreachable`) from a ROUTER with
    ///   `ROUTER_MANDATORY` addressed to an unknown peer, or `EINVAL` for an empty message. A
    ///   later frame that would block throws `EAGAIN`; libzmq's atomic multipart queueing makes
    ///   that unreachable in practice.
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws(ZMQError) -> Bool {
        let handle = try openHandle("zmq_send")
        guard !frames.isEmpty else {
            throw ZMQError(code: EINVAL, function: "zmq_send", detail: "a message needs at least one frame")
        }
        let last = frames.count - 1
        for (index, frame) in frames.enumerated() {
            let flags = (dontWait ? ZMQ_DONTWAIT : 0) | (index < last ? ZMQ_SNDMORE : 0)
            let sent = try zmqCall("zmq_send", detail: "\(type) frame \(index + 1) of \(frames.count)") {
                zmq_send(handle, frame, frame.count, flags)
            }
            if sent == nil {
                guard index == 0 else {
                    throw ZMQError(code: EAGAIN, function: "zmq_send",
                                   detail: "\(type) frame \(index + 1) of \(frames.count) after the first was queued")
                }
                return false
            }
        }
        return true
    }

    /// Receives one whole multipart message, every frame at its full size (`zmq_msg_t`, never
    /// a truncating buffer), following `ZMQ_RCVMORE` to the last frame.
    ///
    /// - Parameter dontWait: return nil instead of waiting when nothing is queued
    ///   (`ZMQ_DONTWAIT`).
    /// - Returns: the frames, or nil when nothing was there (`EAGAIN`: with `dontWait`, or when
    ///   a receive timeout expired).
    /// - Throws: any other failure, e.g. `ETERM` (`isTerminated`) when the context shuts down.
    public func receive(dontWait: Bool = false) throws(ZMQError) -> [[UInt8]]? {
        try receiveFrames(dontWait: dontWait, readUserID: false)?.frames
    }

    /// Receives one whole multipart message like `receive(dontWait:)`, together with the
    /// metadata the connection's security handshake attached to it: the `User-Id` a ZAP
    /// handler returned for the peer (`zmq_msg_gets(msg, "User-Id")` on the first frame that
    /// carries metadata; a ROUTER's routing-id frame is made locally and carries none).
    ///
    /// - Returns: the message, or nil when nothing was there (as `receive(dontWait:)`).
    /// - Throws: as `receive(dontWait:)`.
    public func receiveMessage(dontWait: Bool = false) throws(ZMQError) -> ZMQReceived? {
        try receiveFrames(dontWait: dontWait, readUserID: true)
    }

    /// The one receive loop behind `receive` and `receiveMessage`.
    private func receiveFrames(dontWait: Bool, readUserID: Bool) throws(ZMQError) -> ZMQReceived? {
        let handle = try openHandle("zmq_msg_recv")
        var message = zmq_msg_t()
        zmq_msg_init(&message)  // Always succeeds for an empty message.
        defer { zmq_msg_close(&message) }  // Fails only for an invalid message.
        var frames: [[UInt8]] = []
        var userID: String?
        repeat {
            // The frames of a message arrive together, so only the first one may have to wait.
            let flags = dontWait || !frames.isEmpty ? ZMQ_DONTWAIT : 0
            let received = try zmqCall("zmq_msg_recv", detail: "\(type) frame \(frames.count + 1)") {
                zmq_msg_recv(&message, handle, flags)
            }
            guard received != nil else {
                guard frames.isEmpty else {
                    throw ZMQError(code: EAGAIN, function: "zmq_msg_recv",
                                   detail: "\(type) frame \(frames.count + 1) missing from a multipart message")
                }
                return nil
            }
            // Metadata lives on the zmq_msg_t, which the next zmq_msg_recv reuses: read it now.
            // A ROUTER makes the routing-id frame itself, without metadata (libzmq 4.3), so the
            // user id comes from the first frame that has one: the first the peer sent.
            if readUserID && userID == nil {
                userID = Self.property("User-Id", of: &message)
            }
            let size = zmq_msg_size(&message)
            frames.append(size == 0 ? [] : Array(UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: size)))
        } while zmq_msg_more(&message) != 0
        return ZMQReceived(frames: frames, userID: userID)
    }

    /// A metadata property of a received message (`zmq_msg_gets`); nil when the message has no
    /// such property (`EINVAL`: no metadata at all, or not this key) or it is empty.
    private static func property(_ name: String, of message: inout zmq_msg_t) -> String? {
        guard let value = zmq_msg_gets(&message, name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}

/// A received multipart message with the metadata of the connection it came from.
public struct ZMQReceived: Sendable, Equatable {
    /// The frames, in order; a ROUTER's first frame is the sender's routing id.
    public var frames: [[UInt8]]
    /// The user id the ZAP handler returned when it accepted the sender's connection
    /// (metadata property `User-Id`); nil when there was no ZAP exchange or the user id was
    /// empty.
    public var userID: String?

    /// A message and its user id.
    public init(frames: [[UInt8]], userID: String? = nil) {
        self.frames = frames
        self.userID = userID
    }
}
