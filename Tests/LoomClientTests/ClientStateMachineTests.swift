import Testing
@testable import LoomClient
import LoomWire

@Suite struct ClientStateMachineBehaviour {
    let t0 = ContinuousClock.now
    let config = ClientConfig(clientID: "c-1", name: "test")

    func welcome(_ broker: String) -> [Frame] {
        BrokerToClient.welcome(WelcomeInfo(broker: broker, heartbeatMs: 1000, liveness: 3)).frames
    }

    func job(_ id: String) -> JobSubmission {
        JobSubmission(id: id, payload: JobSpec(command: ["true"]).payload)
    }

    func sentMessages(_ actions: [ClientAction]) -> [ClientMessage] {
        actions.compactMap { action in
            guard case .send(let frames) = action, case .client(let m)? = try? WireDecoder.inbound(frames) else { return nil }
            return m
        }
    }

    func update(_ kind: UpdateKind, _ job: String, attempt: UInt32 = 1, lease: UInt64 = 7, seq: UInt64) -> Update {
        Update(kind: kind, attempt: AttemptRef(job: job, attempt: attempt, lease: lease), seq: seq, payload: Array("{}".utf8))
    }

    @Test func startConnectsAndSaysHello() {
        var m = ClientStateMachine(config: config, now: t0)
        let actions = m.start(now: t0)
        #expect(actions.first == .connect)
        #expect(sentMessages(actions) == [.hello(HelloInfo(client: "c-1", name: "test"))])
    }

