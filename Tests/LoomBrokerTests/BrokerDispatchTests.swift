import Testing
@testable import LoomBroker
import LoomWire

@Suite struct BrokerDispatch {
    @Test func readyIsWelcomedWithTheProposedHeartbeatClampedToTheBrokersRange() {
        var h = BrokerHarness()
        let fast = BrokerHarness.toWorker("w1", h.ready("w1", heartbeatMs: 10))
        #expect(fast.first == .welcome(WelcomeInfo(broker: "b-test", heartbeatMs: 50, liveness: 3, exited: true)))
        let slow = BrokerHarness.toWorker("w2", h.ready("w2", heartbeatMs: 2500))
        #expect(slow.first == .welcome(WelcomeInfo(broker: "b-test", heartbeatMs: 2500, liveness: 3, exited: true)))
        #expect(BrokerHarness.topics(h.log).filter { $0.hasSuffix("/joined") } == ["worker/w1/joined", "worker/w2/joined"])
    }

    @Test func clientsAreWelcomedWithTheFeedEndpointsOnceBound() {
        var h = BrokerHarness()
        #expect(BrokerHarness.toClient("c1", h.hello("c1")) == [.welcome(WelcomeInfo(broker: "b-test", heartbeatMs: 1000, liveness: 3))])
        h.machine.announceFeed(feed: "tcp://0.0.0.0:7001", replay: "tcp://0.0.0.0:7002")
        #expect(BrokerHarness.toClient("c2", h.hello("c2", id: "d")) == [.welcome(WelcomeInfo(
            broker: "b-test", heartbeatMs: 1000, liveness: 3, feed: "tcp://0.0.0.0:7001", replay: "tcp://0.0.0.0:7002"))])
    }

    @Test func submittedJobIsAssignedAndItsStartIsForwardedToItsClient() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let actions = h.submit("c1", ["j1"])
        #expect(BrokerHarness.toClient("c1", actions).contains(.submitted(request: 1, accepted: 1)))
        let ref = try #require(BrokerHarness.assigned("w1", actions).first)
        #expect(ref.job == "j1" && ref.attempt == 1)
        #expect(ref.lease >> 32 == 7, "leases carry the broker's epoch")
        let started = h.worker("w1", .started(ref))
        #expect(BrokerHarness.toClient("c1", started) == [.started(ref, worker: "w1")])
        #expect(BrokerHarness.topics(started) == ["job/j1/started"])
    }

    @Test func jobsAreSpreadRoundRobinAndNeverExceedTheSlots() throws {
        var h = BrokerHarness()
        h.ready("w1", slots: 2)
        h.ready("w2", slots: 2)
        h.hello("c1")
        let actions = h.submit("c1", (1...5).map { "j\($0)" })
        let onW1 = BrokerHarness.assigned("w1", actions)
        let onW2 = BrokerHarness.assigned("w2", actions)
        #expect(onW1.count == 2 && onW2.count == 2)
        #expect(onW1.first?.job == "j1" && onW2.first?.job == "j2", "alternating")
        #expect(h.status()["queued"] == .number(1))
        let done = h.update("w1", .final, onW1[0], seq: 1)
        #expect(BrokerHarness.assigned("w1", done).map(\.job) == ["j5"], "a freed slot takes the next job")
    }

    @Test func fractionalRequirementsShareASlotAndGPUJobsGoOnlyToGPUWorkers() {
        var h = BrokerHarness()
        h.ready("cpu", slots: 1)
        h.ready("gpu", slots: 1, gpus: 1)
        h.hello("c1")
        let halves = h.submit("c1", ["g1", "g2", "g3"], requirements: Requirements(cpuMilli: 0, gpuMilli: 500))
        #expect(BrokerHarness.assigned("gpu", halves).map(\.job) == ["g1", "g2"])
        #expect(BrokerHarness.assigned("cpu", halves).isEmpty)
        #expect(h.status()["queued"] == .number(1))
    }

    @Test func aJobThatFitsNoWorkerDoesNotHoldUpTheOnesBehindItAndIsReportedUnsatisfiable() {
        var h = BrokerHarness()
        h.ready("w1", slots: 1)
        h.hello("c1")
        h.submit("c1", ["big"], requirements: Requirements(cpuMilli: 4000))
        h.submit("c1", ["gpu"], requirements: Requirements(cpuMilli: 0, gpuMilli: 500))
        let actions = h.submit("c1", ["small"])
        #expect(BrokerHarness.assigned("w1", actions).map(\.job) == ["small"])
        guard case .array(let stuck)? = h.status()["unsatisfiable"] else {
            Issue.record("no unsatisfiable list in the status")
            return
        }
        #expect(stuck.compactMap { $0.object?["job"]?.argument } == ["big", "gpu"])
        #expect(stuck.first?.object?["reason"]?.argument.contains("largest connected worker has cpu 1.0") == true)
        // A worker that can hold it arrives: it is no longer unsatisfiable, and it runs.
        let big = h.ready("w2", slots: 4)
        #expect(BrokerHarness.assigned("w2", big).map(\.job) == ["big"])
        guard case .array(let left)? = h.status()["unsatisfiable"] else { return }
        #expect(left.compactMap { $0.object?["job"]?.argument } == ["gpu"])
    }

    @Test func resultIsDeliveredOnceAndTheJobIsForgottenOnTheClientsAcknowledgement() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        let report = h.update("w1", .report, ref, seq: 1)
        #expect(BrokerHarness.delivered("c1", report).map(\.seq) == [1])
        let ackReport = h.client("c1", .ack(job: "j1", lease: ref.lease, seq: 1))
        #expect(BrokerHarness.toWorker("w1", ackReport) == [.ack(job: "j1", lease: ref.lease, seq: 1)])
        let final = h.update("w1", .final, ref, seq: 2)
        #expect(BrokerHarness.delivered("c1", final).map(\.kind) == [.final])
        #expect(BrokerHarness.topics(final) == ["job/j1/finished"])
        // The worker resends before it sees the ACK: delivered again (the client de-duplicates),
        // but published once.
        let resend = h.update("w1", .final, ref, seq: 2)
        #expect(BrokerHarness.topics(resend).isEmpty)
        let ack = h.client("c1", .ack(job: "j1", lease: ref.lease, seq: 2))
        #expect(BrokerHarness.toWorker("w1", ack) == [.ack(job: "j1", lease: ref.lease, seq: 2)])
        #expect(h.status()["jobs"] == .object([:]))
        // A resend after the job is gone is stale: acknowledged to the worker, never delivered.
        let late = h.update("w1", .final, ref, seq: 2)
        #expect(BrokerHarness.delivered("c1", late).isEmpty)
        #expect(BrokerHarness.toWorker("w1", late) == [.ack(job: "j1", lease: ref.lease, seq: 2)])
        #expect(h.machine.counters.stale == 1)
    }

    @Test func reportsArePublishedOnceWhateverTheResends() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        h.update("w1", .report, ref, seq: 1)
        h.update("w1", .report, ref, seq: 2)
        h.update("w1", .report, ref, seq: 1)
        h.update("w1", .report, ref, seq: 2)
        #expect(BrokerHarness.topics(h.log).filter { $0 == "job/j1/report" }.count == 2)
        let seqs = BrokerHarness.feedEvents(h.log).map(\.seq)
        #expect(seqs == Array(1...UInt64(seqs.count)), "feed sequence numbers have no gaps")
    }

    @Test func aTerminalResultWaitsForItsClientToSayHelloAgain() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        h.client("c1", .disconnect)
        let final = h.update("w1", .final, ref, seq: 1)
        #expect(BrokerHarness.delivered("c1", final).isEmpty)
        let welcome = h.hello("c2")
        #expect(BrokerHarness.delivered("c2", welcome).map(\.kind) == [.final])
    }

    @Test func cancelStopsRunningAttemptsAndDropsQueuedJobs() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1", "j2"])).first)
        let actions = h.client("c1", .cancel(request: 5, jobs: ["j1", "j2", "nope"]))
        #expect(BrokerHarness.toWorker("w1", actions) == [.cancel(job: "j1", lease: ref.lease, reason: CancelReason.cancelled)])
        #expect(BrokerHarness.toClient("c1", actions) == [.cancelled(request: 5, count: 2)])
        #expect(BrokerHarness.assigned("w1", actions).isEmpty, "j2 is not started while j1 still stops")
        // The stopped attempt's FAILED is stale: acknowledged, not delivered; its slot is free.
        let failed = h.update("w1", .failed, ref, seq: 1)
        #expect(BrokerHarness.delivered("c1", failed).isEmpty)
        #expect(BrokerHarness.toWorker("w1", failed) == [.ack(job: "j1", lease: ref.lease, seq: 1)])
        let next = h.submit("c1", ["j3"])
        #expect(BrokerHarness.assigned("w1", next).map(\.job) == ["j3"])
    }

    /// A scheduler's verdict travels with CANCEL_JOBS to the feed, so a subscriber tells a pruned
    /// trial from a paused one; the worker is told `cancelled` either way.
    @Test func aCancelReasonIsPublishedOnTheCancelledEvent() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["s/1"])).first)
        let actions = h.client("c1", .cancel(request: 5, jobs: ["s/1"], reason: "paused at rung 1 (epoch 1)"))
        #expect(BrokerHarness.toWorker("w1", actions) == [.cancel(job: "s/1", lease: ref.lease, reason: CancelReason.cancelled)])
        let cancelled = try #require(BrokerHarness.feedEvents(actions).first { $0.topic == "job/s/1/cancelled" })
        let body = try JSONValue(parsing: cancelled.body)
        #expect(body.object?["reason"] == .string("paused at rung 1 (epoch 1)"))
    }

    @Test func shutdownTellsWorkersToStopAndNothingMoreIsDispatched() {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let actions = h.machine.shutdown(shutdownWorkers: true, now: h.now)
        #expect(BrokerHarness.toWorker("w1", actions) == [.disconnect(reason: DisconnectReason.shutdown)])
        #expect(BrokerHarness.topics(actions) == ["broker/stopping"])
        #expect(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).isEmpty)
    }

    @Test func queryOfJobsNamesEachJobsState() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        h.submit("c1", ["a", "b"])
        let actions = h.client("c1", .query(request: 3, body: Array(#"{"what":"jobs","ids":["a","b","c"]}"#.utf8)))
        guard case .reply(3, let body)? = BrokerHarness.toClient("c1", actions).first else {
            Issue.record("no REPLY")
            return
        }
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.contains(#""job":"a","state":"assigned""#))
        #expect(text.contains(#""job":"b","state":"queued""#))
        #expect(text.contains(#""job":"c","state":"unknown""#))
        let bad = h.client("c1", .query(request: 4, body: Array(#"{"what":"everything"}"#.utf8)))
        guard case .error(let message)? = BrokerHarness.toClient("c1", bad).first else {
            Issue.record("no ERROR for an unknown query")
            return
        }
        #expect(message.contains("everything"))
    }
}

@Suite struct BrokerServiceRequests {
    @Test func requestsGoToTheServiceProviderAndItsAnswerBackToTheRequester() {
        var h = BrokerHarness()
        h.client("opt", .hello(HelloInfo(client: "optimizer-1", name: "optimizer", services: [ServiceName.optimizer])))
        h.hello("cli", id: "cli-1")
        let forwarded = h.client("cli", .request(request: 8, service: ServiceName.optimizer, body: Array(#"{"op":"status"}"#.utf8)))
        #expect(BrokerHarness.toClient("opt", forwarded) == [.request(request: 8, from: "cli-1", body: Array(#"{"op":"status"}"#.utf8))])
        let answered = h.client("opt", .respond(request: 8, to: "cli-1", body: Array("{}".utf8)))
        #expect(BrokerHarness.toClient("cli", answered) == [.reply(request: 8, body: Array("{}".utf8))])
    }

    @Test func aRequestForAServiceNobodyProvidesIsAnsweredWithAnError() {
        var h = BrokerHarness()
        h.hello("cli", id: "cli-1")
        let actions = h.client("cli", .request(request: 2, service: ServiceName.optimizer, body: Array("{}".utf8)))
        guard case .reply(2, let body)? = BrokerHarness.toClient("cli", actions).first else {
            Issue.record("no REPLY")
            return
        }
        #expect(String(decoding: body, as: UTF8.self) == #"{"error":"no optimizer is connected to this broker","unavailable":true}"#)
    }
}
