import Foundation
import LoomCheckpoint
import LoomClient
import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// A trial paused on a REPORT that announced a checkpoint resumes only once that checkpoint is
/// stored (`OptimizerMachine+Pauses`): its CANCEL_JOBS and its promotion wait for the CHECKPOINT,
/// for the attempt's end without it, or for `pausedCheckpointWait`, also across a restart.
@Suite struct OptimizerMachinePauses {
    /// Promotion ASHA: rungs at epoch 1 and 2; with two trials at rung 1 the better one is promoted.
    static let spec = MachineHarness.spec(trials: 3, concurrent: 2,
                                          scheduler: "{type: promotion, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}")

    /// A metric line that announces a checkpoint.
    @discardableResult
    static func announce(_ h: inout MachineHarness, _ job: String, seq: UInt64, epoch: Double, loss: Double) throws -> OptimizerActions {
        try h.event(.update(MachineHarness.update(.report, job, seq: seq,
                                                  .object(["epoch": .number(epoch), "loss": .number(loss), "checkpoint": .bool(true)]))))
    }

    /// The CHECKPOINT of attempt 1 of `job` (lease 10) holding one file, and its bytes.
    static func checkpoint(_ job: String, seq: UInt64, epoch: Int) throws -> (Update, [String: [UInt8]]) {
        let data = Array("epoch \(epoch)".utf8)
        let sha = BlobDirectory.hash(data)
        let manifest = CheckpointManifest(job: job, attempt: 1, seq: seq, files: [CheckpointFile(path: "epoch.txt", sha256: sha, size: Int64(data.count))])
        let payload: JSONValue = .object(["epoch": .number(Double(epoch)), "loss": .number(0.1), "checkpoint": .bool(true),
                                          CheckpointManifest.payloadKey: try JSONDecoder().decode(JSONValue.self, from: Data(JSONCoding.encode(manifest)))])
        return (MachineHarness.update(.checkpoint, job, seq: seq, payload), [sha: data])
    }

    /// Trials 1 and 2 run; trial 1 pauses at rung 1 with its checkpoint stored, trial 2 pauses there
    /// (the better: it is promoted at once) on a line whose CHECKPOINT has not arrived.
    static func pauseTrialTwoBeforeItsCheckpoint() throws -> (MachineHarness, String) {
        var h = try MachineHarness(settings: OptimizerMachineCheckpoints.settings)
        let id = try h.submit(spec)
        try h.start("\(id)/1")
        try h.start("\(id)/2")
        try announce(&h, "\(id)/1", seq: 1, epoch: 1, loss: 0.2)
        let (first, bytes) = try checkpoint("\(id)/1", seq: 2, epoch: 1)
        _ = try OptimizerMachineCheckpoints.pump(&h, try h.event(.update(first)), from: bytes)
        #expect(h.cancelledJobs == ["\(id)/1"], "trial 1's checkpoint is stored: its attempt is cancelled")
        try h.start("\(id)/3")
        try announce(&h, "\(id)/2", seq: 1, epoch: 1, loss: 0.1)
        return (h, id)
    }

