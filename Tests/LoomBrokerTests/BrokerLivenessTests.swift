import Testing
@testable import LoomBroker
import LoomWire

@Suite struct BrokerLiveness {
    @Test func idleWorkersReceiveAHeartbeatEveryInterval() {
        var h = BrokerHarness()
        h.ready("w1")
        #expect(BrokerHarness.toWorker("w1", h.advance(to: .milliseconds(900))).isEmpty)
        #expect(BrokerHarness.toWorker("w1", h.advance(to: .milliseconds(1000))) == [.heartbeat])
        h.worker("w1", .heartbeat)
        #expect(BrokerHarness.toWorker("w1", h.advance(to: .milliseconds(1500))).isEmpty)
        #expect(BrokerHarness.toWorker("w1", h.advance(to: .milliseconds(2000))) == [.heartbeat])
    }

    @Test func silentWorkerIsLostAfterLivenessIntervalsAndItsAttemptRerunsElsewhereAsTheNextAttempt() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let first = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        h.ready("w2")
        h.advance(to: .milliseconds(2900))
        h.worker("w2", .heartbeat)
        #expect(!BrokerHarness.topics(h.log).contains("worker/w1/lost"))
        let expiry = h.advance(to: .milliseconds(3000))
        #expect(BrokerHarness.topics(expiry).prefix(2) == ["worker/w1/lost", "job/j1/requeued"])
        let second = try #require(BrokerHarness.assigned("w2", expiry).first)
        #expect(second.job == "j1" && second.attempt == 2 && second.lease != first.lease)
        #expect(h.machine.counters.workersLost == 1 && h.machine.counters.requeued == 1)
        let ended = BrokerHarness.ended("c1", expiry)
        #expect(ended.map(\.ref) == [first] && ended.map(\.reason) == [EndedReason.lost])
        #expect(ended.first?.detail.hasPrefix("worker w1 ") == true)
    }

    @Test func eachWholeIntervalOfSilenceIsOneMissedHeartbeatCountedOnce() {
        var h = BrokerHarness()
        h.ready("w1")   // heartbeat 1 s, liveness 3
        h.advance(to: .milliseconds(900))
        #expect(h.machine.counters.heartbeatsMissed == 0)
        h.advance(to: .milliseconds(1_000))
        h.advance(to: .milliseconds(1_500))
        h.advance(to: .milliseconds(2_500))
        #expect(h.machine.counters.heartbeatsMissed == 2, "2.5 intervals of silence, swept three times")
        h.worker("w1", .heartbeat)
        h.advance(to: .milliseconds(3_400))
        #expect(h.machine.counters.heartbeatsMissed == 2, "heard at 2.5 s: a new silence starts")
        h.advance(to: .milliseconds(3_600))
        #expect(h.machine.counters.heartbeatsMissed == 3)
        // Silent until declared dead, with one late sweep: `liveness` missed in all, not more.
        h.advance(to: .milliseconds(9_000))
        #expect(BrokerHarness.topics(h.log).contains("worker/w1/lost"))
        #expect(h.machine.counters.heartbeatsMissed == 2 + 3)
        #expect(h.machine.counters.workersLost == 1)
    }

    @Test func aRequeuedAttemptPrefersAWorkerThatHasNotLostIt() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.ready("w2")
        h.hello("c1")
        let actions = h.submit("c1", ["j1", "j2"])
        let onW1 = try #require(BrokerHarness.assigned("w1", actions).first)
        // w1 says goodbye, comes back at once with a fresh process under the same id.
        h.worker("w1", .disconnect)
        let back = h.ready("w1b", id: "w1")
        #expect(BrokerHarness.assigned("w1b", back).map(\.job) == [onW1.job], "only w1 has room, so it takes it back")
        // With a choice, the worker that lost the attempt is avoided.
        var g = BrokerHarness()
        g.ready("a", slots: 2)
        g.hello("c1")
        let ref = try #require(BrokerHarness.assigned("a", g.submit("c1", ["x"])).first)
        g.ready("b", slots: 2)
        g.worker("a", .disconnect)
        g.ready("a2", id: "a", slots: 2)
        g.worker("b", .heartbeat)
        #expect(ref.job == "x")
        let reassigned = g.log.compactMap { action -> String? in
            guard case .send(let to, let frames) = action, case .assign(let r, _, _)? = try? WireDecoder.brokerToWorker(frames),
                  r.attempt == 2 else { return nil }
            return String(decoding: to, as: UTF8.self)
        }
        #expect(reassigned == ["b"])
    }

    @Test func workerThatSaysDisconnectHasItsAttemptsRequeuedAtOnce() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.ready("w2")
        h.hello("c1")
        let actions = h.submit("c1", ["j1", "j2"])
        let ref = try #require(BrokerHarness.assigned("w1", actions).first)
        h.update("w2", .final, try #require(BrokerHarness.assigned("w2", actions).first), seq: 1)
        let bye = h.worker("w1", .disconnect)
        #expect(BrokerHarness.topics(bye).prefix(2) == ["worker/w1/left", "job/\(ref.job)/requeued"])
        #expect(BrokerHarness.assigned("w2", bye).map(\.attempt) == [2])
    }

    @Test func returningWorkerIsToldToReregisterAndItsReassignedAttemptIsFenced() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let old = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        h.worker("w1", .started(old))
        h.ready("w2")
        h.advance(to: .seconds(2))
        h.worker("w2", .heartbeat)
        let lost = h.advance(to: .seconds(3))
        let new = try #require(BrokerHarness.assigned("w2", lost).first)
        // w1 was only partitioned: its next heartbeat is answered with "reregister".
        h.advance(to: .seconds(4))
        #expect(BrokerHarness.toWorker("w1", h.worker("w1", .heartbeat)) == [.disconnect(reason: DisconnectReason.reregister)])
        // Its READY still holds the old attempt: fenced.
        let back = h.ready("w1", running: [old])
        #expect(BrokerHarness.toWorker("w1", back).contains(.cancel(job: "j1", lease: old.lease, reason: CancelReason.fenced)))
        #expect(BrokerHarness.topics(back).contains("job/j1/fenced"))
        #expect(BrokerHarness.assigned("w1", back).isEmpty, "the fenced attempt still occupies w1's slot")
        // What it sends for the old attempt is stale: acknowledged to it, never delivered.
        let late = h.update("w1", .final, old, seq: 3)
        #expect(BrokerHarness.delivered("c1", late).isEmpty)
        #expect(BrokerHarness.toWorker("w1", late) == [.ack(job: "j1", lease: old.lease, seq: 3)])
        #expect(BrokerHarness.topics(late) == ["job/j1/stale"])
        // The current attempt's result is the one delivered.
        let result = h.update("w2", .final, new, seq: 1)
        #expect(BrokerHarness.delivered("c1", result).map(\.attempt) == [new])
        #expect(h.machine.counters.fenced == 1 && h.machine.counters.stale == 1)
    }

    @Test func aWorkerReturningWithTheAttemptWhoseResultAwaitsTheClientIsNotFenced() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        h.worker("w1", .started(ref))
        h.update("w1", .final, ref, seq: 1)
        // The client has not acknowledged the result yet, so w1 still holds the attempt when it
        // comes back on a new connection (found by the simulation, seed 78).
        let back = h.ready("w1-again", id: "w1", running: [ref])
        #expect(BrokerHarness.toWorker("w1-again", back).allSatisfy { if case .cancel = $0 { false } else { true } })
        #expect(!BrokerHarness.topics(back).contains("job/j1/fenced"))
        #expect(h.machine.counters.fenced == 0)
        // Its slot is free: the next job starts there.
        #expect(BrokerHarness.assigned("w1-again", h.submit("c1", ["j2"])).map(\.job) == ["j2"])
        // The client's ACK reaches the worker on its new connection and ends the job.
        let ack = h.client("c1", .ack(job: "j1", lease: ref.lease, seq: 1))
        #expect(BrokerHarness.toWorker("w1-again", ack) == [.ack(job: "j1", lease: ref.lease, seq: 1)])
    }

    @Test func returningWorkerTakesBackAnAttemptThatWasStillQueued() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        h.worker("w1", .started(ref))
        h.advance(to: .seconds(3))
        #expect(h.status()["queued"] == .number(1))
        let back = h.ready("w1", running: [ref])
        #expect(BrokerHarness.assigned("w1", back).isEmpty, "no second attempt")
        #expect(BrokerHarness.topics(back).contains("job/j1/reclaimed"))
        let result = h.update("w1", .final, ref, seq: 1)
        #expect(BrokerHarness.delivered("c1", result).map(\.attempt) == [ref])
    }

    @Test func attemptsAWorkerNoLongerHoldsAreRequeuedWhenItReregisters() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        // The worker process restarted under the same id and holds nothing.
        let again = h.ready("w1-new", id: "w1", running: [])
        let rerun = try #require(BrokerHarness.assigned("w1-new", again).first)
        #expect(rerun.job == "j1" && rerun.attempt == ref.attempt + 1)
    }

    @Test func exhaustedAttemptsFailTheJobOnTheBrokersAccount() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"], requirements: Requirements(maxAttempts: 1))).first)
        let lost = h.advance(to: .seconds(3))
        let failure = try #require(BrokerHarness.delivered("c1", lost).first)
        #expect(failure.kind == .failed && failure.attempt == ref && failure.seq == .max)
        #expect(String(decoding: failure.payload, as: UTF8.self).contains("all 1 attempts are used"))
        h.client("c1", .ack(job: "j1", lease: ref.lease, seq: .max))
        #expect(h.status()["jobs"] == .object([:]))
    }

    @Test func unreachableWorkerIsLostAtOnce() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.ready("w2")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        let actions = h.machine.peerUnreachable(BrokerHarness.identity("w1"), now: h.now)
        #expect(BrokerHarness.topics(actions).first == "worker/w1/lost")
        #expect(BrokerHarness.assigned("w2", actions).map(\.attempt) == [ref.attempt + 1])
    }

    @Test func silentClientLosesItsConnectionButNotItsJobs() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1", live: false)
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        for second in 1...3 {
            h.advance(to: .seconds(second))
            h.worker("w1", .heartbeat)
        }
        #expect(BrokerHarness.toClient("c1", h.client("c1", .heartbeat)) == [.disconnect(reason: DisconnectReason.reregister)])
        let final = h.update("w1", .final, ref, seq: 1)
        #expect(BrokerHarness.delivered("c1", final).isEmpty)
        #expect(BrokerHarness.delivered("c1", h.hello("c1")).map(\.attempt) == [ref])
    }
}

