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
        let handle = try openHandle("zmq_msg_recv")
        var message = zmq_msg_t()
        zmq_msg_init(&message)  // Always succeeds for an empty message.
        defer { zmq_msg_close(&message) }  // Fails only for an invalid message.
        var frames: [[UInt8]] = []
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
            let size = zmq_msg_size(&message)
            frames.append(size == 0 ? [] : Array(UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: size)))
        } while zmq_msg_more(&message) != 0
        return frames
    }
}
