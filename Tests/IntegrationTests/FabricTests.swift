import Foundation
import LoomClient
import LoomWire
import Testing
import ZeroMQ

/// End-to-end behaviour of broker and workers as real processes over tcp://127.0.0.1.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct Fabric {
    @Test func twoHundredJobsOverFourWorkersCompleteExactlyOnce() throws {
        let (broker, endpoint, _) = try Harness.broker()
        defer { broker.stop() }
        let workers = try (1...4).map { try Harness.worker("a\($0)", broker: endpoint, slots: 2) }
        defer { workers.forEach { $0.stop() } }
        let client = try BrokerClient(endpoint: endpoint, name: "test-a")
        defer { client.close() }
        try client.connect()
        let jobs = (1...200).map { Harness.shellJob("a-\($0)", #"echo "@hyperloom {\"n\": \#($0)}""#) }
        try client.submitAndWait(jobs)
        var tally = Tally()
        var deliveries = 0
        try Harness.drive(client, timeout: .seconds(90), until: { tally.terminalCount == 200 }) { event in
            if case .update(let u) = event, u.kind.isTerminal { deliveries += 1 }
            tally.record(event)
        }
        #expect(tally.finals.count == 200, "finished \(tally.finals.count), failed \(tally.failures.count): \(tally.failures.values.first?.first.map { String(decoding: $0.payload, as: UTF8.self) } ?? "")")
        #expect(deliveries == 200, "a result was delivered twice")
        for (job, finals) in tally.finals {
            let n = Int(job.dropFirst(2))!
            let body = String(decoding: finals[0].payload, as: UTF8.self)
            #expect(body.contains("\"n\":\(n)") || body.contains("\"n\": \(n)"), "\(job): \(body)")
        }
        let status = try client.status()
        let workersListed = status.object?["workers"].flatMap { if case .array(let a) = $0 { a } else { nil } } ?? []
        #expect(workersListed.count == 4)
    }

    @Test func killedWorkersAttemptIsRerunElsewhereWithinTheDetectionBound() throws {
        let (broker, endpoint, feed) = try Harness.broker()
        defer { broker.stop() }
        let subscriber = try FeedSubscriber(endpoint: feed, topics: ["worker/", "job/"])
        defer { subscriber.close() }
        let a = try Harness.worker("b1", broker: endpoint)
        let b = try Harness.worker("b2", broker: endpoint)
        defer { a.stop(); b.stop() }
        let client = try BrokerClient(endpoint: endpoint, name: "test-b")
        defer { client.close() }
        try client.connect()
        try client.submitAndWait([
            Harness.shellJob("b-1", #"sleep 3; echo "@hyperloom {\"attempt\": $HYPERLOOM_ATTEMPT}""#),
            Harness.shellJob("b-2", #"sleep 3; echo "@hyperloom {\"attempt\": $HYPERLOOM_ATTEMPT}""#),
        ])
        var tally = Tally()
        var runningOn: [String: String] = [:]
        try Harness.drive(client, timeout: .seconds(20), until: { runningOn.count == 2 }) { event in
            tally.record(event)
            if case .started(let ref, let worker, _) = event { runningOn[ref.job] = worker }
        }
        try #require(runningOn.count == 2, "both jobs should be running")
        let victimID = runningOn["b-1"]!
        let victim = victimID == "b1" ? a : b
        while try subscriber.next(timeout: .milliseconds(50)) != nil {}
        let killedAt = ContinuousClock.now
        victim.signal(SIGKILL)
        var detected: ContinuousClock.Instant?
        let deadline = ContinuousClock.now + .seconds(10)
        while detected == nil && ContinuousClock.now < deadline {
            if let event = try subscriber.next(timeout: .milliseconds(100)), event.topic == "worker/\(victimID)/lost" {
                detected = .now
            }
        }
        let latency = try #require(detected.map { killedAt.duration(to: $0) }, "no worker/\(victimID)/lost event")
        // Default heartbeat 1 s, liveness 3: the bound is interval × liveness + one interval.
        print("detection latency of a SIGKILLed worker: \(latency) (bound 4 s)")
        #expect(latency <= .seconds(4))
        try Harness.drive(client, timeout: .seconds(20), until: { tally.terminalCount == 2 }) { tally.record($0) }
        let rerun = try #require(tally.finals["b-1"]?.first)
        #expect(rerun.attempt.attempt == 2)
        #expect(tally.started["b-1"]?.last?.attempt == 2)
        #expect(tally.finals["b-2"]?.count == 1)
    }

    @Test func frozenWorkerIsLostByItsHeartbeatsAndItsLateResultIsFencedOff() throws {
        let (broker, endpoint, feed) = try Harness.broker()
        defer { broker.stop() }
        let subscriber = try FeedSubscriber(endpoint: feed, topics: ["worker/", "job/"])
        defer { subscriber.close() }
        let a = try Harness.worker("f1", broker: endpoint)
        let b = try Harness.worker("f2", broker: endpoint)
        defer { a.signal(SIGCONT); a.stop(); b.signal(SIGCONT); b.stop() }
        let client = try BrokerClient(endpoint: endpoint, name: "test-f")
        defer { client.close() }
        try client.connect()
        try client.submitAndWait([Harness.shellJob("f-1", #"sleep 1; echo "@hyperloom {\"attempt\": $HYPERLOOM_ATTEMPT}""#)])
        var tally = Tally()
        var runningOn: String?
        try Harness.drive(client, timeout: .seconds(20), until: { runningOn != nil }) { event in
            tally.record(event)
            if case .started(_, let worker, _) = event { runningOn = worker }
        }
        let victimID = try #require(runningOn)
        let victim = victimID == "f1" ? a : b
        while try subscriber.next(timeout: .milliseconds(50)) != nil {}
        // SIGSTOP freezes the worker but keeps its TCP connection open: only missed heartbeats
        // can tell the broker. Its trial, in its own process group, runs on and finishes.
        let frozenAt = ContinuousClock.now
        victim.signal(SIGSTOP)
        var lostAt: ContinuousClock.Instant?
        var topics: [String] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while lostAt == nil && ContinuousClock.now < deadline {
            guard let event = try subscriber.next(timeout: .milliseconds(100)) else { continue }
            topics.append(event.topic)
            if event.topic == "worker/\(victimID)/lost" { lostAt = .now }
        }
        let latency = try #require(lostAt.map { frozenAt.duration(to: $0) }, "no worker/\(victimID)/lost event: \(topics)")
        print("detection latency of a frozen worker (heartbeats only): \(latency) (bound 4 s)")
        #expect(latency >= .seconds(2) && latency <= .seconds(4))
        try Harness.drive(client, timeout: .seconds(20), until: { tally.terminalCount == 1 }) { tally.record($0) }
        #expect(tally.finals["f-1"]?.first?.attempt.attempt == 2, "rerun as attempt 2 on the other worker")
        // Thawed, the worker re-registers holding attempt 1's result: fenced, recorded as stale.
        victim.signal(SIGCONT)
        var fencedOff = false
        let thawDeadline = ContinuousClock.now + .seconds(15)
        while !fencedOff && ContinuousClock.now < thawDeadline {
            try Harness.drive(client, timeout: .milliseconds(500), until: { false }) { tally.record($0) }
            let counters = try client.status().object?["counters"]?.object ?? [:]
            fencedOff = (counters["stale"]?.double ?? 0) >= 1
        }
        #expect(fencedOff, "attempt 1's late FINAL was not recorded as stale")
        #expect(tally.finals["f-1"]?.count == 1, "exactly one result")
    }

    @Test func aSIGKILLedWorkersTrialDoesNotOutliveIt() throws {
        let (broker, endpoint, _) = try Harness.broker()
        defer { broker.stop() }
        let worker = try Harness.worker("g1", broker: endpoint)
        defer { worker.stop() }
        let client = try BrokerClient(endpoint: endpoint, name: "test-g")
        defer { client.close() }
        try client.connect()
        let marker = Harness.scratch.appendingPathComponent("g-pid").path
        try client.submitAndWait([Harness.shellJob("g-1", "echo $$ > \(marker); exec sleep 60")])
        var tally = Tally()
        try Harness.drive(client, timeout: .seconds(20), until: { !tally.started.isEmpty }) { tally.record($0) }
        var pid: Int32?
        let deadline = ContinuousClock.now + .seconds(5)
        while pid == nil && ContinuousClock.now < deadline {
            pid = Int32((try? String(contentsOfFile: marker, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
            if pid == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        let trial = try #require(pid)
        #expect(kill(trial, 0) == 0, "the trial runs")
        worker.signal(SIGKILL)
        worker.waitForExit()
        var gone = false
        let after = ContinuousClock.now + .seconds(5)
        while !gone && ContinuousClock.now < after {
            gone = kill(trial, 0) != 0
            if !gone { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(gone, "the orphaned trial was killed with its worker")
    }

    @Test func brokerKilledAndRestartedOnTheSamePortLosesNothing() throws {
        var (broker, endpoint, feed) = try Harness.broker()
        let workers = try (1...2).map { try Harness.worker("c\($0)", broker: endpoint, slots: 2) }
        defer { workers.forEach { $0.stop() } }
        let client = try BrokerClient(endpoint: endpoint, name: "test-c")
        defer { client.close() }
        try client.connect()
        let jobs = (1...8).map { Harness.shellJob("c-\($0)", #"sleep 2; echo "@hyperloom {\"job\": \"$HYPERLOOM_TRIAL_ID\"}""#) }
        try client.submitAndWait(jobs)
        var tally = Tally()
        try Harness.drive(client, timeout: .seconds(20), until: { tally.started.count >= 4 }) { tally.record($0) }
        try #require(tally.started.count >= 4)
        broker.signal(SIGKILL)
        broker.waitForExit()
        Thread.sleep(forTimeInterval: 0.5)
        (broker, endpoint, feed) = try Harness.broker(port: Harness.port(of: endpoint), feedPort: Harness.port(of: feed))
        defer { broker.stop() }
        var deliveries: [String: Int] = [:]
        try Harness.drive(client, timeout: .seconds(60), until: { tally.terminalCount == 8 }) { event in
            if case .update(let u) = event, u.kind.isTerminal { deliveries[u.attempt.job, default: 0] += 1 }
            tally.record(event)
        }
        #expect(tally.finals.count == 8, "failures: \(tally.failures.keys.sorted())")
        #expect(deliveries.values.allSatisfy { $0 == 1 })
        // Each job's trial ran exactly once: one attempt directory per job across both workers.
        var attemptDirs: [String: Int] = [:]
        for w in 1...2 {
            let root = Harness.scratch.appendingPathComponent("work-c\(w)")
            // Job directories; `.blobs` is the worker's checkpoint snapshot cache.
            let jobsDirs = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
            for job in jobsDirs where !job.hasPrefix(".") {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(job).path)) ?? []
                attemptDirs[job, default: 0] += entries.filter { $0.hasPrefix("attempt-") }.count
            }
        }
        #expect(attemptDirs.count == 8, "\(attemptDirs)")
        #expect(attemptDirs.values.allSatisfy { $0 == 1 }, "a trial ran twice: \(attemptDirs)")
    }

    @Test func malformedTrafficIsRejectedAndCountedWhileABatchRuns() throws {
        let (broker, endpoint, _) = try Harness.broker(extra: ["--max-message-size", "65536"])
        defer { broker.stop() }
        let workers = try (1...2).map { try Harness.worker("d\($0)", broker: endpoint, slots: 2) }
        defer { workers.forEach { $0.stop() } }
        let client = try BrokerClient(endpoint: endpoint, name: "test-d")
        defer { client.close() }
        try client.connect()
        try client.submitAndWait((1...60).map { Harness.shellJob("d-\($0)", #"echo "@hyperloom {\"ok\": 1}""#) })

        let context = try ZMQContext()
        defer { context.terminate() }
        let fuzz = try context.socket(.dealer)
        try fuzz.setLinger(.zero)
        try fuzz.connect(endpoint)
        var rng = SystemRandomNumberGenerator()
        var sent = 0
        for i in 0..<400 {
            let frames: [[UInt8]]
            switch i % 4 {
            case 0: frames = [Array("HLW9".utf8), [Command.heartbeat.rawValue]]                      // wrong version
            case 1: frames = [Wire.workerHeader, [Command.started.rawValue], Array("j".utf8)]        // truncated
            case 2: frames = (0..<Int.random(in: 1...5, using: &rng)).map { _ in                      // random bytes
                        (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
            default: frames = [Wire.clientHeader, [0x7E]]                                             // unknown command
            }
            if i % 4 == 2, frames.first.map({ $0 == Wire.workerHeader || $0 == Wire.clientHeader }) == true { continue }
            try fuzz.send(frames)
            sent += 1
        }
        var errors = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while errors < sent && ContinuousClock.now < deadline {
            var poller = Poller()
            poller.add(fuzz)
            _ = try poller.poll(timeout: .milliseconds(100))
            while let reply = try fuzz.receive(dontWait: true) {
                if reply.count >= 2, reply[1] == [Command.error.rawValue] { errors += 1 }
            }
        }
        #expect(errors == sent, "every malformed message is answered with ERROR")
        let counted = try #require(try client.status().object?["counters"]?.object?["rejected"]?.object)
        #expect(Int(counted.values.compactMap(\.double).reduce(0, +)) == sent, "rejected: \(counted)")
        #expect((counted["version"]?.double ?? 0) >= 100)
        #expect((counted["command"]?.double ?? 0) >= 100)

        // Oversized: the broker's MAXMSGSIZE drops the connection; it is not a protocol reject.
        let big = try context.socket(.dealer)
        try big.setLinger(.zero)
        try big.connect(endpoint)
        try big.send([Wire.clientHeader, [Command.heartbeat.rawValue], [UInt8](repeating: 0x41, count: 200_000)])
        // Not ZeroMQ at all: raw bytes on the TCP port. libzmq may read them as a ZMTP/1.0 peer's
        // frames, which the broker then rejects (and counts) like any other malformed message.
        RawTCP.send(port: Harness.port(of: endpoint), bytes: (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) })

        var tally = Tally()
        try Harness.drive(client, timeout: .seconds(60), until: { tally.terminalCount == 60 }) { tally.record($0) }
        #expect(tally.finals.count == 60, "the batch completes while the garbage is rejected")
        let after = try #require(try client.status().object?["counters"]?.object?["rejected"]?.object)
        #expect(Int(after.values.compactMap(\.double).reduce(0, +)) >= sent)
    }

    @Test func sigtermWithShutdownWorkersStopsBrokerWorkersAndTrials() throws {
        let (broker, endpoint, _) = try Harness.broker(extra: ["--shutdown-workers"])
        let worker = try Harness.worker("e1", broker: endpoint)
        let client = try BrokerClient(endpoint: endpoint, name: "test-e")
        defer { client.close() }
        try client.connect()
        let marker = Harness.scratch.appendingPathComponent("e-pid").path
        try client.submitAndWait([Harness.shellJob("e-1", "echo $$ > \(marker); exec sleep 60")])
        var tally = Tally()
        try Harness.drive(client, timeout: .seconds(20), until: { !tally.started.isEmpty }) { tally.record($0) }
        Thread.sleep(forTimeInterval: 0.3)
        let pid = try #require(Int32((try? String(contentsOfFile: marker, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        broker.signal(SIGTERM)
        #expect(broker.waitForExit(timeout: .seconds(10)) == 0, "broker output:\n\(broker.output)")
        #expect(worker.waitForExit(timeout: .seconds(15)) == 0, "worker output:\n\(worker.output)")
        #expect(kill(pid, 0) != 0, "the trial process is gone")
    }
}

/// Writes bytes to a TCP port without speaking ZMTP.
enum RawTCP {
    static func send(port: Int, bytes: [UInt8]) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
