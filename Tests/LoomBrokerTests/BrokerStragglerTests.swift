import Foundation
import Testing
@testable import LoomBroker
import LoomWire

extension BrokerHarness {
    /// Moves the clock from its current time to `end` in `step`s; at each step every worker in
    /// `workers` heartbeats (on time) and the sweep runs. Returns every action on the way.
    @discardableResult
    mutating func run(until end: Duration, heartbeating workers: [String], step: Duration = .seconds(1)) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        var offset = t0.duration(to: now)
        while offset < end {
            offset = min(offset + step, end)
            now = t0 + offset
            for worker in workers { actions += self.worker(worker, .heartbeat) }
            actions += advance(to: offset)
        }
        return actions
    }

    /// The CANCEL reasons sent to the worker connection `identity`, by lease.
    static func cancels(_ identity: String, _ actions: [BrokerAction]) -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        for case .cancel(_, let lease, let reason) in toWorker(identity, actions) { out[lease] = reason }
        return out
    }
}

/// A job spec with the straggler fields the broker reads.
func stragglerSpec(stall: Double? = nil, budget: Double? = nil) -> Frame {
    var text = #"{"command":["true"]"#
    if let stall { text += #","stall_timeout_s":\#(stall)"# }
    if let budget { text += #","budget":\#(budget)"# }
    return Array((text + "}").utf8)
}

@Suite struct BrokerStalledAttempts {
    /// Its worker said the process exited (its FINAL waits for a snapshot): silence past the stall
    /// timeout is not a stall (simulation seed 126), but a snapshot that never ends is, after
    /// `exitedResultTimeout`; and a lost worker is lost with the attempt.
    @Test func anAttemptWhoseProcessExitedIsNotStalledWhileItsResultWaitsForASnapshot() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let first = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["s/1"], spec: stragglerSpec(stall: 5))).first)
        h.ready("w2")
        h.worker("w1", .started(first))
        h.update("w1", .report, first, seq: 1)
        h.run(until: .seconds(2), heartbeating: ["w1", "w2"])
        // Another worker's lease, or an unknown one, changes nothing.
        h.worker("w2", .exited([first.lease]))
        h.worker("w1", .exited([first.lease, 999]))
        let waiting = h.run(until: .seconds(60), heartbeating: ["w1", "w2"])
        #expect(!BrokerHarness.topics(waiting).contains("job/s/1/stalled"), "58 s of silence after the exit")
        let result = h.update("w1", .final, first, seq: 3)
        #expect(BrokerHarness.delivered("c1", result).map(\.kind) == [.final])

        // A snapshot that never ends: stalled once `exitedResultTimeout` has passed since the exit.
        let second = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["s/2"], spec: stragglerSpec(stall: 5))).first)
        h.worker("w1", .started(second))
        h.worker("w1", .exited([second.lease]))
        let limit = h.machine.policy.exitedResultTimeout
        let before = h.run(until: .seconds(60) + limit - .seconds(1), heartbeating: ["w1", "w2"], step: .seconds(5))
        #expect(!BrokerHarness.topics(before).contains("job/s/2/stalled"))
        let after = h.run(until: .seconds(61) + limit, heartbeating: ["w1", "w2"])
        #expect(BrokerHarness.topics(after).contains("job/s/2/stalled"))

        // The worker's liveness still guards an exited attempt.
        let joined = h.ready("w3", slots: 2)
        let submitted = h.submit("c1", ["s/3"], spec: stragglerSpec(stall: 5))
        let third = try #require(BrokerHarness.assigned("w3", joined + submitted).first { $0.job == "s/3" })
        h.worker("w3", .started(third))
        h.worker("w3", .exited([third.lease]))
        let silent = h.run(until: .seconds(70) + limit, heartbeating: ["w1", "w2"])
        #expect(BrokerHarness.topics(silent).contains("worker/w3/lost"))
        #expect(BrokerHarness.ended("c1", silent).contains { $0.ref == third && $0.reason == EndedReason.lost })
    }

    @Test func attemptSilentForItsStallTimeoutIsCancelledAndRetriedOnAnotherWorker() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let first = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["s/1"], spec: stragglerSpec(stall: 30))).first)
        h.ready("w2")
        h.worker("w1", .started(first))
        h.run(until: .seconds(20), heartbeating: ["w1", "w2"])
        h.update("w1", .report, first, seq: 1)
        let quiet = h.run(until: .milliseconds(49_900), heartbeating: ["w1", "w2"], step: .milliseconds(100))
        #expect(!BrokerHarness.topics(quiet).contains("job/s/1/stalled"), "a report restarts the stall clock")
        let stall = h.run(until: .seconds(50), heartbeating: ["w1", "w2"], step: .milliseconds(100))
        #expect(BrokerHarness.topics(stall).prefix(2) == ["job/s/1/stalled", "job/s/1/requeued"])
        #expect(BrokerHarness.cancels("w1", stall) == [first.lease: CancelReason.stalled])
        // The client learns that attempt 1 ended, and why, before attempt 2's STARTED.
        let ended = BrokerHarness.ended("c1", stall)
        #expect(ended.map(\.ref) == [first] && ended.map(\.reason) == [EndedReason.stalled])
        #expect(ended.first?.detail == "stalled: no report for 30s (stall timeout 30s)")
        let second = try #require(BrokerHarness.assigned("w2", stall).first)
        #expect(second.job == "s/1" && second.attempt == 2)
        let event = try #require(BrokerHarness.feedEvents(stall).first)
        #expect(String(decoding: event.body, as: UTF8.self).contains(#""silent_s":30"#))
        #expect(h.status()["stragglers"]?.object?["stalled"] == .array([.string("s/1#1")]))

        // The stalled attempt's FAILED (it was killed) is stale: acknowledged, never delivered.
        let late = h.update("w1", .failed, first, seq: 2)
        #expect(BrokerHarness.delivered("c1", late).isEmpty)
        #expect(BrokerHarness.topics(late) == ["job/s/1/stale"])
        #expect(h.machine.counters.stalled == 1 && h.machine.counters.requeued == 1)
        #expect(h.status()["stragglers"]?.object?["stalled"] == .array([]))
    }

    @Test func derivedStallTimeoutIsTenMedianReportIntervalsAndNeverBelowAMinute() throws {
        var h = BrokerHarness()
        h.ready("w1", slots: 2)
        h.hello("c1")
        let assigned = BrokerHarness.assigned("w1", h.submit("c1", ["d/slow", "d/fast"]))
        let slow = try #require(assigned.first { $0.job == "d/slow" })
        let fast = try #require(assigned.first { $0.job == "d/fast" })
        h.worker("w1", .started(slow))
        h.worker("w1", .started(fast))
        // d/slow reports every 10 s (timeout 100 s); d/fast every second (timeout: the 60 s floor).
        var seq: UInt64 = 0
        for second in 1...30 {
            h.run(until: .seconds(second), heartbeating: ["w1"])
            seq += 1
            h.update("w1", .report, fast, seq: seq)
            if second % 10 == 0 { h.update("w1", .report, slow, seq: UInt64(second / 10)) }
        }
        #expect(h.machine.stallTimeout(of: try #require(h.machine.jobs["d/slow"])) == .seconds(100))
        #expect(h.machine.stallTimeout(of: try #require(h.machine.jobs["d/fast"])) == .seconds(60))
        let beforeFast = h.run(until: .milliseconds(89_900), heartbeating: ["w1"], step: .milliseconds(100))
        #expect(!BrokerHarness.topics(beforeFast).contains { $0.hasSuffix("/stalled") })
        let fastStall = h.run(until: .seconds(90), heartbeating: ["w1"], step: .milliseconds(100))
        #expect(BrokerHarness.topics(fastStall).first == "job/d/fast/stalled")
        let beforeSlow = h.run(until: .milliseconds(129_900), heartbeating: ["w1"], step: .milliseconds(100))
        #expect(!BrokerHarness.topics(beforeSlow).contains("job/d/slow/stalled"))
        let slowStall = h.run(until: .seconds(130), heartbeating: ["w1"], step: .milliseconds(100))
        #expect(BrokerHarness.topics(slowStall).first == "job/d/slow/stalled")
    }

    @Test func attemptThatNeverReportedIsNotStalledWithoutAStallTimeoutInItsSpec() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["q/1"])).first)
        h.worker("w1", .started(ref))
        h.update("w1", .report, ref, seq: 1)
        let actions = h.run(until: .seconds(3_600), heartbeating: ["w1"], step: .seconds(10))
        #expect(!BrokerHarness.topics(actions).contains("job/q/1/stalled"), "one report gives no interval to derive from")
        #expect(h.machine.counters.stalled == 0)
    }

    @Test func stallOfTheLastAllowedAttemptFailsTheJobWithTheReason() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["f/1"], requirements: Requirements(maxAttempts: 1),
                                                                       spec: stragglerSpec(stall: 5))).first)
        h.worker("w1", .started(ref))
        let actions = h.run(until: .seconds(5), heartbeating: ["w1"])
        let failed = try #require(BrokerHarness.delivered("c1", actions).first)
        #expect(failed.kind == .failed && failed.attempt.lease == ref.lease)
        let body = String(decoding: failed.payload, as: UTF8.self)
        #expect(body.contains("stalled: no report for 5s (stall timeout 5s)") && body.contains("all 1 attempts are used"))
        #expect(BrokerHarness.cancels("w1", actions) == [ref.lease: CancelReason.stalled])
    }
}

