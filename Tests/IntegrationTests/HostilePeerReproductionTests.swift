import Foundation
import LoomWire
import Testing
import ZeroMQ

/// The reproductions of issue 16 replayed against real processes (a `hyperloom broker`, and a
/// `hyperloom optimizer` behind it) by raw peers speaking the protocol: each is refused and
/// leaves both processes serving (Docs/security.md, "Findings and what closed them").
@Suite(.serialized, .timeLimit(.minutes(2))) struct HostilePeerReproductions {
    /// A raw DEALER peer of the broker.
    final class Peer {
        let socket: ZMQSocket

        init(_ context: ZMQContext, _ endpoint: String) throws {
            socket = try context.socket(.dealer)
            try socket.setLinger(.zero)
            try socket.setReceiveTimeout(.milliseconds(100))
            try socket.connect(endpoint)
        }

        func send(_ frames: [Frame]) throws { _ = try socket.send(frames) }

        /// Receives until `match` returns a value, for at most `timeout`; a worker sends a
        /// HEARTBEAT every half second meanwhile, so the broker does not declare it lost.
        func receive<T>(_ timeout: Duration = .seconds(10), heartbeat: Bool = false, _ match: ([Frame]) -> T?) throws -> T? {
            let deadline = ContinuousClock.now + timeout
            var beat = ContinuousClock.now
            while ContinuousClock.now < deadline {
                if heartbeat, ContinuousClock.now >= beat {
                    try send(WorkerMessage.heartbeat.frames)
                    beat = .now + .milliseconds(500)
                }
                guard let frames = try socket.receive() else { continue }
                if let value = match(frames) { return value }
            }
            return nil
        }

        func toWorker(_ timeout: Duration = .seconds(10), _ match: (BrokerToWorker) -> Bool) throws -> BrokerToWorker? {
            try receive(timeout, heartbeat: true) { frames in (try? WireDecoder.brokerToWorker(frames)).flatMap { match($0) ? $0 : nil } }
        }

        func toClient(_ timeout: Duration = .seconds(10), _ match: (BrokerToClient) -> Bool) throws -> BrokerToClient? {
            try receive(timeout) { frames in (try? WireDecoder.brokerToClient(frames)).flatMap { match($0) ? $0 : nil } }
        }

        func close() { socket.close() }
    }

    static func ready(_ id: String, slots: Int = 1, heartbeatMs: Int = 1000, liveness: Int = 3, running: [RunningAttempt] = []) -> [Frame] {
        WorkerMessage.ready(ReadyInfo(worker: id, slots: slots, heartbeatMs: heartbeatMs, liveness: liveness, host: "repro", pid: 1,
                                      version: "repro", running: running)).frames
    }

    static func isError(_ m: BrokerToWorker) -> Bool { if case .error = m { true } else { false } }

    /// The broker answers a client's QUERY status: its loop is alive and not stalled.
    static func answersStatus(_ client: Peer, request: UInt64) throws -> [String: JSONValue]? {
        try client.send(ClientMessage.query(request: request, body: Array(#"{"what":"status"}"#.utf8)).frames)
        let reply = try client.toClient(.seconds(2)) { if case .reply(request, _) = $0 { true } else { false } }
        guard case .reply(_, let body)? = reply else { return nil }
        return try JSONValue(parsing: body).object
    }

    @Test func theBrokersReproductionsAreRefusedAndItKeepsServing() throws {
        let (broker, endpoint, _) = try Harness.broker(extra: ["--max-workers", "1", "--log-level", "info"])
        defer { broker.stop() }
        let replayLine = try #require(broker.waitForLine(containing: "feed replay on"))
        let replay = String(try #require(replayLine.split(separator: " ").first { $0.hasPrefix("tcp://") }).trimmingCharacters(in: .punctuationCharacters))
        let context = try ZMQContext()
        defer { context.terminate() }
        let client = try Peer(context, endpoint)
        defer { client.close() }
        try client.send(ClientMessage.hello(HelloInfo(client: "repro", name: "repro")).frames)
        #expect(try client.toClient { if case .welcome = $0 { true } else { false } } != nil)

        // Critical: READY with slots 2^62 (the broker crashed on `UInt64(slots) * 1000`).
        let overflow = try Peer(context, endpoint)
        defer { overflow.close() }
        try overflow.send(Self.ready("w-overflow", slots: 1 << 62))
        #expect(try overflow.toWorker { Self.isError($0) } != nil)
        // liveness 2^62 (a worker never declared dead).
        try overflow.send(Self.ready("w-liveness", liveness: 1 << 62))
        #expect(try overflow.toWorker { Self.isError($0) } != nil)
        // An unbounded HELLO name (6 × 16 MiB were kept): refused past 256 bytes.
        let big = try Peer(context, endpoint)
        defer { big.close() }
        try big.send(ClientMessage.hello(HelloInfo(client: "big", name: String(repeating: "n", count: 1 << 20))).frames)
        #expect(try big.toClient { if case .error = $0 { true } else { false } } != nil)

        // High: READY then HELLO on one connection, then any event (a precondition failure in
        // FeedJournal.append).
        let both = try Peer(context, endpoint)
        defer { both.close() }
        try both.send(Self.ready("w-both"))
        #expect(try both.toWorker { if case .welcome = $0 { true } else { false } } != nil)
        try both.send(ClientMessage.hello(HelloInfo(client: "both", name: "both")).frames)
        try both.send(ClientMessage.submit(request: 1, jobs: [JobSubmission(id: "repro/1", payload: JobSpec(command: ["true"]).payload)]).frames)
        #expect(try both.toClient { if case .submitted = $0 { true } else { false } } != nil)

        // High: a worker key fabricates results by listing queued and unsubmitted jobs in
        // READY.running: every one is refused (CANCEL unverified), none is adopted.
        let forger = try Peer(context, endpoint)
        defer { forger.close() }
        let forged = [RunningAttempt(AttemptRef(job: "repro/1", attempt: 1, lease: 1), token: Array(repeating: 0, count: LeaseToken.size)),
                      RunningAttempt(AttemptRef(job: "repro/9", attempt: 1, lease: 2))]
        try forger.send(Self.ready("w-forger", running: forged))
        var unverified: Set<String> = []
        _ = try forger.toWorker { message in
            if case .cancel(let job, _, CancelReason.unverified) = message { unverified.insert(job) }
            return unverified.count == 2
        }
        #expect(unverified == ["repro/1", "repro/9"])
        try forger.send(WorkerMessage.update(Update(kind: .final, attempt: forged[0].ref, seq: 1, payload: Array(#"{"loss":0}"#.utf8))).frames)

        // Limits as settings: with --max-workers 1 (w-forger; w-both left when its connection
        // said HELLO), another READY is refused, naming the limit.
        let third = try Peer(context, endpoint)
        defer { third.close() }
        try third.send(Self.ready("w-third"))
        let refused = try third.toWorker { Self.isError($0) }
        guard case .error(let text)? = refused else { Issue.record("no ERROR for a READY beyond --max-workers 1"); return }
        #expect(text.contains("max_workers 1"), "\(text)")

        // High: a subscriber freezes the fabric with REPLAYs of 20,000 prefixes: dropped at once.
        let subscriber = try Peer(context, replay)
        defer { subscriber.close() }
        let flood = FeedReplay.Request(after: 0, prefixes: (0..<20_000).map { "\($0 % 10)" })
        for _ in 0..<4 { try subscriber.send(flood.frames) }
        let start = ContinuousClock.now
        let status = try #require(try Self.answersStatus(client, request: 2))
        #expect(ContinuousClock.now - start < .seconds(2))
        // The fabricated FINAL finished nothing.
        let counters = try #require(status["counters"]?.object, "\(status)")
        #expect(counters["finished"]?.double == 0, "\(status)")
        #expect(status["delivering"]?.double == 0, "\(status)")
        if case .array(let workers)? = status["workers"] { #expect(workers.count == 1, "\(status)") } else { Issue.record("no workers in \(status)") }
        // Every refusal is visible: counted in status and logged with its reason.
        #expect((counters["rejected"]?.object?["value"]?.double ?? 0) >= 3, "\(status)")
        #expect(counters["refused"]?.object?["lease"]?.double == 2, "\(status)")
        #expect(counters["refused"]?.object?["capacity"]?.double == 1, "\(status)")
        #expect(broker.waitForLine(containing: "refusal.reason=capacity", timeout: .seconds(5)) != nil, "\(broker.output)")
        #expect(broker.waitForLine(containing: "refusal.reason=malformed", timeout: .seconds(5)) != nil, "\(broker.output)")
        #expect(broker.process.isRunning)
    }

    /// A REQUEST to the optimizer through the broker; returns its answer (nil: none in time).
    static func request(_ client: Peer, _ id: UInt64, _ body: JSONValue, timeout: Duration = .seconds(10)) throws -> [String: JSONValue]? {
        try client.send(ClientMessage.request(request: id, service: ServiceName.optimizer, body: JSONCoding.encode(body)).frames)
        let reply = try client.toClient(timeout) { if case .reply(id, _) = $0 { true } else { false } }
        guard case .reply(_, let answer)? = reply else { return nil }
        return try JSONValue(parsing: answer).object
    }

    /// A CHECKPOINT update whose manifest lists `files` as given, as a hostile worker sends it.
    static func checkpoint(_ ref: AttemptRef, seq: UInt64, files: [(path: String, size: Double)]) -> [Frame] {
        let manifest: JSONValue = .object([
            "job": .string(ref.job), "attempt": .number(Double(ref.attempt)), "seq": .number(Double(seq)),
            "files": .array(files.enumerated().map { i, file in
                .object(["path": .string(file.path), "sha256": .string(String(repeating: "\(i % 10)", count: 64)), "size": .number(file.size)])
            }),
        ])
        let payload: JSONValue = .object(["loss": .number(0.5), "checkpoint_manifest": manifest])
        return WorkerMessage.update(Update(kind: .checkpoint, attempt: ref, seq: seq, payload: JSONCoding.encode(payload))).frames
    }

    @Test func theOptimizersReproductionsAreRefusedAndItKeepsServing() throws {
        let dir = Harness.scratch.appendingPathComponent("repro-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let (broker, endpoint, _) = try Harness.broker()
        defer { broker.stop() }
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", dir.appendingPathComponent("store.db").path,
                                                  "--checkpoint-max-bytes", "1048576"])
        defer { optimizer.stop() }
        let context = try ZMQContext()
        defer { context.terminate() }
        let client = try Peer(context, endpoint)
        defer { client.close() }
        try client.send(ClientMessage.hello(HelloInfo(client: "repro", name: "repro")).frames)
        #expect(try client.toClient { if case .welcome = $0 { true } else { false } } != nil)
        // The optimizer is up once it answers.
        var up = false
        for attempt in 0..<80 where !up {
            let answer = try Self.request(client, UInt64(100 + attempt), .object(["op": .string("studies")]), timeout: .milliseconds(500))
            up = answer != nil && answer?["unavailable"] == nil
            if !up { Thread.sleep(forTimeInterval: 0.25) }
        }
        #expect(up, "\(optimizer.output)")

        // High: a 700-byte YAML alias bomb (10^10 leaves) submitted as a raw `submit` request.
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
        for (previous, name) in zip(names, names.dropFirst()) {
            bomb += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        bomb += "name: *j\n"
        let refused = try #require(try Self.request(client, 1, .object(["op": .string("submit"), "spec": .string(bomb)])))
        #expect(refused["error"]?.argument.contains("more than 500000 YAML nodes") == true, "\(refused)")

        // A study whose first trial a hostile worker runs.
        let spec = """
            name: repro
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            trial: {command: ["true"], max_retries: 0}
            budget: {max_trials: 2, max_concurrent: 2}
            """
        let submitted = try #require(try Self.request(client, 2, .object(["op": .string("submit"), "spec": .string(spec)])))
        let study = try #require(submitted["study"]?.argument, "\(submitted)")
        let worker = try Peer(context, endpoint)
        defer { worker.close() }
        try worker.send(Self.ready("w-hostile"))
        let assigned = try worker.toWorker { if case .assign = $0 { true } else { false } }
        guard case .assign(let ref, _, _)? = assigned else { Issue.record("no ASSIGN; \(broker.output)"); return }
        try worker.send(WorkerMessage.started(ref).frames)

        // Critical: two files of 2^62 bytes (the optimizer's total overflowed: a crash loop);
        // high: 2^40 and -2^40 (+160 MiB per message, and negative sizes slipped under the
        // limit); medium: a NUL byte in a path. Each is refused, recorded and acknowledged.
        let manifests: [[(path: String, size: Double)]] = [
            [("a", 0x1p62), ("b", 0x1p62)], [("a", 0x1p40), ("b", -0x1p40)], [("a", 3 * 1_048_576), ("b", -2 * 1_048_576)], [("a\u{0}b", 4)],
        ]
        for (i, files) in manifests.enumerated() {
            let seq = UInt64(i + 1)
            try worker.send(Self.checkpoint(ref, seq: seq, files: files))
            let ack = try worker.toWorker { if case .ack(ref.job, ref.lease, seq) = $0 { true } else { false } }
            #expect(ack != nil, "no ACK of checkpoint \(seq) (\(files.map(\.size))); \(optimizer.output.suffix(2_000))")
        }
        // Medium: a worker key reads another trial's checkpoints (FETCH latest of another job).
        let other = ref.job.hasSuffix("/1") ? "\(study)/2" : "\(study)/1"
        try worker.send(WorkerMessage.transfer(.fetch(job: ref.job, lease: ref.lease, request: 7, FetchBody(op: FetchBody.latest, job: other))).frames)
        let answer = try worker.toWorker { if case .transfer(let t) = $0, t.request == 7 { true } else { false } }
        guard case .transfer(let chunk)? = answer else { Issue.record("no answer to the FETCH"); return }
        let header = try JSONDecoder().decode(ChunkHeader.self, from: Data(chunk.body))
        #expect(header.error?.contains("may restore only its own checkpoints") == true, "\(header)")

        // Both processes still serve: the optimizer answers, nothing of the above was kept, and
        // its log names each refusal.
        let status = try #require(try Self.request(client, 3, .object(["op": .string("status"), "study": .string(study)])))
        #expect(status["error"] == nil, "\(status)")
        #expect(optimizer.process.isRunning && broker.process.isRunning)
        #expect(optimizer.waitForLine(containing: "refusal.reason=checkpoint", timeout: .seconds(5)) != nil, "\(optimizer.output)")
        #expect(optimizer.waitForLine(containing: "refusal.reason=spec", timeout: .seconds(5)) != nil, "\(optimizer.output)")
        #expect(broker.waitForLine(containing: "refusal.reason=fetch", timeout: .seconds(5)) != nil, "\(broker.output)")
    }
}

