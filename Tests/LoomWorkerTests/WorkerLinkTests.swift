import Testing
@testable import LoomWorker
import LoomWire

/// The link to the broker: registration, heartbeats, broker death and reconnects.
@Suite struct WorkerLinkBehaviour {
    let t0 = ContinuousClock.now
    typealias T = WorkerTest

    @Test func startConnectsAndSaysReadyWithWhatTheWorkerOffers() {
        var m = WorkerStateMachine(config: T.config, now: t0)
        let actions = m.start(now: t0)
        #expect(actions.first == .connect)
        #expect(T.sent(actions) == [.ready(ReadyInfo(worker: "w-1", slots: 2, gpus: 1, heartbeatMs: 1000, liveness: 3,
                                                     host: "host-a", pid: 42, version: "test", running: []))])
        #expect(!m.isRegistered)
    }

    @Test func readyAfterAReconnectListsEveryAttemptStillHeld() {
        var m = T.registered(at: t0)
        let assignedOnly = T.ref("a", lease: 1)
        let running = T.ref("b", lease: 2)
        let exitedUnacknowledged = T.ref("c", lease: 3)
        let finished = T.ref("d", lease: 4)
        for ref in [assignedOnly, running, exitedUnacknowledged, finished] { _ = m.received(T.assign(ref), now: t0) }
        for ref in [running, exitedUnacknowledged, finished] { _ = m.trialStarted(ref, now: t0) }
        _ = m.trialExited(exitedUnacknowledged, kind: .final, payload: T.metrics(1), now: t0)
        _ = m.trialExited(finished, kind: .final, payload: T.metrics(2), now: t0)
        _ = m.received(T.ack(finished, seq: 1), now: t0)

        // The broker goes silent: dead after 3 s, reconnect after 1 s more.
        _ = m.tick(now: t0 + .seconds(3))
        let actions = m.tick(now: t0 + .seconds(4))
        #expect(actions.first == .connect)
        let ready = T.ready(actions)
        #expect(ready?.running.map(\.ref) == [assignedOnly, running, exitedUnacknowledged])
    }

    @Test func welcomeSetsTheHeartbeatIntervalAndLivenessTheWorkerUses() {
        var m = WorkerStateMachine(config: T.config, now: t0)
        _ = m.start(now: t0)
        _ = m.received(T.welcome(heartbeatMs: 250, liveness: 2), now: t0)
        #expect(m.nextDeadline == t0 + .milliseconds(250))
        #expect(T.sent(m.tick(now: t0 + .milliseconds(249))).isEmpty)
        #expect(T.sent(m.tick(now: t0 + .milliseconds(250))) == [.heartbeat])
        // Two silent intervals of 250 ms, not three of one second, make the broker dead.
        _ = m.tick(now: t0 + .milliseconds(500))
        #expect(!m.isRegistered)
    }

    @Test func heartbeatIsSentOnlyAfterAnIntervalWithNothingSent() {
        var m = T.running([T.ref("a", lease: 1)], at: t0)
        _ = m.received(BrokerToWorker.heartbeat.frames, now: t0 + .milliseconds(600))
        // A report at 0.6 s is a sign of life too: no HEARTBEAT at 1 s.
        _ = m.trialReported(T.ref("a", lease: 1), metrics: T.metrics(1), checkpoint: false, now: t0 + .milliseconds(600))
        #expect(T.sent(m.tick(now: t0 + .seconds(1))).isEmpty)
        #expect(m.nextDeadline == t0 + .milliseconds(1600))
        #expect(T.sent(m.tick(now: t0 + .milliseconds(1600))) == [.heartbeat])
    }

    @Test func brokerSilenceLeadsToBackoffDoublingToThirtyTwoSeconds() {
        var m = T.registered(at: t0)
        var now = t0
        for wait in [1, 2, 4, 8, 16, 32, 32] {
            // Registered or connecting, three silent seconds mean the broker is dead.
            now += .seconds(3)
            #expect(m.tick(now: now).isEmpty)
            #expect(!m.isRegistered)
            #expect(m.nextDeadline == now + .seconds(wait), "wait \(wait)")
            #expect(m.tick(now: now + .seconds(wait) - .milliseconds(1)).isEmpty)
            now += .seconds(wait)
            let actions = m.tick(now: now)
            #expect(actions.first == .connect)
            #expect(T.ready(actions) != nil)
        }
    }

    @Test func welcomeResetsTheBackoffToOneSecond() {
        var m = T.registered(at: t0)
        _ = m.tick(now: t0 + .seconds(3))      // dead: 1 s
        _ = m.tick(now: t0 + .seconds(4))      // reconnect
        _ = m.tick(now: t0 + .seconds(7))      // no WELCOME: 2 s
        _ = m.tick(now: t0 + .seconds(9))      // reconnect
        _ = m.received(T.welcome(), now: t0 + .seconds(10))
        #expect(m.isRegistered)
        _ = m.tick(now: t0 + .seconds(13))     // dead again
        #expect(m.nextDeadline == t0 + .seconds(14))
    }

    @Test func anyMessageFromTheBrokerKeepsTheLinkAlive() {
        var m = T.running([T.ref("a", lease: 1)], at: t0)
        _ = m.trialReported(T.ref("a", lease: 1), metrics: T.metrics(1), checkpoint: false, now: t0 + .seconds(2))
        _ = m.received(T.ack(T.ref("a", lease: 1), seq: 1), now: t0 + .seconds(2))
        _ = m.tick(now: t0 + .milliseconds(4999))
        #expect(m.isRegistered)
        _ = m.tick(now: t0 + .seconds(5))
        #expect(!m.isRegistered)
    }

    @Test func reregisterIsAnsweredWithReadyOnTheSameSocket() {
        var m = T.running([T.ref("a", lease: 1)], at: t0)
        let actions = m.received(BrokerToWorker.disconnect(reason: DisconnectReason.reregister).frames, now: t0 + .seconds(1))
        #expect(!actions.contains(.connect))
        #expect(T.ready(actions)?.running.map(\.ref) == [T.ref("a", lease: 1)])
        #expect(!m.isRegistered)
        // Waiting for WELCOME: no heartbeats, and a broker that never answers is dead after 3 s.
        #expect(m.nextDeadline == t0 + .seconds(4))
    }

    @Test func anAttemptWhoseResultIsAcknowledgedIsForgottenWithItsUnacknowledgedReports() {
        let ref = T.ref("a", lease: 1)
        var m = T.running([ref], at: t0)
        _ = m.trialReported(ref, metrics: T.metrics(1), checkpoint: false, now: t0)
        _ = m.trialExited(ref, kind: .final, payload: T.metrics(2), now: t0)
        // The report's ACK was lost; the result's arrives: the attempt is done.
        _ = m.received(T.ack(ref, seq: 2), now: t0)
        #expect(m.heldAttempts.isEmpty)
        #expect(m.unacknowledgedCount == 0)
        #expect(T.ready(m.received(BrokerToWorker.disconnect(reason: DisconnectReason.reregister).frames, now: t0))?.running == [])
    }

    /// After a broker restart every message the worker had in flight is answered with DISCONNECT
    /// "reregister": one READY answers them all; a DISCONNECT a heartbeat later (that READY was
    /// lost) is answered again.
    @Test func aBurstOfReregisterAnswersIsAnsweredWithOneReady() {
        var m = T.running([T.ref("a", lease: 1)], at: t0)
        let disconnect = BrokerToWorker.disconnect(reason: DisconnectReason.reregister).frames
        var readies = 0
        for i in 0..<20 {
            if T.ready(m.received(disconnect, now: t0 + .seconds(1) + .milliseconds(i))) != nil { readies += 1 }
        }
        #expect(readies == 1)
        #expect(T.ready(m.received(disconnect, now: t0 + .seconds(2) + .milliseconds(100))) != nil,
                "a DISCONNECT more than a heartbeat after the READY gets a READY again")
        #expect(!m.isRegistered)
    }

    @Test func brokerErrorsAreCountedAndChangeNothingElse() {
        var m = T.registered(at: t0)
        let actions = m.received(BrokerToWorker.error("READY: field slots must not be negative").frames, now: t0)
        #expect(actions.isEmpty)
        #expect(m.brokerErrors == 1)
        #expect(m.lastBrokerError == "READY: field slots must not be negative")
        #expect(m.isRegistered)
    }

    @Test func malformedFramesAreCountedIgnoredAndAreNoSignOfLife() {
        var m = T.registered(at: t0)
        let garbage: [[Frame]] = [
            [Array("junk".utf8)],
            [Wire.workerHeader, [Command.assign.rawValue], Array("j".utf8)],
            [Wire.clientHeader, [Command.heartbeat.rawValue]],
            [Wire.workerHeader, [0x7E]],
        ]
        for frames in garbage { #expect(m.received(frames, now: t0 + .seconds(2)).isEmpty) }
        #expect(m.malformed == 4)
        _ = m.tick(now: t0 + .seconds(3))
        #expect(!m.isRegistered)
    }

    @Test func nextDeadlineIsTheEarliestOfHeartbeatSilenceAndResend() {
        let config = WorkerConfig(workerID: "w", slots: 1, gpus: 0, heartbeat: .seconds(10), liveness: 3,
                                  host: "h", pid: 1, version: "t", resendInterval: .seconds(2))
        var m = WorkerStateMachine(config: config, now: t0)
        _ = m.start(now: t0)
        #expect(m.nextDeadline == t0 + .seconds(30))
        _ = m.received(T.welcome(heartbeatMs: 10_000, liveness: 3), now: t0)
        #expect(m.nextDeadline == t0 + .seconds(10))
        let ref = T.ref("a", lease: 1)
        _ = m.received(T.assign(ref), now: t0)
        _ = m.trialStarted(ref, now: t0 + .seconds(1))
        _ = m.trialReported(ref, metrics: T.metrics(1), checkpoint: false, now: t0 + .seconds(1))
        #expect(m.nextDeadline == t0 + .seconds(3))
    }
}