@Suite struct BrokerSpeculation {
    /// Five peers of study `sp` finish in 10 s on w1; `sp/6` (started with them) still runs, and an
    /// idle worker w2 joins. Returns the slow attempt.
    static func slowAttemptWithIdlePeer(_ h: inout BrokerHarness, slowBudget: Double? = nil) throws -> AttemptRef {
        h.ready("w1", slots: 6)
        h.hello("c1")
        var refs: [AttemptRef] = []
        for n in 1...5 { refs += BrokerHarness.assigned("w1", h.submit("c1", ["sp/\(n)"], spec: stragglerSpec(budget: 1))) }
        refs += BrokerHarness.assigned("w1", h.submit("c1", ["sp/6"], spec: stragglerSpec(budget: slowBudget ?? 1)))
        for ref in refs { h.worker("w1", .started(ref)) }
        h.run(until: .seconds(10), heartbeating: ["w1"])
        for ref in refs.prefix(5) {
            for update in BrokerHarness.delivered("c1", h.update("w1", .final, ref, seq: 1)) {
                h.client("c1", .ack(job: update.attempt.job, lease: update.attempt.lease, seq: update.seq))
            }
        }
        h.ready("w2", slots: 1)
        return try #require(refs.last)
    }

    @Test func attemptRunningLongerThanTwiceItsPeersMedianGetsABackupOnAnIdleWorker() throws {
        var h = BrokerHarness()
        _ = try Self.slowAttemptWithIdlePeer(&h)
        let early = h.run(until: .seconds(20), heartbeating: ["w1", "w2"], step: .milliseconds(500))
        #expect(BrokerHarness.assigned("w2", early).isEmpty, "20 s is not more than twice the 10 s median")
        let late = h.run(until: .milliseconds(20_500), heartbeating: ["w1", "w2"], step: .milliseconds(500))
        let backup = try #require(BrokerHarness.assigned("w2", late).first)
        #expect(backup.job == "sp/6" && backup.attempt == 2)
        #expect(BrokerHarness.topics(late).prefix(2) == ["job/sp/6/speculated", "job/sp/6/assigned"])
        let speculating = h.status()["stragglers"]?.object?["speculating"]
        #expect(speculating == .array([.object(["job": .string("sp/6"), "attempt": .number(1), "worker": .string("w1"),
                                                "backup_attempt": .number(2), "backup_worker": .string("w2")])]))
        #expect(h.machine.counters.speculated == 1)
        // Only one backup per job, however long it goes on.
        #expect(BrokerHarness.assigned("w2", h.run(until: .seconds(40), heartbeating: ["w1", "w2"])).isEmpty)
    }

    @Test func backupFinishingFirstWinsTheOtherCopyIsCancelledAndItsLateResultIsStale() throws {
        var h = BrokerHarness()
        let slow = try Self.slowAttemptWithIdlePeer(&h)
        let backup = try #require(BrokerHarness.assigned("w2", h.run(until: .seconds(21), heartbeating: ["w1", "w2"])).first)
        #expect(BrokerHarness.toClient("c1", h.worker("w2", .started(backup))) == [.started(backup, worker: "w2", backup: true)])
        let report = h.update("w2", .report, backup, seq: 1)
        #expect(BrokerHarness.delivered("c1", report).map(\.attempt) == [backup], "both copies report")
        // The client's ACK of the backup's report reaches the backup's worker.
        #expect(BrokerHarness.toWorker("w2", h.client("c1", .ack(job: "sp/6", lease: backup.lease, seq: 1)))
            == [.ack(job: "sp/6", lease: backup.lease, seq: 1)])
        h.run(until: .seconds(25), heartbeating: ["w1", "w2"])

        let win = h.update("w2", .final, backup, seq: 2)
        #expect(BrokerHarness.delivered("c1", win).map(\.attempt) == [backup])
        #expect(BrokerHarness.cancels("w1", win) == [slow.lease: CancelReason.superseded])
        #expect(BrokerHarness.topics(win).prefix(2) == ["job/sp/6/superseded", "job/sp/6/finished"])
        // The client hears that the original ended, superseded, before the backup's FINAL.
        #expect(BrokerHarness.toClient("c1", win).prefix(2) == [
            .ended(slow, reason: EndedReason.superseded, detail: "attempt 2 of the job finished first"),
            .update(Update(kind: .final, attempt: backup, seq: 2, payload: Array(#"{"loss":1}"#.utf8))),
        ])

        let late = h.update("w1", .final, slow, seq: 1)
        #expect(BrokerHarness.delivered("c1", late).isEmpty)
        #expect(BrokerHarness.topics(late) == ["job/sp/6/stale"])
        #expect(BrokerHarness.toWorker("w1", late) == [.ack(job: "sp/6", lease: slow.lease, seq: 1)])
        h.client("c1", .ack(job: "sp/6", lease: backup.lease, seq: 2))
        #expect(h.machine.jobs["sp/6"] == nil)
        #expect(h.machine.counters.superseded == 1 && h.machine.counters.stale == 1 && h.machine.counters.finished == 6)
    }

    @Test func originalFinishingFirstWinsAndTheBackupIsSuperseded() throws {
        var h = BrokerHarness()
        let slow = try Self.slowAttemptWithIdlePeer(&h)
        let backup = try #require(BrokerHarness.assigned("w2", h.run(until: .seconds(21), heartbeating: ["w1", "w2"])).first)
        h.worker("w2", .started(backup))
        let win = h.update("w1", .final, slow, seq: 1)
        #expect(BrokerHarness.delivered("c1", win).map(\.attempt) == [slow])
        #expect(BrokerHarness.cancels("w2", win) == [backup.lease: CancelReason.superseded])
        #expect(BrokerHarness.ended("c1", win).map(\.ref) == [backup] && BrokerHarness.ended("c1", win).map(\.reason) == [EndedReason.superseded])
        let late = h.update("w2", .final, backup, seq: 1)
        #expect(BrokerHarness.delivered("c1", late).isEmpty && BrokerHarness.topics(late) == ["job/sp/6/stale"])
        #expect(h.status()["stragglers"]?.object?["speculating"] == .array([]))
    }

    @Test func peersAtAnotherBudgetDoNotMakeAnAttemptSlow() throws {
        var h = BrokerHarness()
        _ = try Self.slowAttemptWithIdlePeer(&h, slowBudget: 9)
        #expect(BrokerHarness.assigned("w2", h.run(until: .seconds(60), heartbeating: ["w1", "w2"])).isEmpty)
        #expect(h.machine.counters.speculated == 0)
    }

    @Test func noBackupWhileNewJobsTakeTheIdleSlots() throws {
        var h = BrokerHarness()
        _ = try Self.slowAttemptWithIdlePeer(&h)
        let others = (1...6).map { "other/\($0)" }
        let started = h.submit("c1", others)
        #expect(BrokerHarness.assigned("w1", started).count + BrokerHarness.assigned("w2", started).count == 6)
        let actions = h.run(until: .seconds(30), heartbeating: ["w1", "w2"])
        #expect(!BrokerHarness.topics(actions).contains("job/sp/6/speculated"))
    }

    @Test func failedCopyEndsQuietlyWhileTheOtherGoesOnAndALostOriginalHandsOverToItsBackup() throws {
        var h = BrokerHarness()
        _ = try Self.slowAttemptWithIdlePeer(&h)
        let backup = try #require(BrokerHarness.assigned("w2", h.run(until: .seconds(21), heartbeating: ["w1", "w2"])).first)
        h.worker("w2", .started(backup))
        let failed = h.update("w2", .failed, backup, seq: 1)
        #expect(BrokerHarness.delivered("c1", failed).isEmpty, "the original still runs: the job has not failed")
        #expect(BrokerHarness.topics(failed).first == "job/sp/6/copy_lost")
        #expect(BrokerHarness.toWorker("w2", failed) == [.ack(job: "sp/6", lease: backup.lease, seq: 1)])
        #expect(BrokerHarness.ended("c1", failed).map(\.ref) == [backup] && BrokerHarness.ended("c1", failed).map(\.reason) == [EndedReason.failed])

        // Again from the start, but now the original's worker w1 dies while the backup runs: the
        // backup goes on as the job's attempt instead of a requeue.
        var g = BrokerHarness()
        _ = try Self.slowAttemptWithIdlePeer(&g)
        let copy = try #require(BrokerHarness.assigned("w2", g.run(until: .seconds(21), heartbeating: ["w1", "w2"])).first)
        g.worker("w2", .started(copy))
        let loss = g.run(until: .seconds(25), heartbeating: ["w2"])
        #expect(BrokerHarness.topics(loss).prefix(2) == ["worker/w1/lost", "job/sp/6/copy_lost"])
        #expect(!BrokerHarness.topics(loss).contains("job/sp/6/requeued"))
        #expect(BrokerHarness.ended("c1", loss).map(\.reason) == [EndedReason.lost])
        #expect(BrokerHarness.ended("c1", loss).first?.detail == "worker w1 missed heartbeats")
        let result = g.update("w2", .final, copy, seq: 1)
        #expect(BrokerHarness.delivered("c1", result).map(\.attempt) == [copy])
        #expect(g.machine.counters.copiesLost == 1 && g.machine.counters.requeued == 0)
    }
}

