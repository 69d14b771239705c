@testable import LoomWorker
import LoomWire
import Testing

/// Checkpoint snapshots as effects: the machine asks for one, the agent takes it off the loop
/// thread, and its outcome comes back as `snapshotTaken` at a later `now`.
@Suite struct WorkerSnapshotBehaviour {
    typealias T = WorkerTest
    typealias Sent = WorkerTest.Sent
    let t0 = ContinuousClock.now
    let a = WorkerTest.ref("job-a", lease: 11)

    static func snapshots(_ actions: [WorkerAction]) -> [Frame] {
        actions.compactMap { if case .snapshot(_, let metrics) = $0 { metrics } else { nil } }
    }

    @Test func aCheckpointLineSendsItsReportAtOnceAndItsCheckpointWhenTheSnapshotIsTaken() {
        var m = T.running([a], at: t0)
        let announced = m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)
        #expect(T.updates(announced) == [Sent(.report, "job-a", 1)])
        #expect(Self.snapshots(announced) == [T.metrics(1)])
        #expect(m.nextUpdateSeq(lease: 11) == 2)
        let manifest = Array(#"{"n":1,"checkpoint_manifest":{}}"#.utf8)
        let taken = m.snapshotTaken(a, payload: manifest, now: t0 + .seconds(2))
        #expect(T.updates(taken) == [Sent(.checkpoint, "job-a", 2)])
        #expect(T.sent(taken).compactMap { if case .update(let u) = $0 { u.payload } else { nil } } == [manifest])
    }

    /// A copy that waited (or ran) while the trial went on finds the directory as the trial left
    /// it: its CHECKPOINT is labelled with the newest line printed by the time it completes, so a
    /// trial resumed from it with nothing left to run ends with its last step's metrics.
    @Test func aSnapshotIsLabelledWithTheNewestLineWhenItCompletes() {
        var m = T.running([a], at: t0)
        #expect(Self.snapshots(m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)) == [T.metrics(1)])
        #expect(m.snapshotLabel(lease: 11) == T.metrics(1))
        _ = m.trialReported(a, metrics: T.metrics(2), checkpoint: false, now: t0 + .seconds(1))
        _ = m.trialReported(a, metrics: T.metrics(3), checkpoint: true, now: t0 + .seconds(2))
        #expect(m.snapshotLabel(lease: 11) == T.metrics(3))
        _ = m.trialExited(a, kind: .final, payload: T.metrics(3), now: t0 + .seconds(3))
        #expect(m.snapshotLabel(lease: 11) == T.metrics(3), "an exited attempt's snapshot is still labelled")
        #expect(m.snapshotLabel(lease: 99) == nil)
    }

