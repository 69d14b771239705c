import CZeroMQ

/// A CURVE key pair in Z85 text (40 characters per key), as libzmq's CURVE options take it.
///
/// **Secrecy.** `secretKey` is a secret: keep it out of logs, descriptions and error details
/// (nothing in this module prints it).
public struct ZMQCurveKeyPair: Sendable, Equatable {
    /// The public key, Z85 (40 characters).
    public let publicKey: String
    /// The secret key, Z85 (40 characters).
    public let secretKey: String

    /// A pair of already-encoded keys.
    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh random key pair (`zmq_curve_keypair`); `ENOTSUP` when libzmq lacks CURVE.
    public static func generate() throws(ZMQError) -> ZMQCurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: z85KeyLength + 1)
        var secretKey = [CChar](repeating: 0, count: z85KeyLength + 1)
        try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&publicKey, &secretKey) }
        return ZMQCurveKeyPair(publicKey: decodeZ85(publicKey), secretKey: decodeZ85(secretKey))
    }

    /// The public key that belongs to `secretKey` (`zmq_curve_public`); `EINVAL` when it is not
    /// 40 valid Z85 characters.
    public static func publicKey(fromSecret secretKey: String) throws(ZMQError) -> String {
        guard secretKey.utf8.count == z85KeyLength else {
            throw ZMQError(code: EINVAL, function: "zmq_curve_public",
                           detail: "secret key has \(secretKey.utf8.count) characters, needs \(z85KeyLength)")
        }
        var publicKey = [CChar](repeating: 0, count: z85KeyLength + 1)
        try zmqCall("zmq_curve_public", detail: "secret key") { zmq_curve_public(&publicKey, secretKey) }
        return decodeZ85(publicKey)
    }

    /// Characters in a Z85-encoded 32-byte CURVE key.
    static let z85KeyLength = 40

    private static func decodeZ85(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