@Suite struct BrokerRecovery {
    @Test func restartedBrokerAdoptsWhatWorkersStillRunAndHoldsOtherResyncedJobsForTheWindow() throws {
        var h = BrokerHarness(recoveryWindow: .seconds(5))
        let running = AttemptRef(job: "j1", attempt: 1, lease: 99 << 32 | 1)
        h.hello("c1")
        let resync = Requirements(firstAttempt: 2, flags: Requirements.Flags.resync)
        h.submit("c1", ["j1", "j2"], requirements: resync)
        let back = h.ready("w1", slots: 2, running: [running])
        #expect(BrokerHarness.assigned("w1", back).isEmpty, "j2 is held for the recovery window")
        #expect(BrokerHarness.topics(back).contains("job/j1/reclaimed"))
        for offset in [1000, 2000, 3000, 4000, 4900] {
            h.advance(to: .milliseconds(offset))
            h.worker("w1", .heartbeat)
        }
        let release = h.advance(to: .seconds(5))
        let j2 = try #require(BrokerHarness.assigned("w1", release).first)
        #expect(j2.job == "j2" && j2.attempt == 2)
        // The adopted attempt's result reaches the client under the lease the worker holds.
        let result = h.update("w1", .final, running, seq: 4)
        #expect(BrokerHarness.delivered("c1", result).map(\.attempt) == [running])
    }

