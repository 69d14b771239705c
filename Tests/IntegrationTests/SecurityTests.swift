import Foundation
import LoomClient
import LoomWire
import Testing
import ZeroMQ

/// An authenticated fabric through real processes: keys, roles, revocation, encryption.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct Security {
    /// A keys directory with a broker key and allowlisted keys; `stray` holds unknown keys.
    struct Keys {
        let root: URL
        var dir: String { root.appendingPathComponent("keys").path }
        var brokerPub: String { root.appendingPathComponent("keys/broker.pub").path }
        func secret(_ name: String) -> String { root.appendingPathComponent("secret/\(name).key").path }

        init(_ name: String, allowed: [(role: String, name: String)], stray: [String] = []) throws {
            root = Harness.scratch.appendingPathComponent("sec-\(name)")
            try? FileManager.default.removeItem(at: root)
            try Self.keygen("broker", into: root.appendingPathComponent("keys").path)
            for (role, peer) in allowed {
                try Self.keygen(peer, into: root.appendingPathComponent("secret").path)
                let roleDir = root.appendingPathComponent("keys/\(role)s")
                try FileManager.default.createDirectory(at: roleDir, withIntermediateDirectories: true)
                try FileManager.default.moveItem(at: root.appendingPathComponent("secret/\(peer).pub"),
                                                 to: roleDir.appendingPathComponent("\(peer).pub"))
            }
            for peer in stray { try Self.keygen(peer, into: root.appendingPathComponent("secret").path) }
        }

        static func keygen(_ name: String, into dir: String) throws {
            let run = try Harness.run([Harness.binary.path, "keygen", name, "--out", dir])
            guard run.status == 0 else { throw HarnessError.noStart("keygen \(name)", run.output) }
        }

        /// `--key … --broker-key …` for a peer.
        func flags(_ name: String) -> [String] { ["--key", secret(name), "--broker-key", brokerPub] }

        func curve(_ name: String) throws -> CurveClientKeys {
            let text = try String(contentsOfFile: secret(name), encoding: .utf8)
            let secretKey = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.hasPrefix("#") && !$0.isEmpty }!
            let server = try String(contentsOfFile: brokerPub, encoding: .utf8).split(separator: "\n").last { !$0.hasPrefix("#") && !$0.isEmpty }!
            return CurveClientKeys(serverPublicKey: String(server), publicKey: try ZMQCurveKeyPair.publicKey(fromSecret: secretKey),
                                   secretKey: secretKey)
        }
    }

    static func job(_ id: String, _ script: String) -> JobSubmission { Harness.shellJob(id, script) }

    @Test func unknownWorkerKeyGetsNoJobAndAWorkerKeyCannotSubmitOrCancel() throws {
        let keys = try Keys("roles", allowed: [("worker", "w1"), ("client", "alice")], stray: ["mallory"])
        let (broker, endpoint, _) = try Harness.broker(extra: ["--keys", keys.dir])
        defer { broker.stop() }
        let mallory = try Harness.worker("mallory", broker: endpoint, extra: keys.flags("mallory"))
        defer { mallory.stop() }
        let client = try BrokerClient(endpoint: endpoint, name: "alice", curve: try keys.curve("alice"))
        defer { client.close() }
        try client.connect()
        try client.submitAndWait([Self.job("s-1", #"echo "@hyperloom {\"ok\": 1}""#)])
        Thread.sleep(forTimeInterval: 2)
        let before = try client.status()
        #expect(before.object?["queued"] == .number(1), "the unknown worker took no job: \(before)")
        #expect(before.object?["workers"] == .array([]))
        #expect(broker.output.contains("unknown key"), "the broker logs why it refused: \(broker.output)")

        // A worker key speaking as a client is refused every submit and cancel.
        let asWorker = try BrokerClient(endpoint: endpoint, name: "w1-as-client", curve: try keys.curve("w1"))
        defer { asWorker.close() }
        #expect(throws: ClientError.self) { try asWorker.connect(timeout: .seconds(2)) }

        let w1 = try Harness.worker("w1", broker: endpoint, extra: keys.flags("w1"))
        defer { w1.stop() }
        var tally = Tally()
        try Harness.drive(client, timeout: .seconds(20), until: { tally.terminalCount == 1 }) { tally.record($0) }
        #expect(tally.finals["s-1"]?.count == 1, "the allowlisted worker runs it")
        let counters = try #require(try client.status().object?["counters"]?.object)
        #expect((counters["refused"]?.object?["role"]?.double ?? 0) >= 1, "\(counters)")
    }

    @Test func unknownSubscriberKeyReceivesNoEventAndAKnownOneDoes() throws {
        let keys = try Keys("feed", allowed: [("worker", "w1"), ("client", "alice"), ("subscriber", "dash")], stray: ["eve"])
        let (broker, endpoint, feed) = try Harness.broker(extra: ["--keys", keys.dir])
        defer { broker.stop() }
        let good = try FeedSubscriber(endpoint: feed, curve: try keys.curve("dash"))
        defer { good.close() }
        let eve = try FeedSubscriber(endpoint: feed, curve: try keys.curve("eve"))
        defer { eve.close() }
        let plain = try FeedSubscriber(endpoint: feed)
        defer { plain.close() }
        Thread.sleep(forTimeInterval: 0.5)
        let w1 = try Harness.worker("fw1", broker: endpoint, extra: keys.flags("w1"))
        defer { w1.stop() }
        var seen = 0
        let deadline = ContinuousClock.now + .seconds(5)
        while seen == 0 && ContinuousClock.now < deadline {
            if try good.next(timeout: .milliseconds(100)) != nil { seen += 1 }
        }
        #expect(seen == 1, "the subscriber key sees worker/w1/joined")
        #expect(try eve.next(timeout: .milliseconds(500)) == nil, "an unknown key sees nothing")
        #expect(try plain.next(timeout: .milliseconds(200)) == nil, "a plain socket sees nothing")

        // Revoking the subscriber's key: the feed is bound anew, and only allowed keys get back in.
        try FileManager.default.removeItem(atPath: keys.root.appendingPathComponent("keys/subscribers/dash.pub").path)
        broker.signal(SIGHUP)
        Thread.sleep(forTimeInterval: 1)
        let ops = try FeedSubscriber(endpoint: feed, curve: try keys.curve("alice"))
        defer { ops.close() }
        Thread.sleep(forTimeInterval: 0.5)
        let w2 = try Harness.worker("fw2", broker: endpoint, extra: keys.flags("w1"))
        defer { w2.stop() }
        var opsSaw = false
        let later = ContinuousClock.now + .seconds(5)
        while !opsSaw && ContinuousClock.now < later {
            if try ops.next(timeout: .milliseconds(100)) != nil { opsSaw = true }
        }
        #expect(opsSaw, "an allowed key still reads the feed after the reload")
        #expect(try good.next(timeout: .milliseconds(500)) == nil, "the revoked subscriber sees nothing more")
    }

    @Test func revokedWorkerIsCutOffAfterSIGHUPAndItsAttemptRunsElsewhere() throws {
        let keys = try Keys("revoke", allowed: [("worker", "w1"), ("worker", "w2"), ("client", "alice")])
        let (broker, endpoint, feed) = try Harness.broker(extra: ["--keys", keys.dir])
        defer { broker.stop() }
        let subscriber = try FeedSubscriber(endpoint: feed, topics: ["worker/"], curve: try keys.curve("alice"))
        defer { subscriber.close() }
        let w1 = try Harness.worker("rv1", broker: endpoint, extra: keys.flags("w1"))
        defer { w1.stop() }
        let client = try BrokerClient(endpoint: endpoint, name: "alice", curve: try keys.curve("alice"))
        defer { client.close() }
        try client.connect()
        try client.submitAndWait([Self.job("r-1", #"sleep 3; echo "@hyperloom {\"attempt\": $HYPERLOOM_ATTEMPT}""#)])
        var tally = Tally()
        try Harness.drive(client, timeout: .seconds(10), until: { !tally.started.isEmpty }) { tally.record($0) }
        let w2 = try Harness.worker("rv2", broker: endpoint, extra: keys.flags("w2"))
        defer { w2.stop() }
        Thread.sleep(forTimeInterval: 0.5)
        try FileManager.default.removeItem(atPath: keys.root.appendingPathComponent("keys/workers/w1.pub").path)
        broker.signal(SIGHUP)
        var lost = false
        let deadline = ContinuousClock.now + .seconds(5)
        while !lost && ContinuousClock.now < deadline {
            if let event = try subscriber.next(timeout: .milliseconds(100)), event.topic == "worker/rv1/lost" { lost = true }
        }
        #expect(lost, "w1 is cut off at the reload: \(broker.output)")
        try Harness.drive(client, timeout: .seconds(20), until: { tally.terminalCount == 1 }) { tally.record($0) }
        #expect(tally.finals["r-1"]?.first?.attempt.attempt == 2, "rerun on w2")
        #expect(tally.finals["r-1"]?.count == 1)
        #expect(broker.output.contains("allowlist reloaded"))
        // Told DISCONNECT "revoked", w1 stops its trial and exits with an error instead of retrying.
        let status = w1.waitForExit(timeout: .seconds(20))
        #expect(status == 1, "w1 exits 1 after its revocation: \(w1.output)")
        #expect(w1.output.contains("revoked this worker's key"))
    }

    /// A relay between a client and the broker records every byte: with keys nothing of the job's
    /// config or metrics is readable; without keys (the control) it is.
    @Test func capturedTrafficHoldsNoPlaintextConfigOrMetric() throws {
        let keys = try Keys("wire", allowed: [("worker", "w1"), ("client", "alice")])
        for secured in [true, false] {
            let (broker, endpoint, _) = try Harness.broker(extra: secured ? ["--keys", keys.dir] : [])
            defer { broker.stop() }
            let relay = try TCPRelay(to: Harness.port(of: endpoint))
            defer { relay.stop() }
            let worker = try Harness.worker(secured ? "wire-s" : "wire-p", broker: endpoint, extra: secured ? keys.flags("w1") : [])
            defer { worker.stop() }
            let client = try BrokerClient(endpoint: "tcp://127.0.0.1:\(relay.port)", name: "alice",
                                          curve: secured ? try keys.curve("alice") : nil)
            defer { client.close() }
            try client.connect()
            let spec = JobSpec(command: ["/bin/sh", "-c", #"echo "@hyperloom {\"metric-canary-7731\": 0.5}""#],
                               config: ["lr": .string("config-canary-4419")])
            try client.submitAndWait([JobSubmission(id: "wire-1", payload: spec.payload)])
            var tally = Tally()
            try Harness.drive(client, timeout: .seconds(20), until: { tally.terminalCount == 1 }) { tally.record($0) }
            #expect(tally.finals.count == 1)
            let captured = String(decoding: relay.captured(), as: UTF8.self)
            #expect(captured.count > 200, "the relay saw the traffic")
            if secured {
                #expect(!captured.contains("config-canary-4419") && !captured.contains("metric-canary-7731"), "plaintext on the wire")
                #expect(!captured.contains("HLC1"), "even the protocol frames are encrypted")
            } else {
                #expect(captured.contains("config-canary-4419") && captured.contains("metric-canary-7731"),
                        "the control capture shows the same traffic in clear")
            }
        }
    }
}

/// A TCP relay on 127.0.0.1 that forwards one connection at a time to `port` and records both
/// directions.
final class TCPRelay: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var stopped = false

    init(to target: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 4)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: bound.sin_port))
        let thread = Thread { [self] in self.serve(target) }
        thread.start()
    }

    func captured() -> [UInt8] { lock.withLock { bytes } }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve(_ target: Int) {
        while !lock.withLock({ stopped }) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = in_port_t(UInt16(target).bigEndian)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { close(client); close(upstream); continue }
            let pump: @Sendable (Int32, Int32) -> Void = { [self] (from: Int32, to: Int32) in
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(from, &buffer, buffer.count)
                    guard n > 0 else { break }
                    self.lock.withLock { self.bytes += buffer[0..<n] }
                    var sent = 0
                    while sent < n {
                        let w = buffer[sent..<n].withUnsafeBytes { write(to, $0.baseAddress, $0.count) }
                        guard w > 0 else { return }
                        sent += w
                    }
                }
                shutdown(to, Int32(SHUT_WR))
            }
            let back = Thread { pump(upstream, client) }
            back.start()
            pump(client, upstream)
        }
    }
}
