import ArgumentParser
import Foundation
import LoomRuntime
import LoomWire
import ZeroMQ

/// `hyperloom bench fuzz`: random and mutated messages at a running broker's public port.
///
/// Prints a human summary and one JSON line with what the broker must have counted:
/// `{"bench":"fuzz","sent":N,"rejected":{CATEGORY:n,…},"unregistered":n,"stale":n,"served":n,…}`.
/// The broker's `received` counter grows by `sent`, and each `rejected` category, `unregistered`
/// and `stale` by their figures (the traffic of a healthy study beside it adds to none of them).
/// `sent` includes the READY and DISCONNECT of the fuzzing workers (counted as `served`).
struct FuzzBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Send random and mutated protocol messages at a broker; print what it must have counted.")

    @Option(help: "The broker's endpoint.")
    var broker = "tcp://127.0.0.1:5555"

    @Option(help: "Messages to send.")
    var messages = 100_000

    @Option(help: "Seed of the generator: the same seed sends the same messages.")
    var seed: UInt64 = 1

    @Option(help: "Connections to send from; every other one with a random routing id.")
    var connections = 8

    @Option(help: "How many of the connections register as workers without slots and send mutated worker messages.")
    var workers = 2

    @Option(help: "Most messages whose answer has not been read yet (flow control; 0: flood, as fast as the sockets take them).")
    var window = 2_000

    func validate() throws {
        guard messages >= 1, connections >= 1 else { throw ValidationError("--messages and --connections must be at least 1") }
        guard window >= 0 else { throw ValidationError("--window must be at least 0") }
        guard (0...connections).contains(workers) else { throw ValidationError("--workers must be from 0 to --connections (\(connections))") }
    }

    func run() throws {
        let stop = LoomRuntimeStop.latch()
        let context = try ZMQContext()
        defer { context.terminate() }
        var generator = FuzzMessages(seed: seed)
        var sockets: [ZMQSocket] = []
        defer { sockets.forEach { $0.close() } }
        for n in 0..<connections {
            let socket = try context.socket(.dealer)
            // Long enough for everything queued to reach the broker before the socket closes.
            try socket.setLinger(.seconds(30))
            if n % 2 == 1 {
                // A routing id may not start with a zero byte (libzmq reserves those).
                try socket.setRoutingID([UInt8.random(in: 1...255)] + (0..<15).map { _ in UInt8.random(in: 0...255) })
            }
            try socket.connect(broker)
            sockets.append(socket)
        }
        var tally = FuzzMessages.Tally()
        var replies = 0
        var answers = 0
        var waits = 0
        let started = ContinuousClock.now
        for n in 0..<workers {
            _ = try sockets[n].send(FuzzMessages.ready(worker: "fuzz-\(seed)-\(n)"))
            tally.add(.served)
            answers += 1   // WELCOME
        }
        for n in 0..<messages {
            if stop.isStopRequested { break }
            let connection = n % sockets.count
            let (frames, outcome, answered) = generator.next(registered: connection < workers)
            _ = try sockets[connection].send(frames)
            tally.add(outcome)
            if answered { answers += 1 }
            if n % 256 == 255 { replies += try drain(sockets) }
            if window > 0 && answers - replies > window {
                // The broker is behind: wait (bounded) for it rather than fill its queues.
                waits += 1
                replies += try drain(sockets, untilRead: answers - window / 2 - replies, within: .seconds(2))
            }
        }
        // The fuzzing workers leave only once the broker has answered everything they sent: a
        // worker whose connection closes while the broker still answers it counts as lost.
        replies += try drain(sockets, untilRead: answers - replies, within: .seconds(10))
        for n in 0..<workers {
            _ = try sockets[n].send(WorkerMessage.disconnect.frames)
            tally.add(.served)
        }
        replies += try drain(sockets)
        let seconds = started.duration(to: .now)
        let elapsed = Double(seconds.components.seconds) + Double(seconds.components.attoseconds) / 1e18
        Console.line(String(format: "fuzz: %d messages in %.1f s (%.0f/s) from %d connections (%d registered as workers); "
                            + "%d rejected, %d unregistered, %d stale, %d served; %d of %d answers read, %d waits for the broker",
                            tally.sent, elapsed, Double(tally.sent) / max(elapsed, 1e-9), sockets.count, workers,
                            tally.rejected.values.reduce(0, +), tally.unregistered, tally.stale, tally.served, replies, answers, waits))
        var rejected = JSONObjectWriter()
        for key in tally.rejected.keys.sorted() { rejected.add(key, tally.rejected[key]!) }
        var json = JSONObjectWriter()
        json.add("bench", "fuzz")
        json.add("sent", tally.sent)
        json.addRaw("rejected", json: rejected.finish())
        json.add("unregistered", tally.unregistered)
        json.add("stale", tally.stale)
        json.add("served", tally.served)
        json.add("connections", sockets.count)
        json.add("workers", workers)
        json.add("answers", answers)
        json.add("replies", replies)
        json.add("seconds", (elapsed * 100).rounded() / 100)
        json.add("messages_per_s", (Double(tally.sent) / max(elapsed, 1e-9)).rounded())
        Console.line(String(decoding: json.finish(), as: UTF8.self))
    }

    /// Reads answers until `count` have come or `limit` has passed; returns how many were read.
    private func drain(_ sockets: [ZMQSocket], untilRead count: Int, within limit: Duration) throws -> Int {
        let deadline = ContinuousClock.now + limit
        var read = 0
        while read < count && ContinuousClock.now < deadline {
            let now = try drain(sockets)
            read += now
            if now == 0 { usleep(500) }
        }
        return read
    }

    /// Reads whatever the broker answered (ERRORs, DISCONNECTs, ACKs), so its queues towards us
    /// stay short; returns the number of answers (the broker's own HEARTBEATs are not answers).
    private func drain(_ sockets: [ZMQSocket]) throws -> Int {
        var count = 0
        for socket in sockets {
            while let frames = try socket.receive(dontWait: true) {
                if frames.count != 2 || frames[1] != [Command.heartbeat.rawValue] { count += 1 }
            }
        }
        return count
    }
}