    @Test func orphanResultReportedBeforeItsClientResyncsIsDeliveredAfterTheResync() throws {
        var h = BrokerHarness(recoveryWindow: .seconds(5))
        let ref = AttemptRef(job: "j1", attempt: 1, lease: 99 << 32 | 1)
        h.ready("w1", running: [ref])
        let final = h.update("w1", .final, ref, seq: 2)
        #expect(BrokerHarness.topics(final) == ["job/j1/finished"])
        h.hello("c1")
        let resync = h.submit("c1", ["j1"], requirements: Requirements(firstAttempt: 2, flags: Requirements.Flags.resync))
        #expect(BrokerHarness.delivered("c1", resync).map(\.attempt) == [ref])
        #expect(BrokerHarness.assigned("w1", resync).isEmpty, "nothing runs twice")
        let ack = h.client("c1", .ack(job: "j1", lease: ref.lease, seq: 2))
        #expect(BrokerHarness.toWorker("w1", ack) == [.ack(job: "j1", lease: ref.lease, seq: 2)])
    }

    @Test func orphanWhoseWorkerDiesWaitsForItsSpecAndThenRuns() throws {
        var h = BrokerHarness()
        let ref = AttemptRef(job: "j1", attempt: 3, lease: 99 << 32 | 1)
        h.ready("w1", running: [ref])
        h.worker("w1", .disconnect)
        h.ready("w2")
        #expect(h.status()["jobs"] == .object(["awaiting_spec": .number(1)]))
        h.hello("c1")
        let resync = h.submit("c1", ["j1"], requirements: Requirements(firstAttempt: 4, flags: Requirements.Flags.resync))
        #expect(BrokerHarness.assigned("w2", resync).map(\.attempt) == [4])
    }

