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

    /// `bytes` in Z85 text (`zmq_z85_encode`): 5 characters per 4 bytes, so a 32-byte key
    /// becomes 40 characters. Nil when the count is not a multiple of 4 (Z85 has no padding).
    public static func z85Encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        guard zmq_z85_encode(&text, bytes, bytes.count) != nil else { return nil }
        return decodeZ85(text)
    }

    /// The bytes of Z85 `text` (`zmq_z85_decode`): 4 bytes per 5 characters, so a 40-character
    /// key becomes 32 bytes. Nil when the length is not a multiple of 5 or a character (or a
    /// 5-character group's value) is outside Z85.
    public static func z85Decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        // A NUL would end the C string early and be read as a shorter, valid text.
        guard characters.count % 5 == 0, !characters.contains(0) else { return nil }
        guard !characters.isEmpty else { return [] }
        var bytes = [UInt8](repeating: 0, count: characters.count / 5 * 4)
        let decoded = text.withCString { zmq_z85_decode(&bytes, $0) }
        return decoded == nil ? nil : bytes
    }

    /// Characters in a Z85-encoded 32-byte CURVE key.
    public static let z85KeyLength = 40
    /// Bytes in a CURVE key.
    public static let keyByteCount = 32

    private static func decodeZ85(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
