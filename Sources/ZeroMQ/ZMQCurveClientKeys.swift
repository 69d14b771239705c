/// What a CURVE client socket needs: the server's public key and its own key pair (Z85 text).
public struct CurveClientKeys: Sendable, Equatable {
    public var serverPublicKey: String
    public var publicKey: String
    public var secretKey: String

    public init(serverPublicKey: String, publicKey: String, secretKey: String) {
        self.serverPublicKey = serverPublicKey
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Makes `socket` a CURVE client of the server; call before `connect`.
    public func apply(to socket: ZMQSocket) throws(ZMQError) {
        try socket.setCurveClient(serverKey: serverPublicKey, publicKey: publicKey, secretKey: secretKey)
    }
}
