import Testing
@testable import LoomWorker
import LoomWire

/// Graceful shutdown: stop trials, drain acknowledgements (bounded), DISCONNECT, exit.
@Suite struct WorkerShutdownBehaviour {
    let t0 = ContinuousClock.now
    typealias T = WorkerTest
    typealias Sent = WorkerTest.Sent
    let a = WorkerTest.ref("job-a", lease: 11)
    let b = WorkerTest.ref("job-b", lease: 12)

    @Test func shutdownStopsTrialsWaitsForAcknowledgementsThenSaysDisconnectAndExits() {
        var m = T.running([a, b], at: t0)
        // b finished before the stop; its FINAL is not acknowledged yet.
        _ = m.trialExited(b, kind: .final, payload: T.metrics(1), now: t0)
        let stop = m.shutdown(now: t0 + .seconds(1))
        #expect(stop == [.stopTrial(lease: 11, reason: StopReason.shutdown)])
        #expect(m.isStopping && !m.hasExited)
        // a exits on SIGTERM: nothing is sent for it.
        let exit = m.trialExited(a, kind: .failed, payload: Array(#"{"error":"cancelled: shutdown"}"#.utf8), now: t0 + .seconds(2))
        #expect(T.sent(exit).isEmpty)
        #expect(m.heldAttempts == [b])
        let done = m.received(T.ack(b, seq: 1), now: t0 + .seconds(2))
        #expect(T.sent(done) == [.disconnect])
        #expect(done.last == .exit)
        #expect(m.hasExited)
        #expect(m.tick(now: t0 + .seconds(3)).isEmpty)
        #expect(m.received(T.assign(T.ref("late", lease: 20)), now: t0 + .seconds(3)).isEmpty)
    }

    @Test func shutdownStoppedAttemptsSendNoFailedAndAreForgottenWithTheirReports() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: false, now: t0)
        _ = m.shutdown(now: t0)
        let actions = m.trialExited(a, kind: .failed, payload: T.metrics(0), now: t0 + .seconds(1))
        #expect(T.updates(actions).isEmpty)
        #expect(T.sent(actions) == [.disconnect])
        #expect(actions.last == .exit)
    }

    @Test func aCancelledAttemptKeepsItsReasonAndReportsItsFailureDuringShutdown() {
        var m = T.running([a], at: t0)
        _ = m.received(BrokerToWorker.cancel(job: "job-a", lease: 11, reason: "cancelled").frames, now: t0)
        #expect(m.shutdown(now: t0).isEmpty, "already stopping: no second stop")
        let exit = m.trialExited(a, kind: .failed, payload: Array(#"{"error":"cancelled: cancelled"}"#.utf8), now: t0)
        #expect(T.updates(exit) == [Sent(.failed, "job-a", 1)])
        let done = m.received(T.ack(a, seq: 1), now: t0)
        #expect(done.last == .exit)
    }

    @Test func drainGivesUpAfterTheDrainTimeout() {
        var m = T.running([a], at: t0)
        _ = m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0)
        _ = m.shutdown(now: t0)
        // The broker keeps the link alive but never acknowledges.
        for second in 1...9 {
            _ = m.received(BrokerToWorker.heartbeat.frames, now: t0 + .seconds(second))
            #expect(!m.tick(now: t0 + .seconds(second)).contains(.exit))
        }
        #expect(m.nextDeadline <= t0 + .seconds(10))
        let actions = m.tick(now: t0 + .seconds(10))
        #expect(T.sent(actions).last == .disconnect)
        #expect(actions.last == .exit)
    }

    @Test func shutdownWithNothingHeldExitsAtOnce() {
        var m = T.registered(at: t0)
        let actions = m.shutdown(now: t0)
        #expect(T.sent(actions) == [.disconnect])
        #expect(actions.last == .exit)
    }

    @Test func brokerShutdownDisconnectBehavesLikeSigterm() {
        var m = T.running([a], at: t0)
        let actions = m.received(BrokerToWorker.disconnect(reason: DisconnectReason.shutdown).frames, now: t0)
        #expect(actions == [.stopTrial(lease: 11, reason: StopReason.shutdown)])
        #expect(m.isStopping)
        #expect(m.trialExited(a, kind: .failed, payload: T.metrics(0), now: t0).last == .exit)
    }

    @Test func aStoppingWorkerStartsNoNewJobsAndOffersNoSlotsWhenItReregisters() {
        var m = T.running([a], at: t0)
        _ = m.shutdown(now: t0)
        #expect(m.received(T.assign(b), now: t0).isEmpty)
        #expect(m.heldAttempts == [a])
        let ready = T.ready(m.received(BrokerToWorker.disconnect(reason: DisconnectReason.reregister).frames, now: t0))
        #expect(ready?.slots == 0)
        #expect(ready?.gpus == 0)
        #expect(ready?.running.map(\.ref) == [a])
    }

    @Test func whileTheBrokerIsGoneADrainingWorkerKeepsReconnectingUntilTheBound() {
        var m = T.running([a], at: t0)
        _ = m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0)
        _ = m.tick(now: t0 + .seconds(3))                 // broker dead
        _ = m.shutdown(now: t0 + .seconds(3))             // drain until 13 s
        #expect(m.tick(now: t0 + .seconds(4)).first == .connect)
        // The broker comes back within the bound: the FINAL goes out and, acknowledged, ends the drain.
        let welcome = m.received(T.welcome(), now: t0 + .seconds(5))
        #expect(T.updates(welcome) == [Sent(.final, "job-a", 1)])
        #expect(m.received(T.ack(a, seq: 1), now: t0 + .seconds(5)).last == .exit)
    }

    @Test func whileTheBrokerStaysGoneTheWorkerExitsAtTheDrainBound() {
        var m = T.running([a], at: t0)
        _ = m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0)
        _ = m.tick(now: t0 + .seconds(3))
        _ = m.shutdown(now: t0 + .seconds(3))
        var now = t0 + .seconds(3)
        var exited = false
        while !exited && now < t0 + .seconds(60) {
            now = m.nextDeadline
            exited = m.tick(now: now).contains(.exit)
        }
        #expect(exited)
        #expect(now == t0 + .seconds(13))
    }
}
