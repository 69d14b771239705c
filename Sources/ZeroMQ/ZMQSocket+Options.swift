import CZeroMQ

/// Typed socket options. Each setter names the libzmq option and the unit libzmq stores;
/// durations are converted by rounding up to that unit (see `Duration.roundedUpCount`), and a
/// negative or too-large duration throws `EINVAL` without calling libzmq. Options that affect
/// connections (high-water marks, CURVE, routing id, ...) must be set before `bind`/`connect`.
extension ZMQSocket {
    /// How long `close()` lets unsent messages wait for delivery (`ZMQ_LINGER`, milliseconds);
    /// nil waits forever (libzmq's default), `.zero` drops them at once.
    public func setLinger(_ linger: Duration?) throws(ZMQError) {
        try setIntOption(ZMQ_LINGER, "ZMQ_LINGER", try timeoutValue(linger, "ZMQ_LINGER"))
    }

    /// The linger (`ZMQ_LINGER`); nil when it is infinite.
    public func linger() throws(ZMQError) -> Duration? {
        Self.timeout(fromMilliseconds: try intOption(ZMQ_LINGER, "ZMQ_LINGER", as: Int32.self))
    }

    /// Makes a ROUTER fail sends to unknown peers with `EHOSTUNREACH` instead of dropping them
    /// silently, and report a full peer queue as "would block" (`ZMQ_ROUTER_MANDATORY`).
    public func setRouterMandatory(_ on: Bool) throws(ZMQError) {
        try setIntOption(ZMQ_ROUTER_MANDATORY, "ZMQ_ROUTER_MANDATORY", Int32(on ? 1 : 0))
    }

    /// Lets a ROUTER hand a routing id over to a new connection that claims it, instead of
    /// ignoring the newcomer (`ZMQ_ROUTER_HANDOVER`).
    public func setRouterHandover(_ on: Bool) throws(ZMQError) {
        try setIntOption(ZMQ_ROUTER_HANDOVER, "ZMQ_ROUTER_HANDOVER", Int32(on ? 1 : 0))
    }

    /// Makes a ROUTER/DEALER send an empty message on each new connection so the peer ROUTER
    /// learns its routing id at once (`ZMQ_PROBE_ROUTER`).
    public func setProbeRouter(_ on: Bool) throws(ZMQError) {
        try setIntOption(ZMQ_PROBE_ROUTER, "ZMQ_PROBE_ROUTER", Int32(on ? 1 : 0))
    }

    /// Messages queued per peer for sending before sends block or drop (`ZMQ_SNDHWM`); 0 means
    /// no limit.
    public func setSendHighWaterMark(_ messages: Int) throws(ZMQError) {
        try setIntOption(ZMQ_SNDHWM, "ZMQ_SNDHWM", try int32(messages, "ZMQ_SNDHWM"))
    }

    /// The send high-water mark (`ZMQ_SNDHWM`).
    public func sendHighWaterMark() throws(ZMQError) -> Int {
        Int(try intOption(ZMQ_SNDHWM, "ZMQ_SNDHWM", as: Int32.self))
    }

    /// Messages queued per peer for receiving before libzmq stops reading (`ZMQ_RCVHWM`); 0
    /// means no limit.
    public func setReceiveHighWaterMark(_ messages: Int) throws(ZMQError) {
        try setIntOption(ZMQ_RCVHWM, "ZMQ_RCVHWM", try int32(messages, "ZMQ_RCVHWM"))
    }

    /// The receive high-water mark (`ZMQ_RCVHWM`).
    public func receiveHighWaterMark() throws(ZMQError) -> Int {
        Int(try intOption(ZMQ_RCVHWM, "ZMQ_RCVHWM", as: Int32.self))
    }