extension BrokerSpeculation {
    @Test func stalledBackupEndsWhileTheOriginalGoesOn() throws {
        var h = BrokerHarness(stragglers: StragglerPolicy(minimumStallTimeout: .seconds(3)))
        let slow = try Self.slowAttemptWithIdlePeer(&h)
        // The original reports every second: the job's derived stall timeout is 10 s (above the
        // 3 s floor set here), for either copy.
        var seq: UInt64 = 0
        for second in 11...21 {
            h.run(until: .seconds(second), heartbeating: ["w1", "w2"])
            seq += 1
            h.update("w1", .report, slow, seq: seq)
        }
        let backup = try #require(BrokerHarness.assigned("w2", h.log).first)
        h.worker("w2", .started(backup))
        var quiet: [BrokerAction] = []
        for second in 22...30 {
            quiet += h.run(until: .seconds(second), heartbeating: ["w1", "w2"])
            seq += 1
            h.update("w1", .report, slow, seq: seq)
        }
        #expect(!BrokerHarness.topics(quiet).contains("job/sp/6/stalled"))
        // The backup STARTED at 21 s and has said nothing since.
        let stall = h.run(until: .seconds(31), heartbeating: ["w1", "w2"])
        seq += 1
        h.update("w1", .report, slow, seq: seq)
        #expect(BrokerHarness.topics(stall).prefix(2) == ["job/sp/6/stalled", "job/sp/6/copy_lost"])
        #expect(BrokerHarness.cancels("w2", stall) == [backup.lease: CancelReason.stalled])
        #expect(!BrokerHarness.topics(stall).contains("job/sp/6/requeued"))
        #expect(BrokerHarness.ended("c1", stall).map(\.ref) == [backup] && BrokerHarness.ended("c1", stall).map(\.reason) == [EndedReason.stalled])
        let result = h.update("w1", .final, slow, seq: seq + 1)
        #expect(BrokerHarness.delivered("c1", result).map(\.attempt) == [slow])
        #expect(h.machine.counters.stalled == 1 && h.machine.counters.copiesLost == 1)
    }