    @Test func aPausedTrialIsNotPromotedBeforeTheCheckpointItAnnouncedIsStored() throws {
        var (h, id) = try Self.pauseTrialTwoBeforeItsCheckpoint()
        let job = "\(id)/2"
        #expect(try h.trial(id, 2).state == .waiting && h.trial(id, 2).budget == 2, "promoted to rung 2 in the store")
        #expect(h.submittedJobs.filter { $0 == job }.count == 1, "but not submitted again yet")
        #expect(!h.cancelledJobs.contains(job), "nor its attempt cancelled: the broker would answer the CHECKPOINT stale")
        #expect(h.acknowledged.last == 1, "the REPORT is stored and acknowledged")
        try h.tick()
        #expect(h.submittedJobs.filter { $0 == job }.count == 1)
        // The CHECKPOINT arrives and is stored: the attempt is cancelled, then the promotion submitted.
        let (update, bytes) = try Self.checkpoint(job, seq: 2, epoch: 1)
        h.sent = []
        _ = try OptimizerMachineCheckpoints.pump(&h, try h.event(.update(update)), from: bytes)
        #expect(try h.store.checkpoints(study: id, trial: 2).map(\.seq) == [2])
        #expect(h.acknowledged == [2])
        let cancel = try #require(h.sent.firstIndex { if case .cancel(let jobs, _) = $0 { jobs == [job] } else { false } })
        let submit = try #require(h.sent.firstIndex { if case .submit(let jobs) = $0 { jobs.map(\.id) == [job] } else { false } })
        #expect(cancel < submit, "the paused attempt is cancelled before the promoted run is submitted")
        if case .submit(let jobs) = h.sent[submit] { #expect(jobs.first?.requirements.firstAttempt == 2) }
    }

    @Test func aRestartedOptimizerFollowsThePausedJobAndPromotesOnlyOnceItsResentCheckpointIsStored() throws {
        var (h, id) = try Self.pauseTrialTwoBeforeItsCheckpoint()
        let job = "\(id)/2"
        // SIGKILL: the machine is rebuilt from the store, which holds the announcing REPORT only.
        let started = try h.restart()
        #expect(!h.submittedJobs.contains(job), "not re-synced: \(h.sent)")
        #expect(started.messages.contains(.follow(jobs: [job])), "its job is followed, so the worker's resend is delivered")
        #expect(started.notes.contains { $0.message == "a paused trial waits for the checkpoint it announced" })
        h.advance(5)
        try h.tick()
        #expect(!h.submittedJobs.contains(job), "no promotion before the checkpoint is stored")
        // The worker resends the CHECKPOINT (unacknowledged) and it is stored.
        let (update, bytes) = try Self.checkpoint(job, seq: 2, epoch: 1)
        _ = try OptimizerMachineCheckpoints.pump(&h, try h.event(.update(update)), from: bytes)
        #expect(try h.store.checkpoints(study: id, trial: 2).map(\.seq) == [2])
        #expect(h.cancelledJobs == [job])
        #expect(h.submittedJobs.filter { $0 == job } == [job], "promoted now, restoring the checkpoint just stored")
    }

    /// Killed after the turn that promoted a trial committed, before its CANCEL_JOBS and SUBMIT
    /// left: the broker may still hold the paused attempt's job, whose result a re-sync would
    /// take for the promoted run's (the study waited for good). The restarted machine cancels
    /// the job and submits the promoted run anew.
    @Test func aPromotionWhoseSubmitMayBeLostIsCancelledAndSubmittedAnewAfterARestart() throws {
        var (h, id) = try Self.pauseTrialTwoBeforeItsCheckpoint()
        let job = "\(id)/2"
        let (update, bytes) = try Self.checkpoint(job, seq: 2, epoch: 1)
        _ = try OptimizerMachineCheckpoints.pump(&h, try h.event(.update(update)), from: bytes)
        #expect(try h.trial(id, 2).state == .waiting && h.attempts(id, 2).map(\.state) == [.complete])
        try h.restart()
        let cancel = try #require(h.sent.firstIndex { if case .cancel(let jobs, _) = $0 { jobs == [job] } else { false } })
        let submit = try #require(h.sent.firstIndex { if case .submit(let jobs) = $0 { jobs.map(\.id) == [job] } else { false } })
        #expect(cancel < submit)
        if case .submit(let jobs) = h.sent[submit] {
            #expect(jobs.first?.requirements.isResync == false && jobs.first?.requirements.firstAttempt == 2, "a new run, not a re-sync")
        }
    }

    @Test func aCheckpointThatOvertookItsReportIsNotWaitedFor() throws {
        var h = try MachineHarness(settings: OptimizerMachineCheckpoints.settings)
        let id = try h.submit(Self.spec)
        try h.start("\(id)/1")
        try h.start("\(id)/2")
        try Self.announce(&h, "\(id)/1", seq: 1, epoch: 1, loss: 0.2)
        // Trial 2's CHECKPOINT (seq 2) is stored before its REPORT (seq 1) arrives.
        let (update, bytes) = try Self.checkpoint("\(id)/2", seq: 2, epoch: 1)
        _ = try OptimizerMachineCheckpoints.pump(&h, try h.event(.update(update)), from: bytes)
        try Self.announce(&h, "\(id)/2", seq: 1, epoch: 1, loss: 0.1)
        #expect(h.cancelledJobs.contains("\(id)/2"), "cancelled at once")
        #expect(h.submittedJobs.filter { $0 == "\(id)/2" }.count == 2, "and promoted at once")
    }

    @Test func aResultOfTheAwaitedAttemptWaitsUnacknowledgedForItsCheckpoint() throws {
        var (h, id) = try Self.pauseTrialTwoBeforeItsCheckpoint()
        let job = "\(id)/2"
        // The budget-style attempt exits at its budget; its FINAL overtook the CHECKPOINT's resend.
        let final = try h.final(job, seq: 3, ["epoch": 1, "loss": 0.1])
        #expect(final.messages.isEmpty, "not acknowledged: the worker would forget the CHECKPOINT with it")
        let (update, bytes) = try Self.checkpoint(job, seq: 2, epoch: 1)
        _ = try OptimizerMachineCheckpoints.pump(&h, try h.event(.update(update)), from: bytes)
        #expect(h.acknowledged.suffix(2).sorted() == [2, 3], "the checkpoint and then the held result")
        #expect(h.submittedJobs.filter { $0 == job }.count == 2)
        #expect(try h.trial(id, 2).state == .waiting, "the paused attempt's result does not end the trial")
    }

    @Test func anAttemptKnownEndedWithoutItsCheckpointIsPromotedFromTheNewestStoredOne() throws {
        var (h, id) = try Self.pauseTrialTwoBeforeItsCheckpoint()
        let job = "\(id)/2"
        let ended = try h.event(.ended(AttemptRef(job: job, attempt: 1, lease: 10), reason: "lost", detail: "worker w1 missed heartbeats"))
        #expect(ended.notes.contains { $0.level == .warning && $0.message.hasPrefix("the paused attempt ended without its announced checkpoint") })
        #expect(h.submittedJobs.filter { $0 == job }.count == 2, "promoted: nothing newer will come")
        #expect(try h.store.checkpoints(study: id, trial: 2).isEmpty)
    }

    @Test func aCheckpointThatNeverArrivesHoldsThePromotionOnlyForTheBound() throws {
        var (h, id) = try Self.pauseTrialTwoBeforeItsCheckpoint()
        let job = "\(id)/2"
        let wait = h.settings.pausedCheckpointWait
        #expect(h.machine.nextDeadline == h.t0 + wait)
        h.advance(59.9)
        try h.tick()
        #expect(h.submittedJobs.filter { $0 == job }.count == 1)
        h.advance(0.1)
        let expired = try h.tick()
        #expect(expired.notes.contains { $0.level == .warning && $0.message.hasPrefix("the paused attempt's announced checkpoint did not arrive") },
                "\(expired.notes)")
        #expect(h.submittedJobs.filter { $0 == job }.count == 2)
        #expect(h.cancelledJobs.contains(job))
        // A restart during the wait starts the bound again (the store does not say when it began).
        var (r, _) = try Self.pauseTrialTwoBeforeItsCheckpoint()
        r.advance(30)
        try r.restart()
        r.advance(59)
        try r.tick()
        #expect(!r.submittedJobs.contains(job))
        r.advance(1)
        try r.tick()
        #expect(r.submittedJobs.filter { $0 == job } == [job])
    }

