import Foundation
import LoomSecurity
import Testing
import ZeroMQ

@Suite("Allowlist", .enabled(if: ZMQ.has("curve")))
struct AllowlistTests {
    /// Writes a fresh key pair's public key to `relative` and returns its 32 bytes.
    static func addKey(_ relative: String, in tmp: TemporaryDirectory) throws -> [UInt8] {
        let key = try ZMQCurveKeyPair.generate().publicKey
        try tmp.write(key + "\n", to: relative)
        return try #require(ZMQCurveKeyPair.z85Decode(key))
    }

    @Test func rolesComeFromTheDirectoryAndNamesFromTheFile() throws {
        try withTemporaryDirectory { tmp in
            let gpu = try Self.addKey("workers/gpu-01.pub", in: tmp)
            let cpu = try Self.addKey("workers/cpu-07.pub", in: tmp)
            let alice = try Self.addKey("clients/alice.pub", in: tmp)
            let tpe = try Self.addKey("optimizers/tpe.pub", in: tmp)
            let grafana = try Self.addKey("subscribers/grafana.pub", in: tmp)
            let dashboard = try Self.addKey("viewers/dashboard.pub", in: tmp)
            try KeyFiles.writeKeyPair(name: "broker", directory: tmp.path)

            let allowlist = try Allowlist.load(directory: tmp.path)
            #expect(allowlist.problems.isEmpty)
            #expect(allowlist.role(of: gpu)! == (PeerRole.worker, "gpu-01"))
            #expect(allowlist.role(of: cpu)! == (PeerRole.worker, "cpu-07"))
            #expect(allowlist.role(of: alice)! == (PeerRole.client, "alice"))
            #expect(allowlist.role(of: tpe)! == (PeerRole.optimizer, "tpe"))
            #expect(allowlist.role(of: grafana)! == (PeerRole.subscriber, "grafana"))
            #expect(allowlist.role(of: dashboard)! == (PeerRole.viewer, "dashboard"))
            #expect(allowlist.counts == [.worker: 2, .client: 1, .optimizer: 1, .subscriber: 1, .viewer: 1])
            #expect(allowlist.count == 6)
            #expect(allowlist.summary == "2 workers, 1 client, 1 optimizer, 1 subscriber, 1 viewer")
            #expect(allowlist.peers.map(\.userID) == ["worker/cpu-07", "worker/gpu-01", "client/alice", "optimizer/tpe", "subscriber/grafana",
                                                      "viewer/dashboard"])
        }
    }

    @Test func anUnknownKeyHasNoRole() throws {
        try withTemporaryDirectory { tmp in
            _ = try Self.addKey("workers/w.pub", in: tmp)
            let allowlist = try Allowlist.load(directory: tmp.path)
            let stranger = try #require(ZMQCurveKeyPair.z85Decode(try ZMQCurveKeyPair.generate().publicKey))
            #expect(allowlist.role(of: stranger) == nil)
            #expect(allowlist.role(of: []) == nil)
        }
    }

    @Test func missingRoleDirectoriesMeanNoPeersOfThatRole() throws {
        try withTemporaryDirectory { tmp in
            let allowlist = try Allowlist.load(directory: tmp.path)
            #expect(allowlist.count == 0)
            #expect(allowlist.problems.isEmpty)
            #expect(allowlist.counts.values.allSatisfy { $0 == 0 })
        }
    }

    @Test func badFilesAreReportedAndSkippedNotFatal() throws {
        try withTemporaryDirectory { tmp in
            let good = try Self.addKey("workers/good.pub", in: tmp)
            try tmp.write("not a key\n", to: "workers/bad.pub")
            try tmp.write("# nothing\n", to: "clients/empty.pub")
            try tmp.write("notes about the workers\n", to: "workers/README")
            _ = try KeyFiles.writeKeyPair(name: "oops", directory: tmp.appending("workers"))
            _ = try Self.addKey("worker/typo.pub", in: tmp)

            let allowlist = try Allowlist.load(directory: tmp.path)
            #expect(allowlist.role(of: good)! == (PeerRole.worker, "good"))
            #expect(allowlist.counts == [.worker: 2, .client: 0, .optimizer: 0, .subscriber: 0, .viewer: 0])  // good and oops.pub
            let reported = Dictionary(uniqueKeysWithValues: allowlist.problems.map { ($0.path, $0.reason) })
            #expect(reported.count == 4)
            #expect(reported[tmp.appending("workers/bad.pub")]?.contains("9 characters") == true)
            #expect(reported[tmp.appending("clients/empty.pub")]?.contains("no key") == true)
            #expect(reported[tmp.appending("workers/oops.key")]?.contains("secret key") == true)
            #expect(reported[tmp.appending("worker")]?.contains("not a role directory") == true)
            #expect(allowlist.problems.allSatisfy { $0.description.hasPrefix($0.path + ": ") })
        }
    }

    @Test func aKeyListedTwiceKeepsItsFirstRoleAndIsReported() throws {
        try withTemporaryDirectory { tmp in
            let key = try ZMQCurveKeyPair.generate().publicKey
            try tmp.write(key, to: "workers/w.pub")
            try tmp.write(key, to: "subscribers/s.pub")
            let allowlist = try Allowlist.load(directory: tmp.path)
            #expect(allowlist.role(of: ZMQCurveKeyPair.z85Decode(key)!)! == (PeerRole.worker, "w"))
            #expect(allowlist.problems.count == 1)
            #expect(allowlist.problems.first?.path == tmp.appending("subscribers/s.pub"))
            #expect(allowlist.problems.first?.reason.contains("same key as \(tmp.appending("workers/w.pub"))") == true)
        }
    }

    @Test func aMissingKeysDirectoryThrows() throws {
        try withTemporaryDirectory { tmp in
            let error = #expect(throws: KeyFileError.self) { try Allowlist.load(directory: tmp.appending("absent")) }
            #expect(error?.problem == .missing)
            #expect(error?.path == tmp.appending("absent"))
            try tmp.write("x", to: "file")
            let notDirectory = #expect(throws: KeyFileError.self) { try Allowlist.load(directory: tmp.appending("file")) }
            #expect(notDirectory?.problem == .notADirectory)
        }
    }

    @Test func theBrokerKeyLivesAtTheTopOfTheKeysDirectory() {
        #expect(Allowlist.brokerSecretKeyPath(in: "/etc/hyperloom/keys") == "/etc/hyperloom/keys/broker.key")
        #expect(Allowlist.brokerSecretKeyPath(in: "keys/") == "keys/broker.key")
        #expect(PeerRole.allCases.map(\.directoryName) == ["workers", "clients", "optimizers", "subscribers", "viewers"])
    }
}