    @Test func cancellingAJobStopsBothCopies() throws {
        var h = BrokerHarness()
        let slow = try Self.slowAttemptWithIdlePeer(&h)
        let backup = try #require(BrokerHarness.assigned("w2", h.run(until: .seconds(21), heartbeating: ["w1", "w2"])).first)
        let actions = h.client("c1", .cancel(request: 5, jobs: ["sp/6"]))
        #expect(BrokerHarness.cancels("w1", actions) == [slow.lease: CancelReason.cancelled])
        #expect(BrokerHarness.cancels("w2", actions) == [backup.lease: CancelReason.cancelled])
    }
}

@Suite struct BrokerSlowWorkers {
    @Test func workerWhoseHeartbeatsComeLateGetsNoJobsUntilItRecovers() throws {
        var h = BrokerHarness()
        h.ready("w1")
        h.hello("c1")
        // Heartbeats every 2.2 s on a 1 s interval: 1.2 s late each; the average passes 0.5 s
        // at the third.
        var marked: [BrokerAction] = []
        for n in 1...3 {
            h.advance(to: .milliseconds(2_200 * n))
            marked += h.worker("w1", .heartbeat)
        }
        #expect(BrokerHarness.topics(marked) == ["worker/w1/slow"])
        #expect(BrokerHarness.assigned("w1", h.submit("c1", ["n/1"])).isEmpty)
        let status = h.status()
        #expect(status["stragglers"]?.object?["slow_workers"] == .array([.string("w1")]))
        guard case .array(let workers)? = status["workers"] else { Issue.record("no workers in status"); return }
        #expect(workers.first?.object?["slow"] == .bool(true))

        // On time again: the average decays below 0.2 s at the fifth heartbeat, and the waiting job starts.
        var recovered: [BrokerAction] = []
        for n in 1...5 {
            h.advance(to: .milliseconds(6_600 + 1_000 * n))
            recovered += h.worker("w1", .heartbeat)
            if n == 4 { #expect(recovered.isEmpty) }
        }
        #expect(BrokerHarness.topics(recovered).first == "worker/w1/recovered")
        #expect(BrokerHarness.assigned("w1", recovered).map(\.job) == ["n/1"])
        #expect(h.machine.counters.slowWorkers == 1)
    }

    @Test func oneLateHeartbeatDoesNotMakeAWorkerSlow() {
        var h = BrokerHarness()
        h.ready("w1")
        h.advance(to: .milliseconds(2_900))
        let late = h.worker("w1", .heartbeat)
        h.advance(to: .milliseconds(3_900))
        #expect(BrokerHarness.topics(late + h.worker("w1", .heartbeat)).isEmpty)
    }
}
