import CZeroMQ

/// CURVE encryption and authentication. Set before `bind`/`connect`; keys are Z85 text
/// (40 characters, see `ZMQCurveKeyPair`). Without a ZAP handler on the context, a CURVE server
/// accepts any client that knows its public key; key details never appear in errors.
extension ZMQSocket {
    /// Makes this socket a CURVE server (`ZMQ_CURVE_SERVER` = 1) with its secret key
    /// (`ZMQ_CURVE_SECRETKEY`). Clients must be given the matching public key.
    public func setCurveServer(secretKey: String) throws(ZMQError) {
        try setIntOption(ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", Int32(1))
        try setBytesOption(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", Array(secretKey.utf8))
    }

    /// Makes this socket a CURVE client of the server whose public key is `serverKey`
    /// (`ZMQ_CURVE_SERVERKEY`), using its own key pair (`ZMQ_CURVE_PUBLICKEY`,
    /// `ZMQ_CURVE_SECRETKEY`). With a wrong server key the handshake fails and no message
    /// passes in either direction.
    public func setCurveClient(serverKey: String, publicKey: String, secretKey: String) throws(ZMQError) {
        try setBytesOption(ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", Array(serverKey.utf8))
        try setBytesOption(ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", Array(publicKey.utf8))
        try setBytesOption(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", Array(secretKey.utf8))
    }

    /// Whether this socket is a CURVE server (`ZMQ_CURVE_SERVER`).
    public func isCurveServer() throws(ZMQError) -> Bool {
        try intOption(ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", as: Int32.self) != 0
    }
}