    @Test func unknownClientConnectionIsAskedToSayHelloAgain() {
        var h = BrokerHarness()
        let actions = h.submit("stranger", ["j1"])
        #expect(BrokerHarness.toClient("stranger", actions) == [.disconnect(reason: DisconnectReason.reregister)])
        #expect(h.status()["jobs"] == .object([:]))
    }

    @Test func malformedMessagesAreAnsweredWithAnErrorAndCountedByCategory() {
        var h = BrokerHarness()
        let cases: [(Frame, [Frame], String)] = [
            (Array("a".utf8), [Array("HLW9".utf8), [Command.heartbeat.rawValue]], "version"),
            (Array("b".utf8), [Wire.workerHeader, [Command.started.rawValue], Array("j".utf8)], "frames"),
            (Array("c".utf8), [Wire.clientHeader, [0x7E]], "command"),
            (Array("d".utf8), [[0xDE, 0xAD]], "empty"),
            (Array("e".utf8), [[0xDE, 0xAD, 0xBE, 0xEF], [1]], "protocol"),
            (Array("f".utf8), [Wire.workerHeader, [Command.ready.rawValue], Array("{".utf8)], "json"),
        ]
        for (identity, frames, category) in cases {
            let actions = h.machine.receive(from: identity, frames: frames, now: h.now)
            guard case .send(identity, let reply)? = actions.first, reply.count == 3, reply[1] == [Command.error.rawValue] else {
                Issue.record("no ERROR for \(category)")
                continue
            }
            #expect(h.machine.counters.rejected[category] == 1, "\(category): \(String(decoding: reply[2], as: UTF8.self))")
        }
    }
}