    // MARK: - A FINAL that overtook its last line's CHECKPOINT

    static func finalAnnouncing(_ job: String, seq: UInt64, loss: Double) -> Update {
        MachineHarness.update(.final, job, seq: seq, .object(["metrics": .object(["loss": .number(loss), "checkpoint": .bool(true)]),
                                                            "reports": .number(1)]))
    }

    @Test func aFinalThatOvertookItsLastCheckpointWaitsForItBeforeTheResultIsRecorded() throws {
        var h = try MachineHarness(settings: OptimizerMachineCheckpoints.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        // Redelivered by the broker after a restart, ahead of the worker's resends.
        let held = try h.event(.update(Self.finalAnnouncing("m-1/1", seq: 3, loss: 0.5)))
        #expect(held.messages.isEmpty && !held.writes.contains { if case .recordResult = $0 { true } else { false } },
                "neither acknowledged (the worker would forget the CHECKPOINT) nor recorded")
        #expect(held.notes.contains { $0.message == "a result waits for the checkpoint its last line announced" })
        try h.event(.update(MachineHarness.update(.report, "m-1/1", seq: 1, .object(["loss": .number(0.5), "checkpoint": .bool(true)]))))
        #expect(try h.trial(id, 1).state == .running)
        let (update, bytes) = try OptimizerMachineCheckpoints.checkpoint("m-1/1", seq: 2, ["model": "abc"])
        let turns = try OptimizerMachineCheckpoints.pump(&h, try h.event(.update(update)), from: bytes)
        let writes = turns.flatMap(\.writes)
        let kept = try #require(writes.firstIndex { if case .keepCheckpoint = $0 { true } else { false } })
        let result = try #require(writes.firstIndex { if case .recordResult = $0 { true } else { false } })
        #expect(kept < result)
        #expect(h.acknowledged == [1, 2, 3])
        #expect(try h.trial(id, 1).state == .complete && h.trial(id, 1).value == 0.5)
    }

    @Test func aFinalWaitsForTheCheckpointItOvertookOnlyForTheBound() throws {
        var h = try MachineHarness(settings: OptimizerMachineCheckpoints.settings)
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.event(.update(Self.finalAnnouncing("m-1/1", seq: 3, loss: 0.5)))
        #expect(h.machine.nextDeadline == h.t0 + h.settings.overtakenCheckpointWait)
        h.advance(14.9)
        try h.tick()
        #expect(try h.trial(id, 1).state == .running)
        h.advance(0.1)
        let expired = try h.tick()
        #expect(expired.notes.contains { $0.level == .warning && $0.message.hasPrefix("a result is recorded without the checkpoint") })
        #expect(try h.trial(id, 1).state == .complete && h.acknowledged == [3])
        // A FINAL whose last line announced nothing is recorded at once, gap or not.
        try h.start("m-1/2")
        try h.final("m-1/2", seq: 4, ["loss": 0.25])
        #expect(try h.trial(id, 2).state == .complete)
    }
}