    @Test func secondWelcomeResubmitsOutstandingJobsWithResyncAndNextAttempt() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b-1"), now: t0)
        _ = m.submit([job("j1"), job("j2")], now: t0)
        _ = m.received(BrokerToClient.started(AttemptRef(job: "j1", attempt: 2, lease: 9), worker: "w").frames, now: t0)
        let (events, actions) = m.received(welcome("b-2"), now: t0 + .seconds(1))
        #expect(events == [.connected(WelcomeInfo(broker: "b-2", heartbeatMs: 1000, liveness: 3), resynced: 2)])
        guard case .submit(_, let jobs)? = sentMessages(actions).first else {
            Issue.record("no SUBMIT after the second WELCOME")
            return
        }
        #expect(jobs.map(\.id) == ["j1", "j2"])
        #expect(jobs.allSatisfy { $0.requirements.isResync })
        #expect(jobs[0].requirements.firstAttempt == 3)
        #expect(jobs[1].requirements.firstAttempt == 1)
    }

    @Test func updatesAreDeliveredOncePerLeaseAndSequence() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        _ = m.submit([job("j")], now: t0)
        let report = update(.report, "j", seq: 1)
        #expect(m.received(BrokerToClient.update(report).frames, now: t0).events == [.update(report)])
        _ = m.acknowledge(report, now: t0)
        let again = m.received(BrokerToClient.update(report).frames, now: t0)
        #expect(again.events.isEmpty)
        #expect(sentMessages(again.actions) == [.ack(job: "j", lease: 7, seq: 1)])
        let final = update(.final, "j", seq: 2)
        #expect(m.received(BrokerToClient.update(final).frames, now: t0).events == [.update(final)])
        #expect(m.outstandingCount == 0)
        // A fenced attempt's result adopted by a restarted broker: acknowledged, never delivered.
        let late = update(.final, "j", attempt: 2, lease: 8, seq: 1)
        let lateResult = m.received(BrokerToClient.update(late).frames, now: t0)
        #expect(lateResult.events.isEmpty)
        #expect(sentMessages(lateResult.actions) == [.ack(job: "j", lease: 8, seq: 1)])
    }

    @Test func aResendOfAnUpdateTheApplicationHasNotAcknowledgedIsNeverAcknowledgedForIt() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        _ = m.submit([job("j")], now: t0)
        // A checkpoint whose blobs the application is still pulling: its resend is delivered
        // again (the application de-duplicates), never acknowledged in its name.
        let checkpoint = update(.checkpoint, "j", seq: 2)
        #expect(m.received(BrokerToClient.update(checkpoint).frames, now: t0).events == [.update(checkpoint)])
        let resent = m.received(BrokerToClient.update(checkpoint).frames, now: t0 + .seconds(5))
        #expect(resent.events == [.update(checkpoint)])
        #expect(sentMessages(resent.actions).isEmpty)
        // A result waiting for that upload: its resend is dropped until the application records it.
        let final = update(.final, "j", seq: 3)
        #expect(m.received(BrokerToClient.update(final).frames, now: t0).events == [.update(final)])
        let finalAgain = m.received(BrokerToClient.update(final).frames, now: t0 + .seconds(5))
        #expect(finalAgain.events.isEmpty && finalAgain.actions.isEmpty)
        #expect(sentMessages(m.acknowledge(final, now: t0 + .seconds(6))) == [.ack(job: "j", lease: 7, seq: 3)])
        let afterRecorded = m.received(BrokerToClient.update(final).frames, now: t0 + .seconds(10))
        #expect(afterRecorded.events.isEmpty)
        #expect(sentMessages(afterRecorded.actions) == [.ack(job: "j", lease: 7, seq: 3)])
    }

    @Test func jobsSubmittedOnAConnectionThatClosedBeforeTheFirstWelcomeAreSubmittedAgain() {
        // Simulation seed 5481: a restarted optimizer's SUBMIT went to a broker that died before
        // answering; the first WELCOME came from its successor and nothing was re-synced.
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.submit([job("j")], now: t0)
        let giveUp = m.nextDeadline
        #expect(m.tick(now: giveUp).isEmpty, "backing off")
        let again = m.nextDeadline
        #expect(m.tick(now: again).first == .connect)
        let welcomed = m.received(welcome("b2"), now: again)
        let submits = sentMessages(welcomed.actions).compactMap { if case .submit(_, let jobs) = $0 { jobs } else { nil } }.flatMap { $0 }
        #expect(submits.map(\.id) == ["j"])
        #expect(submits.first?.requirements.isResync == true)
    }

    @Test func aFirstWelcomeOnTheConnectionOfTheSubmitResyncsNothing() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.submit([job("j")], now: t0)
        #expect(sentMessages(m.received(welcome("b"), now: t0).actions).isEmpty)
    }

    @Test func aResentResultOfThePreviousRunIsAcknowledgedAndNotDeliveredAfterARetryIsSubmitted() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        _ = m.submit([job("j")], now: t0)
        let failed = update(.failed, "j", attempt: 1, lease: 7, seq: 1)
        #expect(m.received(BrokerToClient.update(failed).frames, now: t0).events == [.update(failed)])
        _ = m.acknowledge(failed, now: t0)
        _ = m.submit([job("j")], now: t0)
        // The ACK was lost: the broker still holds the FAILED as the job's result (the retry's
        // SUBMIT found the job known) and sends it again. Acknowledged, not delivered; the
        // broker ends the job on that ACK, so the retry's SUBMIT follows it.
        let again = m.received(BrokerToClient.update(failed).frames, now: t0 + .seconds(5))
        #expect(again.events.isEmpty)
        let sent = sentMessages(again.actions)
        #expect(sent.first == .ack(job: "j", lease: 7, seq: 1))
        guard sent.count == 2, case .submit(_, let jobs) = sent[1] else {
            Issue.record("no SUBMIT of the retry after the ACK: \(sent)")
            return
        }
        #expect(jobs.map(\.id) == ["j"] && !jobs[0].requirements.isResync)
        #expect(m.outstandingCount == 1)
        // The retry's own result is delivered.
        let final = update(.final, "j", attempt: 2, lease: 8, seq: 3)
        #expect(m.received(BrokerToClient.update(final).frames, now: t0 + .seconds(6)).events == [.update(final)])
    }

    @Test func aPausedAttemptsResultThatCrossesItsCancelDoesNotEndTheNextRunOfTheJob() {
        // The hang of `SchedulerStudies` (issue 15): the scheduler paused trial 2 at a rung and
        // promoted it in the same turn (CANCEL_JOBS, then SUBMIT with the next attempt). Attempt
        // 2's FINAL had left the broker before the CANCEL reached it. Taken as the new run's
        // result, it ended the run in the client: attempt 3's CHECKPOINTs and FINAL were then
        // acknowledged unseen, only its REPORTs reached the store, and the study never finished.
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        _ = m.submit([job("j")], now: t0)
        let report = update(.report, "j", attempt: 2, lease: 7, seq: 1)
        #expect(m.received(BrokerToClient.update(report).frames, now: t0).events == [.update(report)])
        _ = m.acknowledge(report, now: t0)
        _ = m.cancel(["j"], reason: "paused at rung 2", now: t0)
        var promoted = job("j")
        promoted.requirements.firstAttempt = 3
        _ = m.submit([promoted], now: t0)
        // The paused attempt's FINAL reaches the application (it stores or drops it), but is not
        // the new run's result: the job stays outstanding.
        let paused = update(.final, "j", attempt: 2, lease: 7, seq: 2)
        let crossed = m.received(BrokerToClient.update(paused).frames, now: t0)
        #expect(crossed.events == [.update(paused)])
        #expect(crossed.actions.isEmpty)
        #expect(m.outstandingCount == 1)
        _ = m.acknowledge(paused, now: t0)
        // The new run's updates are delivered, none acknowledged in the application's name.
        let checkpoint = update(.checkpoint, "j", attempt: 3, lease: 9, seq: 2)
        let stored = m.received(BrokerToClient.update(checkpoint).frames, now: t0 + .seconds(1))
        #expect(stored.events == [.update(checkpoint)])
        #expect(sentMessages(stored.actions).isEmpty)
        let final = update(.final, "j", attempt: 3, lease: 9, seq: 5)
        let result = m.received(BrokerToClient.update(final).frames, now: t0 + .seconds(2))
        #expect(result.events == [.update(final)])
        #expect(sentMessages(result.actions).isEmpty)
        #expect(m.outstandingCount == 0)
        // A resend of the paused attempt's FINAL after that is acknowledged, never delivered.
        let resent = m.received(BrokerToClient.update(paused).frames, now: t0 + .seconds(5))
        #expect(resent.events.isEmpty)
    }

    @Test func aReportArrivingAfterItsJobsResultIsStillDelivered() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        _ = m.submit([job("j")], now: t0)
        let final = update(.final, "j", seq: 3)
        #expect(m.received(BrokerToClient.update(final).frames, now: t0).events == [.update(final)])
        // The worker resent its unacknowledged updates after a restart: the REPORT crossed the FINAL.
        let report = update(.report, "j", seq: 2)
        let late = m.received(BrokerToClient.update(report).frames, now: t0)
        #expect(late.events == [.update(report)], "the application stores it, then acknowledges it")
        #expect(late.actions.isEmpty)
        // So is a CHECKPOINT: the application may hold the result until it has it.
        let checkpoint = update(.checkpoint, "j", seq: 1)
        let overtaken = m.received(BrokerToClient.update(checkpoint).frames, now: t0)
        #expect(overtaken.events == [.update(checkpoint)])
        #expect(overtaken.actions.isEmpty, "not acknowledged before the application has it")
    }

    @Test func aResyncOfAnOutstandingJobDeliversItsResendsAgain() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        _ = m.submit([job("j")], now: t0)
        let report = update(.report, "j", seq: 1)
        #expect(m.received(BrokerToClient.update(report).frames, now: t0).events == [.update(report)])
        // The application's commit failed: it rebuilds from its store and re-syncs its jobs.
        var resync = job("j")
        resync.requirements.flags |= Requirements.Flags.resync
        #expect(m.submit([resync], now: t0).actions.isEmpty, "the broker already knows the job")
        let again = m.received(BrokerToClient.update(report).frames, now: t0)
        #expect(again.events == [.update(report)], "delivered again, not acknowledged unseen")
        #expect(again.actions.isEmpty)
    }

    @Test func updatesOfUnknownJobsAreNeitherDeliveredNorAcknowledged() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        let result = m.received(BrokerToClient.update(update(.final, "other", seq: 1)).frames, now: t0)
        #expect(result.events.isEmpty)
        #expect(result.actions.isEmpty)
    }

    @Test func silentBrokerIsDeclaredDeadAndReconnectedWithDoublingBackoff() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        #expect(sentMessages(m.tick(now: t0 + .milliseconds(999))).isEmpty)
        #expect(sentMessages(m.tick(now: t0 + .seconds(1))) == [.heartbeat])
        #expect(sentMessages(m.tick(now: t0 + .milliseconds(2999))) == [.heartbeat], "the client keeps heartbeating a silent broker")
        #expect(m.tick(now: t0 + .seconds(3)).isEmpty)
        #expect(!m.isConnected)
        #expect(m.nextDeadline == t0 + .seconds(4))
        #expect(m.tick(now: t0 + .seconds(4)).first == .connect)
        // No WELCOME within interval × liveness: the next wait is 2 s.
        _ = m.tick(now: t0 + .seconds(7))
        #expect(m.nextDeadline == t0 + .seconds(9))
    }

    @Test func reregisterAnswersWithHelloOnTheSameSocket() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(welcome("b"), now: t0)
        let (_, actions) = m.received(BrokerToClient.disconnect(reason: DisconnectReason.reregister).frames, now: t0)
        #expect(!actions.contains(.connect))
        #expect(sentMessages(actions) == [.hello(HelloInfo(client: "c-1", name: "test"))])
    }

    @Test func malformedMessagesAreCountedAndIgnored() {
        var m = ClientStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        let result = m.received([Array("junk".utf8)], now: t0)
        #expect(result.events.isEmpty && result.actions.isEmpty)
        #expect(m.malformed == 1)
    }
}