    @Test func heartbeatsGoOnWhileASnapshotIsOutstanding() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)
        _ = m.received(T.ack(a, seq: 1), now: t0)
        // Five seconds of snapshotting: the broker is heard from, the worker heartbeats each second.
        for second in 1...5 {
            _ = m.received(BrokerToWorker.heartbeat.frames, now: t0 + .seconds(second))
            let tick = m.tick(now: t0 + .seconds(second))
            #expect(T.sent(tick).contains { if case .heartbeat = $0 { true } else { false } }, "second \(second)")
            #expect(m.isRegistered)
        }
        #expect(T.updates(m.snapshotTaken(a, payload: T.metrics(1), now: t0 + .seconds(5))) == [Sent(.checkpoint, "job-a", 2)])
    }

    @Test func anExitWhileASnapshotIsOutstandingIsReportedAfterItsCheckpoint() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)
        #expect(m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0 + .seconds(1)).isEmpty,
                "FINAL would let the broker forget the job before its checkpoint arrives")
        #expect(m.heldAttempts == [a])
        let taken = m.snapshotTaken(a, payload: T.metrics(1), now: t0 + .seconds(3))
        #expect(T.updates(taken) == [Sent(.checkpoint, "job-a", 2), Sent(.final, "job-a", 3)])
        _ = m.received(T.ack(a, seq: 1), now: t0 + .seconds(3))
        _ = m.received(T.ack(a, seq: 2), now: t0 + .seconds(3))
        #expect(m.heldAttempts == [a])
        _ = m.received(T.ack(a, seq: 3), now: t0 + .seconds(3))
        #expect(m.heldAttempts.isEmpty)
    }

    /// A broker that reads exited leases is told at once that the process exited while its FINAL
    /// waits for the snapshot (its stall clock stops), once per WELCOME; an older broker is not.
    @Test func anExitWaitingForASnapshotIsToldToABrokerThatReadsIt() {
        var m = T.running([a], at: t0)
        _ = m.received(BrokerToWorker.welcome(WelcomeInfo(broker: "b-1", heartbeatMs: 1000, liveness: 3, exited: true)).frames, now: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)
        let exit = m.trialExited(a, kind: .final, payload: T.metrics(1), now: t0 + .seconds(1))
        #expect(T.sent(exit) == [.exited([11])])
        #expect(T.updates(exit).isEmpty, "the FINAL still waits for the CHECKPOINT")
        // Heartbeats go on plain; a restarted broker's WELCOME hears the list again.
        _ = m.received(BrokerToWorker.heartbeat.frames, now: t0 + .seconds(2))
        #expect(T.sent(m.tick(now: t0 + .seconds(2))) == [.heartbeat])
        let again = m.received(BrokerToWorker.welcome(WelcomeInfo(broker: "b-2", heartbeatMs: 1000, liveness: 3, exited: true)).frames,
                               now: t0 + .seconds(3))
        #expect(T.sent(again).last == .exited([11]))
        let taken = m.snapshotTaken(a, payload: T.metrics(1), now: t0 + .seconds(4))
        #expect(T.updates(taken) == [Sent(.checkpoint, "job-a", 2), Sent(.final, "job-a", 3)])
        // An older broker (no `exited` in its WELCOME) gets no such HEARTBEAT.
        var old = T.running([a], at: t0)
        _ = old.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)
        #expect(old.trialExited(a, kind: .final, payload: T.metrics(1), now: t0 + .seconds(1)).isEmpty)
    }

    @Test func announcementsDuringASnapshotWaitAndOnlyTheNewestIsSnapshottedNext() {
        var m = T.running([a], at: t0)
        #expect(Self.snapshots(m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)) == [T.metrics(1)])
        for n in 2...4 {
            let later = m.trialReported(a, metrics: T.metrics(n), checkpoint: true, now: t0 + .seconds(n))
            #expect(T.updates(later) == [Sent(.report, "job-a", UInt64(n))], "the report goes out at once")
            #expect(Self.snapshots(later).isEmpty, "one snapshot per attempt at a time")
        }
        #expect(m.supersededSnapshots == 2)
        let first = m.snapshotTaken(a, payload: T.metrics(1), now: t0 + .seconds(5))
        #expect(T.updates(first) == [Sent(.checkpoint, "job-a", 5)])
        #expect(Self.snapshots(first) == [T.metrics(4)])
        #expect(T.updates(m.snapshotTaken(a, payload: T.metrics(4), now: t0 + .seconds(6))) == [Sent(.checkpoint, "job-a", 6)])
        #expect(Self.snapshots(m.trialReported(a, metrics: T.metrics(5), checkpoint: true, now: t0 + .seconds(7))) == [T.metrics(5)])
    }

    @Test func anExitWaitsForTheQueuedSnapshotToo() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)
        _ = m.trialReported(a, metrics: T.metrics(2), checkpoint: true, now: t0)
        _ = m.trialExited(a, kind: .failed, payload: T.metrics(0), now: t0)
        let first = m.snapshotTaken(a, payload: T.metrics(1), now: t0 + .seconds(1))
        #expect(T.updates(first) == [Sent(.checkpoint, "job-a", 3)])
        #expect(Self.snapshots(first) == [T.metrics(2)], "the directory after the exit is the newest checkpoint")
        let second = m.snapshotTaken(a, payload: T.metrics(2), now: t0 + .seconds(2))
        #expect(T.updates(second) == [Sent(.checkpoint, "job-a", 4), Sent(.failed, "job-a", 5)])
    }

    @Test func aDrainingWorkerWaitsForASnapshotBeforeItSaysDisconnect() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)
        #expect(m.shutdown(now: t0 + .seconds(1)) == [.stopTrial(lease: 11, reason: StopReason.shutdown)])
        #expect(m.trialExited(a, kind: .failed, payload: T.metrics(0), now: t0 + .seconds(2)).isEmpty)
        #expect(!m.hasExited)
        let taken = m.snapshotTaken(a, payload: T.metrics(1), now: t0 + .seconds(3))
        #expect(T.updates(taken) == [Sent(.checkpoint, "job-a", 2)])
        #expect(taken.last == .exit, "the attempt stopped for the shutdown is forgotten once its checkpoint is out")
    }

    @Test func aSnapshotOutcomeForAnAttemptNoLongerHeldIsIgnored() {
        var m = T.running([a], at: t0)
        #expect(m.snapshotTaken(a, payload: T.metrics(1), now: t0).isEmpty, "none was asked for")
        #expect(m.snapshotTaken(T.ref("job-z", lease: 99), payload: T.metrics(1), now: t0).isEmpty)
        #expect(m.unacknowledgedCount == 0)
    }

    @Test func whileTheLinkIsDownTheCheckpointIsQueuedUntilTheNextWelcome() {
        var m = T.running([a], at: t0)
        _ = m.trialReported(a, metrics: T.metrics(1), checkpoint: true, now: t0)
        _ = m.tick(now: t0 + .seconds(3))
        #expect(!m.isRegistered)
        #expect(T.updates(m.snapshotTaken(a, payload: T.metrics(1), now: t0 + .seconds(3))).isEmpty)
        _ = m.tick(now: t0 + .seconds(4))
        #expect(T.updates(m.received(T.welcome(), now: t0 + .seconds(4))) == [Sent(.report, "job-a", 1), Sent(.checkpoint, "job-a", 2)])
    }
}
