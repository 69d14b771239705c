import LoomSecurity
import Testing
import ZeroMQ

@Suite("ZAP decisions")
struct ZAPAuthenticatorTests {
    static let workerKey = [UInt8](repeating: 0x11, count: 32)
    static let clientKey = [UInt8](repeating: 0x22, count: 32)
    static let subscriberKey = [UInt8](repeating: 0x33, count: 32)
    static let strangerKey = [UInt8](repeating: 0x44, count: 32)

    let authenticator = ZAPAuthenticator(allowlist: Allowlist(peers: [
        .init(role: .worker, name: "gpu-01", publicKey: workerKey),
        .init(role: .client, name: "alice", publicKey: clientKey),
        .init(role: .subscriber, name: "grafana", publicKey: subscriberKey),
    ]))

    /// An RFC 27 request as libzmq sends it (after the REP envelope).
    static func request(
        domain: String = ZAPAuthenticator.routerDomain, mechanism: String = "CURVE", credentials: [[UInt8]],
        version: String = "1.0", id: [UInt8] = Array("7".utf8)
    ) -> [[UInt8]] {
        [Array(version.utf8), id, Array(domain.utf8), Array("10.0.0.7".utf8), [], Array(mechanism.utf8)] + credentials
    }

    func answer(_ request: [[UInt8]]) -> (reply: [[UInt8]], decision: ZAPAuthenticator.Decision) {
        authenticator.reply(to: request, domainRoles: ZAPAuthenticator.brokerDomainRoles)
    }

    static func text(_ frame: [UInt8]) -> String { String(decoding: frame, as: UTF8.self) }

    @Test func aKnownWorkerOnTheRouterIsAcceptedAsRoleSlashName() {
        let (reply, decision) = answer(Self.request(credentials: [Self.workerKey]))
        #expect(reply == [Array("1.0".utf8), Array("7".utf8), Array("200".utf8), Array("OK".utf8), Array("worker/gpu-01".utf8), []])
        #expect(decision.isAccepted)
        #expect(decision.userID == "worker/gpu-01")
        #expect(decision.role == .worker)
        #expect(decision.name == "gpu-01")
        #expect(decision.clientKey == ZMQCurveKeyPair.z85Encode(Self.workerKey))
        #expect(decision.address == "10.0.0.7")
        #expect(decision.domain == "hyperloom.router")
        #expect(decision.metadata["peer.role"] == "worker")
        #expect(decision.metadata["zap.status"] == "200")
        #expect(decision.description.hasPrefix("accepted worker/gpu-01 on hyperloom.router from 10.0.0.7"))
    }

    @Test func clientsMayUseBothTheRouterAndTheFeed() {
        for domain in [ZAPAuthenticator.routerDomain, ZAPAuthenticator.feedDomain] {
            let (reply, decision) = answer(Self.request(domain: domain, credentials: [Self.clientKey]))
            #expect(decision.isAccepted)
            #expect(Self.text(reply[4]) == "client/alice")
        }
    }

    @Test func anUnknownKeyIsRefused() {
        let (reply, decision) = answer(Self.request(credentials: [Self.strangerKey]))
        #expect(Self.text(reply[2]) == "400")
        #expect(Self.text(reply[3]) == "unknown key")
        #expect(reply[4].isEmpty)
        #expect(reply[1] == Array("7".utf8))
        #expect(decision.status == .refused)
        #expect(decision.userID == nil)
        #expect(decision.role == nil)
        #expect(decision.clientKey == ZMQCurveKeyPair.z85Encode(Self.strangerKey))
    }

    @Test func aWorkerMayNotReadTheFeed() {
        let (reply, decision) = answer(Self.request(domain: ZAPAuthenticator.feedDomain, credentials: [Self.workerKey]))
        #expect(Self.text(reply[2]) == "400")
        #expect(Self.text(reply[3]) == "role worker may not connect to hyperloom.feed")
        #expect(reply[4].isEmpty)
        #expect(decision.role == .worker)
        #expect(decision.name == "gpu-01")
        #expect(decision.userID == nil)
        #expect(decision.description.contains("refused worker/gpu-01"))
    }

    @Test func aSubscriberMayNotUseTheRouter() {
        let (_, decision) = answer(Self.request(credentials: [Self.subscriberKey]))
        #expect(decision.status == .refused)
        #expect(decision.reason == "role subscriber may not connect to hyperloom.router")
    }

    @Test(arguments: ["", "other.domain"])
    func aDomainWithoutRolesAdmitsNoOne(domain: String) {
        let (reply, decision) = answer(Self.request(domain: domain, credentials: [Self.workerKey]))
        #expect(Self.text(reply[2]) == "400")
        #expect(decision.reason.contains("is not served"))
    }

    @Test(arguments: ["NULL", "PLAIN"])
    func otherMechanismsAreRefused(mechanism: String) {
        let (reply, decision) = answer(Self.request(mechanism: mechanism, credentials: []))
        #expect(Self.text(reply[2]) == "400")
        #expect(decision.reason == "mechanism \(mechanism) is not accepted: CURVE only")
        #expect(decision.mechanism == mechanism)
    }

    @Test func aShortRequestIsMalformedAndStillAnsweredInFull() {
        let (reply, decision) = answer([Array("1.0".utf8), Array("9".utf8), Array("hyperloom.router".utf8)])
        #expect(reply.count == 6)
        #expect(reply[0] == Array("1.0".utf8))
        #expect(reply[1] == Array("9".utf8))
        #expect(Self.text(reply[2]) == "500")
        #expect(decision.status == .malformed)
        #expect(decision.reason.contains("3 frames"))
    }

    @Test func anEmptyRequestIsAnsweredWithAnEmptyRequestID() {
        let (reply, decision) = answer([])
        #expect(reply.count == 6)
        #expect(reply[1].isEmpty)
        #expect(decision.status == .malformed)
    }

    @Test func anotherVersionIsMalformed() {
        let (reply, decision) = answer(Self.request(credentials: [Self.workerKey], version: "2.0"))
        #expect(Self.text(reply[2]) == "500")
        #expect(decision.reason == "ZAP version 2.0 is not 1.0")
    }

    @Test(arguments: [[[UInt8]](), [[UInt8](repeating: 0x11, count: 31)], [workerKey, workerKey]])
    func curveCredentialsMustBeOne32ByteKey(credentials: [[UInt8]]) {
        let (reply, decision) = answer(Self.request(credentials: credentials))
        #expect(Self.text(reply[2]) == "500")
        #expect(decision.reason == "CURVE credentials must be one 32-byte public key")
        #expect(decision.userID == nil)
    }

    @Test func customDomainRolesAreHonoured() {
        let (_, decision) = authenticator.reply(
            to: Self.request(domain: "lab", credentials: [Self.subscriberKey]), domainRoles: ["lab": [.subscriber]])
        #expect(decision.userID == "subscriber/grafana")
    }
}