    /// Queues messages only to completed connections, so sends to a peer that is not there
    /// block or fail instead of piling up (`ZMQ_IMMEDIATE`).
    public func setImmediate(_ on: Bool) throws(ZMQError) {
        try setIntOption(ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", Int32(on ? 1 : 0))
    }

    /// Whether `ZMQ_IMMEDIATE` is on.
    public func isImmediate() throws(ZMQError) -> Bool {
        try intOption(ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", as: Int32.self) != 0
    }

    /// ZMTP heartbeats (all in milliseconds): send a PING every `interval`
    /// (`ZMQ_HEARTBEAT_IVL`, `.zero` disables), ask the peer to drop us after `ttl` without
    /// traffic (`ZMQ_HEARTBEAT_TTL`; libzmq keeps it in tenths of a second, truncating, at most
    /// 6553.5 s), and drop the connection when no traffic arrives within `timeout` of a PING
    /// (`ZMQ_HEARTBEAT_TIMEOUT`).
    public func setHeartbeat(interval: Duration, ttl: Duration, timeout: Duration) throws(ZMQError) {
        try setIntOption(ZMQ_HEARTBEAT_IVL, "ZMQ_HEARTBEAT_IVL", try milliseconds(interval, "ZMQ_HEARTBEAT_IVL"))
        try setIntOption(ZMQ_HEARTBEAT_TTL, "ZMQ_HEARTBEAT_TTL", try milliseconds(ttl, "ZMQ_HEARTBEAT_TTL"))
        try setIntOption(ZMQ_HEARTBEAT_TIMEOUT, "ZMQ_HEARTBEAT_TIMEOUT", try milliseconds(timeout, "ZMQ_HEARTBEAT_TIMEOUT"))
    }

    /// The ZMTP heartbeat settings (`ZMQ_HEARTBEAT_IVL`, `_TTL`, `_TIMEOUT`).
    public func heartbeat() throws(ZMQError) -> (interval: Duration, ttl: Duration, timeout: Duration) {
        let interval = try intOption(ZMQ_HEARTBEAT_IVL, "ZMQ_HEARTBEAT_IVL", as: Int32.self)
        let ttl = try intOption(ZMQ_HEARTBEAT_TTL, "ZMQ_HEARTBEAT_TTL", as: Int32.self)
        let timeout = try intOption(ZMQ_HEARTBEAT_TIMEOUT, "ZMQ_HEARTBEAT_TIMEOUT", as: Int32.self)
        return (.milliseconds(interval), .milliseconds(ttl), .milliseconds(timeout))
    }

    /// The largest inbound message, in bytes, summed over its frames (`ZMQ_MAXMSGSIZE`); a peer
    /// that sends a larger one is disconnected and the message is never delivered. -1 (the
    /// default) means no limit.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) {
        try setIntOption(ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", bytes)
    }

    /// The inbound size limit (`ZMQ_MAXMSGSIZE`); -1 when there is none.
    public func maxMessageSize() throws(ZMQError) -> Int64 {
        try intOption(ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", as: Int64.self)
    }

    /// Reconnection back-off, in milliseconds: wait `interval` before the first reconnect
    /// attempt (`ZMQ_RECONNECT_IVL`), doubling per failure up to `max`
    /// (`ZMQ_RECONNECT_IVL_MAX`; `.zero` keeps the interval fixed).
    public func setReconnectInterval(_ interval: Duration, max: Duration) throws(ZMQError) {
        try setIntOption(ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", try milliseconds(interval, "ZMQ_RECONNECT_IVL"))
        try setIntOption(ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX", try milliseconds(max, "ZMQ_RECONNECT_IVL_MAX"))
    }

    /// The reconnection back-off (`ZMQ_RECONNECT_IVL`, `ZMQ_RECONNECT_IVL_MAX`).
    public func reconnectInterval() throws(ZMQError) -> (interval: Duration, max: Duration) {
        let interval = try intOption(ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", as: Int32.self)
        let max = try intOption(ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX", as: Int32.self)
        return (.milliseconds(interval), .milliseconds(max))
    }

    /// Turns TCP keepalive on (`ZMQ_TCP_KEEPALIVE` = 1), in whole seconds as the kernel wants:
    /// probe after `idle` without traffic (`ZMQ_TCP_KEEPALIVE_IDLE`), every `interval`
    /// (`ZMQ_TCP_KEEPALIVE_INTVL`), and drop the connection after `count` unanswered probes
    /// (`ZMQ_TCP_KEEPALIVE_CNT`).
    public func setTCPKeepalive(idle: Duration, interval: Duration, count: Int) throws(ZMQError) {
        try setIntOption(ZMQ_TCP_KEEPALIVE, "ZMQ_TCP_KEEPALIVE", Int32(1))
        try setIntOption(ZMQ_TCP_KEEPALIVE_IDLE, "ZMQ_TCP_KEEPALIVE_IDLE", try seconds(idle, "ZMQ_TCP_KEEPALIVE_IDLE"))
        try setIntOption(ZMQ_TCP_KEEPALIVE_INTVL, "ZMQ_TCP_KEEPALIVE_INTVL", try seconds(interval, "ZMQ_TCP_KEEPALIVE_INTVL"))
        try setIntOption(ZMQ_TCP_KEEPALIVE_CNT, "ZMQ_TCP_KEEPALIVE_CNT", try int32(count, "ZMQ_TCP_KEEPALIVE_CNT"))
    }

    /// The TCP keepalive settings; nil when keepalive is not on.
    public func tcpKeepalive() throws(ZMQError) -> (idle: Duration, interval: Duration, count: Int)? {
        guard try intOption(ZMQ_TCP_KEEPALIVE, "ZMQ_TCP_KEEPALIVE", as: Int32.self) == 1 else { return nil }
        let idle = try intOption(ZMQ_TCP_KEEPALIVE_IDLE, "ZMQ_TCP_KEEPALIVE_IDLE", as: Int32.self)
        let interval = try intOption(ZMQ_TCP_KEEPALIVE_INTVL, "ZMQ_TCP_KEEPALIVE_INTVL", as: Int32.self)
        let count = try intOption(ZMQ_TCP_KEEPALIVE_CNT, "ZMQ_TCP_KEEPALIVE_CNT", as: Int32.self)
        return (.seconds(idle), .seconds(interval), Int(count))
    }

    /// The routing id a ROUTER peer will see for this socket (`ZMQ_ROUTING_ID`): 1 to 255
    /// bytes, not starting with a zero byte (reserved by libzmq).
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) {
        try setBytesOption(ZMQ_ROUTING_ID, "ZMQ_ROUTING_ID", id)
    }

    /// The routing id (`ZMQ_ROUTING_ID`); empty when none was set.
    public func routingID() throws(ZMQError) -> [UInt8] {
        try bytesOption(ZMQ_ROUTING_ID, "ZMQ_ROUTING_ID", capacity: 255)
    }

    /// How long a blocking `send` waits before returning false (`ZMQ_SNDTIMEO`,
    /// milliseconds); nil waits forever (the default).
    public func setSendTimeout(_ timeout: Duration?) throws(ZMQError) {
        try setIntOption(ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO", try timeoutValue(timeout, "ZMQ_SNDTIMEO"))
    }

    /// The send timeout (`ZMQ_SNDTIMEO`); nil when sends wait forever.
    public func sendTimeout() throws(ZMQError) -> Duration? {
        Self.timeout(fromMilliseconds: try intOption(ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO", as: Int32.self))
    }

    /// How long a blocking `receive` waits before returning nil (`ZMQ_RCVTIMEO`,
    /// milliseconds); nil waits forever (the default).
    public func setReceiveTimeout(_ timeout: Duration?) throws(ZMQError) {
        try setIntOption(ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO", try timeoutValue(timeout, "ZMQ_RCVTIMEO"))
    }

    /// The receive timeout (`ZMQ_RCVTIMEO`); nil when receives wait forever.
    public func receiveTimeout() throws(ZMQError) -> Duration? {
        Self.timeout(fromMilliseconds: try intOption(ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO", as: Int32.self))
    }

    /// The ZAP authentication domain this socket's connections are checked in
    /// (`ZMQ_ZAP_DOMAIN`).
    public func setZAPDomain(_ domain: String) throws(ZMQError) {
        try setBytesOption(ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN", Array(domain.utf8))
    }

    /// The ZAP domain (`ZMQ_ZAP_DOMAIN`); empty when none was set.
    public func zapDomain() throws(ZMQError) -> String {
        try stringOption(ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN")
    }
}

// MARK: - Raw access, shared by the option files

extension ZMQSocket {
    /// Sets an integer option of exactly `T`'s size (`int` is `Int32`; `ZMQ_MAXMSGSIZE` is
    /// `Int64`).
    func setIntOption<T: FixedWidthInteger>(_ option: Int32, _ name: String, _ value: T) throws(ZMQError) {
        let handle = try openHandle("zmq_setsockopt")
        var value = value
        try zmqCall("zmq_setsockopt", detail: "\(name) = \(value)") {
            zmq_setsockopt(handle, option, &value, MemoryLayout<T>.size)
        }
    }

    /// Sets a binary option (subscriptions, routing ids, keys, domains) to exactly `bytes`.
    func setBytesOption(_ option: Int32, _ name: String, _ bytes: [UInt8]) throws(ZMQError) {
        let handle = try openHandle("zmq_setsockopt")
        try zmqCall("zmq_setsockopt", detail: "\(name), \(bytes.count) bytes") {
            zmq_setsockopt(handle, option, bytes, bytes.count)
        }
    }

    /// Reads an integer option of exactly `T`'s size.
    func intOption<T: FixedWidthInteger>(_ option: Int32, _ name: String, as: T.Type) throws(ZMQError) -> T {
        let handle = try openHandle("zmq_getsockopt")
        var value: T = 0
        var size = 0
        try zmqCall("zmq_getsockopt", detail: name) {
            size = MemoryLayout<T>.size
            return zmq_getsockopt(handle, option, &value, &size)
        }
        return value
    }

    /// Reads a binary option of at most `capacity` bytes.
    func bytesOption(_ option: Int32, _ name: String, capacity: Int) throws(ZMQError) -> [UInt8] {
        let handle = try openHandle("zmq_getsockopt")
        var buffer = [UInt8](repeating: 0, count: capacity)
        var size = 0
        try zmqCall("zmq_getsockopt", detail: name) {
            size = capacity
            return zmq_getsockopt(handle, option, &buffer, &size)
        }
        return Array(buffer.prefix(size))
    }

    /// Reads a string option; libzmq includes the terminating NUL in the size, dropped here.
    func stringOption(_ option: Int32, _ name: String) throws(ZMQError) -> String {
        let bytes = try bytesOption(option, name, capacity: 1024)
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An optional timeout as libzmq wants it: milliseconds, -1 for "forever".
    func timeoutValue(_ timeout: Duration?, _ name: String) throws(ZMQError) -> Int32 {
        guard let timeout else { return -1 }
        return try milliseconds(timeout, name)
    }

    /// A libzmq timeout option read back: -1 means forever.
    static func timeout(fromMilliseconds value: Int32) -> Duration? {
        value < 0 ? nil : .milliseconds(value)
    }

    /// `duration` in whole milliseconds (rounded up), as a C `int`.
    func milliseconds(_ duration: Duration, _ name: String) throws(ZMQError) -> Int32 {
        try count(of: duration, perSecond: 1000, unit: "ms", name)
    }

    /// `duration` in whole seconds (rounded up), as a C `int`.
    func seconds(_ duration: Duration, _ name: String) throws(ZMQError) -> Int32 {
        try count(of: duration, perSecond: 1, unit: "s", name)
    }

    private func count(of duration: Duration, perSecond: Int64, unit: String, _ name: String) throws(ZMQError) -> Int32 {
        guard let count = duration.roundedUpCount(perSecond: perSecond), count >= 0, let value = Int32(exactly: count) else {
            throw ZMQError(code: EINVAL, function: "zmq_setsockopt", detail: "\(name) = \(duration): needs 0...\(Int32.max) \(unit)")
        }
        return value
    }

    /// A count as a C `int`, or `EINVAL` when it does not fit.
    func int32(_ value: Int, _ name: String) throws(ZMQError) -> Int32 {
        guard let value = Int32(exactly: value) else {
            throw ZMQError(code: EINVAL, function: "zmq_setsockopt", detail: "\(name) = \(value): does not fit a C int")
        }
        return value
    }
}
