import CZeroMQ
import Testing
import ZeroMQ

@Suite("CURVE", .enabled(if: ZMQ.has("curve")), .timeLimit(.minutes(1)))
struct CurveTests {
    @Test func generatedKeyPairsAreZ85AndDistinct() throws {
        let first = try ZMQCurveKeyPair.generate()
        let second = try ZMQCurveKeyPair.generate()
        #expect(first.publicKey.utf8.count == 40)
        #expect(first.secretKey.utf8.count == 40)
        #expect(first != second)
        #expect(first.publicKey != first.secretKey)
    }

    @Test func publicKeyDerivedFromTheSecretMatchesTheGeneratedOne() throws {
        let pair = try ZMQCurveKeyPair.generate()
        #expect(try ZMQCurveKeyPair.publicKey(fromSecret: pair.secretKey) == pair.publicKey)
    }

    @Test(arguments: ["too-short", String(repeating: "~", count: 40)])
    func malformedSecretKeyThrowsEINVAL(secret: String) {
        let error = #expect(throws: ZMQError.self) { try ZMQCurveKeyPair.publicKey(fromSecret: secret) }
        #expect(error?.code == EINVAL)
        #expect(error?.function == "zmq_curve_public")
        #expect(error?.description.contains(secret) == false)
    }

    @Test func clientWithTheServerKeyExchangesMessages() throws {
        let server = try ZMQCurveKeyPair.generate()
        let client = try ZMQCurveKeyPair.generate()
        try withLoopback { zmq in
            let (router, endpoint) = try zmq.bound(.router) { try $0.setCurveServer(secretKey: server.secretKey) }
            #expect(try router.isCurveServer())
            let dealer = try zmq.connected(.dealer, to: endpoint) {
                try $0.setCurveClient(serverKey: server.publicKey, publicKey: client.publicKey, secretKey: client.secretKey)
            }
            try dealer.send([Array("sealed".utf8)])
            let request = try #require(try receive(router, within: prompt))
            #expect(request.last == Array("sealed".utf8))
            try router.send([request[0], Array("reply".utf8)])
            #expect(try receive(dealer, within: prompt) == [Array("reply".utf8)])
        }
    }

    @Test func clientWithAWrongServerKeyReceivesNothing() throws {
        let server = try ZMQCurveKeyPair.generate()
        let impostor = try ZMQCurveKeyPair.generate()
        let client = try ZMQCurveKeyPair.generate()
        try withLoopback { zmq in
            let (router, endpoint) = try zmq.bound(.router) { try $0.setCurveServer(secretKey: server.secretKey) }
            let dealer = try zmq.connected(.dealer, to: endpoint) {
                try $0.setCurveClient(serverKey: impostor.publicKey, publicKey: client.publicKey, secretKey: client.secretKey)
            }
            try dealer.send([Array("sealed".utf8)], dontWait: true)
            #expect(try receive(router, within: .milliseconds(300)) == nil)
            #expect(try receive(dealer, within: .milliseconds(50)) == nil)
        }
    }
}

@Suite("Z85")
struct Z85Tests {
    /// The test vector of the Z85 specification (ZeroMQ RFC 32).
    @Test func encodesTheSpecificationVector() {
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(ZMQCurveKeyPair.z85Encode(bytes) == "HelloWorld")
        #expect(ZMQCurveKeyPair.z85Decode("HelloWorld") == bytes)
    }

    @Test(.enabled(if: ZMQ.has("curve")))
    func aCurveKeyIs32BytesAnd40Characters() throws {
        let pair = try ZMQCurveKeyPair.generate()
        let bytes = try #require(ZMQCurveKeyPair.z85Decode(pair.publicKey))
        #expect(bytes.count == 32)
        #expect(ZMQCurveKeyPair.z85Encode(bytes) == pair.publicKey)
    }

    @Test(arguments: [[UInt8](repeating: 1, count: 3), [UInt8](repeating: 1, count: 33)])
    func encodingNeedsAMultipleOfFourBytes(bytes: [UInt8]) {
        #expect(ZMQCurveKeyPair.z85Encode(bytes) == nil)
    }

    @Test(arguments: ["Hell", "HelloWorl", "Hello Worl", "~~~~~", "%%%%%", "Hello\u{0}orld"])
    func decodingRefusesBadLengthsAndCharacters(text: String) {
        #expect(ZMQCurveKeyPair.z85Decode(text) == nil)
    }

    @Test func emptyRoundTrips() {
        #expect(ZMQCurveKeyPair.z85Encode([]) == "")
        #expect(ZMQCurveKeyPair.z85Decode("") == [])
    }
}
