import Testing
@testable import LoomWire

@Suite struct CodecRoundTrips {
    let ref = AttemptRef(job: "study-1/trial-7", attempt: 2, lease: 0xDEAD_BEEF_0000_0001)

    @Test func workerMessagesRoundTripThroughTheBrokerDecoder() throws {
        let ready = ReadyInfo(worker: "w-1", slots: 4, gpus: 1, heartbeatMs: 1000, liveness: 3,
                              host: "node-a", pid: 42, version: "0.1.0",
                              running: [RunningAttempt(ref)])
        let messages: [WorkerMessage] = [
            .ready(ready), .heartbeat, .started(ref),
            .update(Update(kind: .report, attempt: ref, seq: 3, payload: Array("{\"loss\":1}".utf8))),
            .update(Update(kind: .final, attempt: ref, seq: 4, payload: [])),
            .disconnect,
        ]
        for message in messages {
            #expect(try WireDecoder.inbound(message.frames) == .worker(message))
        }
    }

    @Test func aHeartbeatListingExitedLeasesRoundTripsAndAPlainOneStaysBare() throws {
        let exited = WorkerMessage.exited([1, 0xDEAD_BEEF_0000_0001, .max])
        #expect(exited.frames.count == 3 && exited.frames[2].count == 24, "one frame of big-endian leases")
        #expect(try WireDecoder.inbound(exited.frames) == .worker(exited))
        #expect(WorkerMessage.heartbeat.frames.count == 2, "a plain HEARTBEAT has no frame 2: older brokers read it")
        // A WELCOME that says the broker reads the list; an older one says nothing.
        let welcome = BrokerToWorker.welcome(WelcomeInfo(broker: "b", heartbeatMs: 1000, liveness: 3, exited: true))
        #expect(try WireDecoder.brokerToWorker(welcome.frames) == welcome)
        #expect(String(decoding: welcome.frames[2], as: UTF8.self).contains(#""exited":true"#))
        let old = BrokerToWorker.welcome(WelcomeInfo(broker: "b", heartbeatMs: 1000, liveness: 3))
        #expect(!String(decoding: old.frames[2], as: UTF8.self).contains("exited"))
    }

    @Test func clientMessagesRoundTripThroughTheBrokerDecoder() throws {
        let jobs = (0..<3).map { i in
            JobSubmission(id: "s/\(i)", requirements: Requirements(cpuMilli: 500, gpuMilli: 250, maxAttempts: 3,
                                                                 firstAttempt: 2, flags: Requirements.Flags.resync),
                          payload: Array("{}".utf8))
        }
        let messages: [ClientMessage] = [
            .hello(HelloInfo(client: "opt-1", name: "optimizer")), .heartbeat,
            .submit(request: 9, jobs: jobs), .cancel(request: 10, jobs: ["s/1", "s/2"]),
            .cancel(request: 13, jobs: ["s/3"], reason: "pruned at rung 2 (epoch 3): not in the top 1/3"),
            .query(request: 11, body: Array("{\"what\":\"status\"}".utf8)),
            .request(request: 12, service: "optimizer", body: Array("{\"op\":\"status\"}".utf8)),
            .respond(request: 12, to: "cli-1", body: Array("{}".utf8)),
            .ack(job: "s/1", lease: 77, seq: 5), .disconnect,
        ]
        for message in messages {
            #expect(try WireDecoder.inbound(message.frames) == .client(message))
        }
    }

