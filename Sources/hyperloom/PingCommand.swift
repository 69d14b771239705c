import ArgumentParser
import Foundation
import LoomClient
import LoomWire
import ZeroMQ

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Is the broker reachable? Prints its id, versions and the round-trip time; exits 1 when it does not answer.")

    @OptionGroup var brokerOption: BrokerOption
    @OptionGroup var keys: ClientKeyOptions

    @Option(help: "Round trips to time (QUERY status each).")
    var count = 3

    @Option(help: "How long to wait for each answer.")
    var timeout = DurationArgument(argument: "2s")!

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let endpoint = brokerOption.broker
        let curve = try Security.curveOrExit("hyperloom ping") { try keys.curve() }
        let client = try BrokerClient(endpoint: endpoint, name: "hyperloom ping", curve: curve)
        defer { client.close() }
        do {
            let start = ContinuousClock.now
            let welcome = try client.connect(timeout: timeout.duration)
            let handshake = start.duration(to: .now)
            var rtts: [Duration] = []
            var software = "?"
            for _ in 0..<count {
                let sent = ContinuousClock.now
                let status = try client.status(timeout: timeout.duration)
                rtts.append(sent.duration(to: .now))
                software = status.object?["software"]?.argument ?? software
            }
            rtts.sort()
            Console.line("broker \(welcome.broker) at \(endpoint): hyperloom \(software), protocol \(welcome.version), "
                + "heartbeat \(welcome.heartbeatMs) ms")
            Console.line("handshake \(Self.ms(handshake)); round trip min \(Self.ms(rtts.first!)) median \(Self.ms(rtts[rtts.count / 2])) "
                + "max \(Self.ms(rtts.last!)) over \(count)")
        } catch {
            Console.error("hyperloom ping: \(endpoint) does not answer: \(error)"
                + (curve == nil
                    ? " (a broker that authenticates its peers answers only keys it knows: --key, --broker-key)"
                    : " (an authenticating broker drops unknown keys silently: is your public key in its allowlist?)"))
            throw ExitCode.failure
        }
    }

    static func ms(_ d: Duration) -> String {
        String(format: "%.2f ms", Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
    }
}
