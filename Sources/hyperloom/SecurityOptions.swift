import ArgumentParser
import Foundation
import LoomSecurity
import ZeroMQ

/// `--key` and `--broker-key` of the client commands (submit, status, ping, feed, …).
struct ClientKeyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Your secret key file (hyperloom keygen), when the broker authenticates (default: $HYPERLOOM_KEY).",
                               valueName: "file"))
    var key: String?

    @Option(help: ArgumentHelp("The broker's public key file (default: $HYPERLOOM_BROKER_KEY).", valueName: "file"))
    var brokerKey: String?

    /// The CURVE keys to connect with, or nil for a plain connection.
    func curve() throws -> CurveClientKeys? {
        let env = ProcessInfo.processInfo.environment
        return try Security.curve(key: key ?? env["HYPERLOOM_KEY"].flatMap { $0.isEmpty ? nil : $0 },
                                  brokerKey: brokerKey ?? env["HYPERLOOM_BROKER_KEY"].flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// Key loading and the loopback rule, shared by every command.
enum Security {
    /// The CURVE keys of a peer from its secret key file and the broker's public key file: both
    /// or neither.
    static func curve(key: String?, brokerKey: String?) throws -> CurveClientKeys? {
        switch (key, brokerKey) {
        case (nil, nil): return nil
        case (nil, _?): throw Failure("--broker-key needs --key too (your own secret key file)")
        case (_?, nil): throw Failure("--key needs --broker-key too (the broker's public key file, broker.pub)")
        case (let key?, let brokerKey?):
            do {
                let pair = try KeyFiles.readSecretKey(key)
                return CurveClientKeys(serverPublicKey: try KeyFiles.readPublicKey(brokerKey), publicKey: pair.publicKey,
                                       secretKey: pair.secretKey)
            } catch {
                throw Failure("\(error)")
            }
        }
    }

    /// `curve(key:brokerKey:)` for a command: a bad key file is printed on stderr (after
    /// `prefix`) and the command exits with status 1.
    static func curveOrExit(_ prefix: String, _ make: () throws -> CurveClientKeys?) throws -> CurveClientKeys? {
        do {
            return try make()
        } catch {
            Console.error("\(prefix): \(error)")
            throw ExitCode.failure
        }
    }

    /// Whether an endpoint can only be reached from this host (loopback TCP, IPC, in-process).
    static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let rest = endpoint.dropFirst("tcp://".count)
        let host = rest.hasPrefix("[") ? String(rest.dropFirst().prefix { $0 != "]" }) : String(rest.prefix { $0 != ":" })
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