    @Test func brokerMessagesRoundTripThroughThePeerDecoders() throws {
        let toWorker: [BrokerToWorker] = [
            .welcome(WelcomeInfo(broker: "b-1", heartbeatMs: 250, liveness: 3)), .heartbeat,
            .assign(ref, payload: Array("{\"command\":[\"true\"]}".utf8), token: Array(repeating: 9, count: LeaseToken.size)),
            .ack(job: ref.job, lease: ref.lease, seq: 1), .cancel(job: ref.job, lease: ref.lease, reason: CancelReason.fenced),
            .disconnect(reason: DisconnectReason.reregister), .error("bad"),
        ]
        for message in toWorker { #expect(try WireDecoder.brokerToWorker(message.frames) == message) }
        let toClient: [BrokerToClient] = [
            .welcome(WelcomeInfo(broker: "b-1", heartbeatMs: 1000, liveness: 3)), .heartbeat,
            .submitted(request: 1, accepted: 3), .cancelled(request: 2, count: 1),
            .reply(request: 3, body: Array("{}".utf8)), .request(request: 4, from: "cli-1", body: Array("{}".utf8)),
            .started(ref, worker: "w-1"), .started(ref, worker: "w-2", backup: true),
            .ended(ref, reason: EndedReason.superseded, detail: "attempt 3 of the job finished first"),
            .ended(ref, reason: EndedReason.lost, detail: ""),
            .update(Update(kind: .failed, attempt: ref, seq: 2, payload: [1, 2, 3])),
            .error("nope"), .disconnect(reason: DisconnectReason.shutdown),
        ]
        for message in toClient { #expect(try WireDecoder.brokerToClient(message.frames) == message) }
    }

    /// STARTED's flags frame is there only for a backup copy; ENDED's reason is one of a few words.
    @Test func startedFlagsAndEndedReasonsAreCheckedByTheClientDecoder() throws {
        let h = Wire.clientHeader
        let started = [h, [Command.started.rawValue]] + ref.frames + [Array("w".utf8)]
        #expect(try WireDecoder.brokerToClient(started) == .started(ref, worker: "w"))
        #expect(BrokerToClient.started(ref, worker: "w").frames == started, "no flags frame when no flag is set")
        #expect(try WireDecoder.brokerToClient(started + [[1]]) == .started(ref, worker: "w", backup: true))
        let damaged: [([Frame], String)] = [
            (started + [[2]], "field flags unknown bits 2"),
            (started + [[1, 0]], "flags"),
            (started + [[1], [1]], "4 or 5"),
            ([h, [Command.ended.rawValue]] + ref.frames + [Array("vanished".utf8), []], "must be one of failed, lost, stalled, superseded, not vanished"),
            ([h, [Command.ended.rawValue]] + ref.frames + [Array("lost".utf8)], "ENDED"),
        ]
        for (frames, text) in damaged {
            #expect(throws: WireError.self) { try WireDecoder.brokerToClient(frames) }
            do { _ = try WireDecoder.brokerToClient(frames) } catch { #expect(error.description.contains(text), "\(error)") }
        }
    }

    /// A reason follows an empty frame, alone: anything else after the separator is refused.
    @Test func cancelJobsReasonsAreFramedExactly() {
        let head: [Frame] = [Wire.clientHeader, [Command.cancelJobs.rawValue], BigEndian.frame(UInt64(1))]
        let bad: [[Frame]] = [
            head + [Array("s/1".utf8), [], Array("a".utf8), Array("b".utf8)],   // two reason frames
            head + [Array("s/1".utf8), []],                                    // separator, no reason
            head + [Array("s/1".utf8), [], []],                                // empty reason
            head + [[], Array("why".utf8)],                                    // a reason, no job
        ]
        for frames in bad {
            #expect(throws: WireError.self) { try WireDecoder.inbound(frames) }
        }
    }

    @Test func integersAreBigEndian() {
        #expect(BigEndian.frame(UInt32(0x0102_0304)) == [1, 2, 3, 4])
        #expect(BigEndian.frame(UInt64(0x0102_0304_0506_0708)) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(BigEndian.uint64([1, 2, 3, 4, 5, 6, 7, 8]) == 0x0102_0304_0506_0708)
        #expect(BigEndian.uint32([1, 2, 3]) == nil)
    }

    @Test func feedEventsRoundTrip() {
        var w = JSONObjectWriter()
        w.add("event", "report")
        w.add("attempt", 2)
        w.add("note", "quote \" and \\ and\nnewline")
        let body = w.finish()
        let event = FeedEvent(topic: "job/s/1/report", seq: 12, body: body, payload: [7])
        #expect(FeedEvent(frames: event.frames) == event)
        #expect(String(decoding: body, as: UTF8.self) == #"{"event":"report","attempt":2,"note":"quote \" and \\ and\nnewline"}"#)
    }
}

@Suite struct MalformedInput {
    @Test func wrongVersionNamesBothVersions() {
        #expect(throws: WireError.unsupportedVersion(found: "HLW2", supported: "HLW1")) {
            try WireDecoder.inbound([Array("HLW2".utf8), [Command.heartbeat.rawValue]])
        }
    }

    @Test func eachKindOfDamageHasItsOwnCategory() {
        let w = Wire.workerHeader, c = Wire.clientHeader
        let cases: [([Frame], String)] = [
            ([], "empty"),
            ([w], "empty"),
            ([Array("GET / HTTP/1.1".utf8), [1]], "protocol"),
            ([Array("HLC9".utf8), [2]], "version"),
            ([w, [0x77]], "command"),
            ([w, [1, 2]], "field-size"),
            ([w, [Command.heartbeat.rawValue], [0], [0]], "frames"),
            ([w, [Command.heartbeat.rawValue], [0]], "value"),
            ([w, [Command.heartbeat.rawValue], []], "value"),
            ([w, [Command.started.rawValue], Array("j".utf8), [0, 0, 1], BigEndian.frame(UInt64(1))], "field-size"),
            ([w, [Command.started.rawValue], [0xFF, 0xFE], BigEndian.frame(UInt32(1)), BigEndian.frame(UInt64(1))], "text"),
            ([w, [Command.started.rawValue], [], BigEndian.frame(UInt32(1)), BigEndian.frame(UInt64(1))], "text"),
            ([w, [Command.started.rawValue], Array("j".utf8), BigEndian.frame(UInt32(0)), BigEndian.frame(UInt64(1))], "value"),
            ([w, [Command.ready.rawValue], Array("{not json".utf8)], "json"),
            ([w, [Command.ready.rawValue], Array(#"{"worker":"w"}"#.utf8)], "json"),
            ([c, [Command.submit.rawValue], BigEndian.frame(UInt64(1)), Array("j".utf8), [0, 0], []], "field-size"),
            ([c, [Command.submit.rawValue], BigEndian.frame(UInt64(1)), Array("j".utf8)], "frames"),
            ([c, [Command.assign.rawValue]], "command"),
        ]
        for (frames, category) in cases {
            do {
                _ = try WireDecoder.inbound(frames)
                Issue.record("accepted \(frames)")
            } catch {
                #expect(error.category == category, "\(frames): \(error)")
                #expect(!error.description.isEmpty)
            }
        }
    }

    @Test func jsonErrorsNameTheMissingKey() {
        do {
            _ = try WireDecoder.inbound([Wire.workerHeader, [Command.ready.rawValue], Array(#"{"worker":"w"}"#.utf8)])
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("missing key"))
        }
    }

    @Test func jobSpecDecodingRejectsAnEmptyCommand() throws {
        #expect(throws: WireError.self) { try JobSpec.decode(Array(#"{"command":[]}"#.utf8)) }
        #expect(throws: WireError.self) { try JobSpec.decode(Array(#"{"config":{}}"#.utf8)) }
        let spec = JobSpec(command: ["python3", "t.py"], config: ["lr": .number(0.1), "opt": .string("sgd")], timeoutS: 5)
        #expect(try JobSpec.decode(spec.payload) == spec)
    }

    /// Every field survives the hand-written encoder and decoder, as Foundation's would write it:
    /// a field added to `JobSpec` and forgotten in either fails here.
    @Test func everyJobSpecFieldRoundTripsAsFoundationWritesIt() throws {
        let spec = JobSpec(command: ["python3", "train.py", "--lr", "{lr}"], config: ["lr": .number(0.01), "k": .string("a")],
                           env: ["A": "1"], cwd: "/tmp", timeoutS: 60, stallTimeoutS: 30, gpu: 0.5, budget: 9,
                           restoreFrom: "s/4", workerLabels: ["trusted"])
        #expect(spec.payload == JSONCoding.encode(spec))
        #expect(try JobSpec.decode(spec.payload) == spec)
        let mirror = Mirror(reflecting: spec)
        #expect(mirror.children.allSatisfy { child in
            guard let optional = child.value as? (any OptionalProtocolForTests) else { return true }
            return !optional.isNil
        }, "the spec above sets every field, so each one is checked")
    }

    @Test func jobSpecCarriesTheBudgetAndTheJobToRestoreFrom() throws {
        let spec = JobSpec(command: ["t"], budget: 9, restoreFrom: "pbt-1/4")
        #expect(try JobSpec.decode(spec.payload) == spec)
        let decoded = try JobSpec.decode(Array(#"{"command":["t"],"budget":2.5,"restore_from":"s-1/2"}"#.utf8))
        #expect(decoded.budget == 2.5 && decoded.restoreFrom == "s-1/2")
        let plain = try JobSpec.decode(Array(#"{"command":["t"]}"#.utf8))
        #expect(plain.budget == nil && plain.restoreFrom == nil)
        #expect(!String(decoding: plain.payload, as: UTF8.self).contains("budget"), "absent fields stay absent")
    }

    @Test func argumentsRenderNumbersAsUsersWriteThem() {
        #expect(JSONValue.number(3).argument == "3")
        #expect(JSONValue.number(0.001).argument == "0.001")
        #expect(JSONValue.string("adam").argument == "adam")
        #expect(JSONValue.bool(true).argument == "true")
    }
}

/// Lets the round-trip test see whether a reflected optional field is set.
protocol OptionalProtocolForTests { var isNil: Bool { get } }
extension Optional: OptionalProtocolForTests { var isNil: Bool { self == nil } }
