import Foundation
import LoomSecurity
import Testing
import ZeroMQ

@Suite("Key files", .enabled(if: ZMQ.has("curve")))
struct KeyFilesTests {
    @Test func writtenKeyPairReadsBackWithTheMatchingPublicKey() throws {
        try withTemporaryDirectory { tmp in
            let (secretPath, publicPath) = try KeyFiles.writeKeyPair(name: "gpu-01", directory: tmp.path)
            #expect(secretPath == tmp.appending("gpu-01.key"))
            #expect(publicPath == tmp.appending("gpu-01.pub"))
            let pair = try KeyFiles.readSecretKey(secretPath)
            #expect(try KeyFiles.readPublicKey(publicPath) == pair.publicKey)
            #expect(pair.secretKey.utf8.count == 40)
        }
    }

    @Test func secretKeyFileIsOwnerOnlyWithACommentHeader() throws {
        try withTemporaryDirectory { tmp in
            try KeyFiles.writeKeyPair(name: "broker", directory: tmp.path)
            #expect(try tmp.mode(of: "broker.key") == 0o600)
            #expect(try tmp.mode(of: "broker.pub") & 0o022 == 0)
            #expect(try tmp.mode(of: "broker.pub") & 0o400 != 0)
            let lines = try String(contentsOfFile: tmp.appending("broker.key"), encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 2)
            #expect(lines.first?.hasPrefix("#") == true)
            #expect(lines.last?.count == 40)
            let publicLines = try String(contentsOfFile: tmp.appending("broker.pub"), encoding: .utf8).split(separator: "\n")
            #expect(publicLines.count == 1)
            #expect(publicLines.first?.count == 40)
        }
    }

    @Test func missingOutputDirectoryIsMadeOwnerOnly() throws {
        try withTemporaryDirectory { tmp in
            try KeyFiles.writeKeyPair(name: "w", directory: tmp.appending("keys"))
            #expect(try tmp.mode(of: "keys") == 0o700)
            #expect(FileManager.default.fileExists(atPath: tmp.appending("keys/w.pub")))
        }
    }

    @Test func anExistingKeyIsNeverOverwritten() throws {
        try withTemporaryDirectory { tmp in
            let (secretPath, _) = try KeyFiles.writeKeyPair(name: "w", directory: tmp.path)
            let before = try KeyFiles.readSecretKey(secretPath)
            let error = #expect(throws: KeyFileError.self) { try KeyFiles.writeKeyPair(name: "w", directory: tmp.path) }
            #expect(error?.problem == .alreadyExists)
            #expect(error?.path == secretPath)
            #expect(try KeyFiles.readSecretKey(secretPath) == before)
        }
    }

    @Test func aPublicKeyInTheWayLeavesNoSecretBehind() throws {
        try withTemporaryDirectory { tmp in
            try tmp.write("taken\n", to: "w.pub")
            let error = #expect(throws: KeyFileError.self) { try KeyFiles.writeKeyPair(name: "w", directory: tmp.path) }
            #expect(error?.problem == .alreadyExists)
            #expect(error?.path == tmp.appending("w.pub"))
            #expect(!FileManager.default.fileExists(atPath: tmp.appending("w.key")))
        }
    }

    @Test(arguments: ["", ".hidden", "a/b", "../up", "sp ace"])
    func unusableNamesAreRefused(name: String) throws {
        try withTemporaryDirectory { tmp in
            let error = #expect(throws: KeyFileError.self) { try KeyFiles.writeKeyPair(name: name, directory: tmp.path) }
            #expect(error?.problem == .invalidName)
        }
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660])
    func secretKeyReadableByOthersIsRefusedNamingTheFileAndMode(mode: Int) throws {
        try withTemporaryDirectory { tmp in
            let (secretPath, _) = try KeyFiles.writeKeyPair(name: "w", directory: tmp.path)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: secretPath)
            let error = #expect(throws: KeyFileError.self) { try KeyFiles.readSecretKey(secretPath) }
            #expect(error?.problem == .tooOpen(mode: UInt32(mode)))
            let text = error?.description ?? ""
            #expect(text.contains(secretPath))
            #expect(text.contains("0" + String(mode, radix: 8)))
            #expect(text.contains("chmod 600"))
        }
    }

    @Test func aPublicKeyFileMayBeReadableByAll() throws {
        try withTemporaryDirectory { tmp in
            let (_, publicPath) = try KeyFiles.writeKeyPair(name: "w", directory: tmp.path)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: publicPath)
            #expect(try KeyFiles.readPublicKey(publicPath).utf8.count == 40)
        }
    }

    @Test func commentsBlankLinesAndSurroundingSpacesAreIgnored() throws {
        try withTemporaryDirectory { tmp in
            let key = try ZMQCurveKeyPair.generate().publicKey
            try tmp.write("# a comment\n\n   \(key)  \r\n# another\n", to: "k.pub")
            #expect(try KeyFiles.readPublicKey(tmp.appending("k.pub")) == key)
        }
    }

    @Test func badFilesNameThePathAndWhatWasWrong() throws {
        let key = try ZMQCurveKeyPair.generate().publicKey
        let cases: [(String, KeyFileError.Problem)] = [
            ("# only a comment\n", .noKey),
            ("\(key)\n\(key)\n", .severalKeys),
            ("tooshort\n", .badLength(8)),
            (String(repeating: "~", count: 40) + "\n", .notZ85),
        ]
        try withTemporaryDirectory { tmp in
            for (index, (text, problem)) in cases.enumerated() {
                try tmp.write(text, to: "bad\(index).pub")
                let path = tmp.appending("bad\(index).pub")
                let error = #expect(throws: KeyFileError.self) { try KeyFiles.readPublicKey(path) }
                #expect(error?.problem == problem)
                #expect(error?.description.hasPrefix(path + ": ") == true)
            }
            let missing = #expect(throws: KeyFileError.self) { try KeyFiles.readPublicKey(tmp.appending("nope.pub")) }
            #expect(missing?.problem == .missing)
            #expect(missing?.description.contains(tmp.appending("nope.pub")) == true)
        }
    }

    @Test func anInvalidSecretKeyIsReportedWithoutItsText() throws {
        try withTemporaryDirectory { tmp in
            let secret = String(repeating: "~", count: 40)
            try tmp.write(secret + "\n", to: "bad.key", mode: 0o600)
            let error = #expect(throws: KeyFileError.self) { try KeyFiles.readSecretKey(tmp.appending("bad.key")) }
            #expect(error?.problem == .notZ85)
            #expect(error?.description.contains(secret) == false)
        }
    }
}
