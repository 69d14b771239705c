import Testing
@testable import LoomWorker
import LoomWire

/// Jobs and their updates: assignment, numbering, acknowledgement, resends and the report cap.
@Suite struct WorkerJobBehaviour {
    let t0 = ContinuousClock.now
    typealias T = WorkerTest
    typealias Sent = WorkerTest.Sent
    let a = WorkerTest.ref("job-a", lease: 11)
    let b = WorkerTest.ref("job-b", lease: 12)

    @Test func assignStartsTheTrialAndADuplicateAssignIsIgnored() {
        var m = T.registered(at: t0)
        #expect(m.received(T.assign(a), now: t0) == [.startTrial(a, payload: T.payload)])
        #expect(m.received(T.assign(a), now: t0).isEmpty)
        #expect(m.duplicateAssignments == 1)
        #expect(T.sent(m.trialStarted(a, now: t0)) == [.started(a)])
        #expect(m.heldAttempts == [a])
    }

    @Test func finishedLeaseAssignedAgainIsNotRunTwice() {
        var m = T.running([a], at: t0)
        _ = m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0)
        _ = m.received(T.ack(a, seq: 1), now: t0)
        #expect(m.heldAttempts.isEmpty)
        #expect(m.received(T.assign(a), now: t0).isEmpty)
    }

    @Test func updatesAreNumberedFromOnePerAttemptAndACheckpointTakesTheNextSeq() {
        var m = T.running([a, b], at: t0)
        var out: [Sent] = []
        out += T.updates(m.trialReported(a, metrics: T.metrics(1), checkpoint: false, now: t0))
        out += T.updates(m.trialReported(b, metrics: T.metrics(1), checkpoint: false, now: t0))
        out += T.updates(m.trialReported(a, metrics: T.metrics(2), checkpoint: true, now: t0))
        out += T.updates(m.snapshotTaken(a, payload: T.metrics(2), now: t0))
        out += T.updates(m.trialExited(a, kind: .final, payload: T.metrics(2), now: t0))
        out += T.updates(m.trialExited(b, kind: .failed, payload: T.metrics(0), now: t0))
        #expect(out == [Sent(.report, "job-a", 1), Sent(.report, "job-b", 1), Sent(.report, "job-a", 2),
                        Sent(.checkpoint, "job-a", 3), Sent(.final, "job-a", 4), Sent(.failed, "job-b", 2)])
        let checkpoint = T.sent(m.trialReported(a, metrics: T.metrics(3), checkpoint: true, now: t0))
        #expect(checkpoint.isEmpty, "an exited attempt reports nothing more")
    }

    @Test func theReportAndCheckpointOfOneLineCarryTheSamePayload() {
        var m = T.running([a], at: t0)
        let actions = m.trialReported(a, metrics: T.metrics(7), checkpoint: true, now: t0) + m.snapshotTaken(a, payload: T.metrics(7), now: t0)
        let payloads = T.sent(actions).compactMap { message -> Frame? in
            if case .update(let u) = message { return u.payload } else { return nil }
        }
        #expect(payloads == [T.metrics(7), T.metrics(7)])
    }

    @Test func anExitedAttemptIsForgottenOnceItsResultIsAcknowledged() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: false, now: t0)
        _ = m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0)
        _ = m.received(T.ack(a, seq: 1), now: t0)
        #expect(m.heldAttempts == [a], "the result is not acknowledged yet")
        _ = m.received(T.ack(a, seq: 2), now: t0)
        #expect(m.heldAttempts.isEmpty)
        #expect(m.unacknowledgedCount == 0)
        _ = m.received(T.ack(a, seq: 1), now: t0)
        _ = m.received(T.ack(T.ref("nobody", lease: 99), seq: 1), now: t0)
        #expect(m.staleAcks == 2)
    }

    @Test func aRunningAttemptIsHeldEvenWhenEverythingIsAcknowledged() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: false, now: t0)
        _ = m.received(T.ack(a, seq: 1), now: t0)
        #expect(m.heldAttempts == [a])
    }

    @Test func unacknowledgedUpdatesAreSentAgainAfterTheResendInterval() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: false, now: t0 + .seconds(1))
        _ = m.trialReported(a, metrics: T.metrics(2), checkpoint: false, now: t0 + .seconds(2))
        _ = m.received(T.ack(a, seq: 2), now: t0 + .seconds(2))
        // Broker messages keep the link alive meanwhile.
        _ = m.received(BrokerToWorker.heartbeat.frames, now: t0 + .seconds(4))
        #expect(m.nextDeadline <= t0 + .seconds(6))
        #expect(T.updates(m.tick(now: t0 + .milliseconds(5999))).isEmpty)
        #expect(T.updates(m.tick(now: t0 + .seconds(6))) == [Sent(.report, "job-a", 1)])
        // Sent again, so due again one interval later.
        _ = m.received(BrokerToWorker.heartbeat.frames, now: t0 + .seconds(8))
        #expect(T.updates(m.tick(now: t0 + .seconds(10))).isEmpty)
        _ = m.received(BrokerToWorker.heartbeat.frames, now: t0 + .seconds(10))
        #expect(T.updates(m.tick(now: t0 + .seconds(11))) == [Sent(.report, "job-a", 1)])
    }

    @Test func everyUnacknowledgedUpdateIsSentAgainInOrderAfterAWelcome() {
        var m = T.running([a, b], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: false, now: t0)
        _ = m.trialReported(b, metrics: T.metrics(1), checkpoint: true, checkpointPayload: nil, now: t0)
        _ = m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0)
        _ = m.received(T.ack(b, seq: 1), now: t0)
        let actions = m.received(T.welcome(broker: "b-2"), now: t0 + .seconds(1))
        #expect(T.updates(actions) == [Sent(.report, "job-a", 1), Sent(.checkpoint, "job-b", 2), Sent(.final, "job-a", 2)])
    }

    @Test func updatesMadeWhileTheBrokerIsGoneAreQueuedUntilTheNextWelcome() {
        var m = T.running([a], at: t0)
        _ = m.tick(now: t0 + .seconds(3))
        #expect(!m.isRegistered)
        #expect(m.trialReported(a, metrics: T.metrics(1), checkpoint: false, now: t0 + .seconds(3)).isEmpty)
        #expect(m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0 + .seconds(3)).isEmpty)
        // Reconnecting: READY goes out, the updates wait for WELCOME.
        let reconnect = m.tick(now: t0 + .seconds(4))
        #expect(T.updates(reconnect).isEmpty)
        #expect(T.ready(reconnect)?.running.map(\.ref) == [a])
        // Nothing is resent while the link is down, however long it stays down.
        #expect(T.updates(m.tick(now: t0 + .seconds(6))).isEmpty)
        let welcome = m.received(T.welcome(), now: t0 + .seconds(6))
        #expect(T.updates(welcome) == [Sent(.report, "job-a", 1), Sent(.final, "job-a", 2)])
    }

    @Test func startedIsNotSentWhileTheLinkIsDownBecauseReadyListsTheAttempt() {
        var m = T.registered(at: t0)
        _ = m.received(T.assign(a), now: t0)
        _ = m.tick(now: t0 + .seconds(3))
        #expect(m.trialStarted(a, now: t0 + .seconds(3)).isEmpty)
        #expect(T.ready(m.tick(now: t0 + .seconds(4)))?.running.map(\.ref) == [a])
    }

    @Test func reportCapDropsTheOldestReportsButNeverCheckpointsOrResults() {
        let config = WorkerConfig(workerID: "w", slots: 2, gpus: 0, heartbeat: .seconds(1), liveness: 3,
                                  host: "h", pid: 1, version: "t", maxUnacknowledged: 3)
        var m = T.running([a, b], at: t0, config: config)
        _ = m.tick(now: t0 + .seconds(3))                                                       // broker gone
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: false, now: t0 + .seconds(3))  // a1
        _ = m.trialReported(b, metrics: T.metrics(1), checkpoint: true, checkpointPayload: nil, now: t0 + .seconds(3))  // b1, b2
        _ = m.trialReported(a, metrics: T.metrics(2), checkpoint: false, now: t0 + .seconds(3))  // a2
        _ = m.trialReported(a, metrics: T.metrics(3), checkpoint: false, now: t0 + .seconds(3))  // a3: drops a1
        _ = m.trialExited(b, kind: .failed, payload: T.metrics(0), now: t0 + .seconds(3))        // b3
        _ = m.trialReported(a, metrics: T.metrics(4), checkpoint: false, now: t0 + .seconds(3))  // a4: drops b1
        _ = m.trialReported(a, metrics: T.metrics(5), checkpoint: false, now: t0 + .seconds(3))  // a5: drops a2
        _ = m.trialExited(a, kind: .final, payload: T.metrics(5), now: t0 + .seconds(3))         // a6
        #expect(m.droppedReports == 3)
        let welcome = m.received(T.welcome(), now: t0 + .seconds(4))
        #expect(T.updates(welcome) == [Sent(.checkpoint, "job-b", 2), Sent(.report, "job-a", 3), Sent(.failed, "job-b", 3),
                                       Sent(.report, "job-a", 4), Sent(.report, "job-a", 5), Sent(.final, "job-a", 6)])
    }

    @Test func cancelStopsARunningTrialAndItsFailureIsReported() {
        var m = T.running([a], at: t0)
        let actions = m.received(BrokerToWorker.cancel(job: "job-a", lease: 11, reason: CancelReason.cancelled).frames, now: t0)
        #expect(actions == [.stopTrial(lease: 11, reason: CancelReason.cancelled)])
        // A second CANCEL while the process is stopping changes nothing.
        #expect(m.received(BrokerToWorker.cancel(job: "job-a", lease: 11, reason: "again").frames, now: t0).isEmpty)
        let failed = Array(#"{"error":"cancelled: cancelled"}"#.utf8)
        #expect(T.updates(m.trialExited(a, kind: .failed, payload: failed, now: t0)) == [Sent(.failed, "job-a", 1)])
    }

    @Test func cancelForAnUnknownOrExitedLeaseIsIgnored() {
        var m = T.running([a], at: t0)
        #expect(m.received(BrokerToWorker.cancel(job: "job-a", lease: 99, reason: "cancelled").frames, now: t0).isEmpty)
        #expect(m.received(BrokerToWorker.cancel(job: "other", lease: 11, reason: "cancelled").frames, now: t0).isEmpty)
        _ = m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0)
        #expect(m.received(BrokerToWorker.cancel(job: "job-a", lease: 11, reason: "cancelled").frames, now: t0).isEmpty)
    }

    @Test func aTrialThatCouldNotStartIsReportedFailedWithoutStarted() {
        var m = T.registered(at: t0)
        _ = m.received(T.assign(a), now: t0)
        let actions = m.trialExited(a, kind: .failed, payload: Array(#"{"error":"program not found: nope"}"#.utf8), now: t0)
        #expect(T.updates(actions) == [Sent(.failed, "job-a", 1)])
    }

    @Test func sameEventsAtTheSameTimesGiveTheSameActions() {
        func run() -> [WorkerAction] {
            var m = T.running([a, b, T.ref("job-c", lease: 13)], at: t0)
            var actions: [WorkerAction] = []
            actions += m.tick(now: t0 + .seconds(3))
            for ref in [a, b, T.ref("job-c", lease: 13)] {
                actions += m.trialReported(ref, metrics: T.metrics(1), checkpoint: true, now: t0 + .seconds(3))
            }
            actions += m.tick(now: t0 + .seconds(4))
            actions += m.received(T.welcome(), now: t0 + .seconds(4))
            actions += m.shutdown(now: t0 + .seconds(5))
            return actions
        }
        #expect(run() == run())
    }
}
