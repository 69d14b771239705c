import Foundation
import LoomClient
import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// The optimizer's machine on a manual clock: events in, store writes and messages out.
@Suite struct OptimizerMachineBehaviour {
    @Test func aSubmittedStudyIsStoredAndItsTrialsSubmittedAfterTheWrites() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        #expect(id == "m-1")
        #expect(try h.store.study(id)?.state == .running)
        #expect(try h.store.trials(study: id).map(\.number) == [1, 2])
        #expect(h.submittedJobs == ["m-1/1", "m-1/2"])
        #expect(try h.submit(MachineHarness.spec()) == "m-2", "ids count the studies of that name")
    }

    /// A study's `trial.worker_labels` travel in every job it submits (the broker then gives the
    /// job only to workers carrying them); a study without labels submits none.
    @Test func aStudysWorkerLabelsTravelInItsJobs() throws {
        var h = try MachineHarness()
        let labelled = MachineHarness.spec().replacingOccurrences(of: "trial: {command: [t], max_retries: 2}",
                                                                  with: "trial: {command: [t], max_retries: 2, worker_labels: [trusted, a100]}")
        _ = try h.submit(labelled)
        _ = try h.submit(MachineHarness.spec())
        let jobs = h.sent.flatMap { message -> [JobSubmission] in if case .submit(let jobs) = message { jobs } else { [] } }
        let labels = try jobs.map { try JobSpec.decode($0.payload).workerLabels }
        #expect(jobs.map(\.id) == ["m-1/1", "m-1/2", "m-2/1", "m-2/2"])
        #expect(labels == [["trusted", "a100"], ["trusted", "a100"], nil, nil])
    }

    @Test func aReportResentAfterTheStudyEndedIsStoredBeforeItsAcknowledgement() throws {
        // Simulation seed 3118: the last result ended the study, then a resend of an earlier
        // REPORT of that attempt arrived; it was acknowledged with nothing stored.
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(trials: 1, concurrent: 1))
        try h.start("m-1/1")
        try h.final("m-1/1", seq: 3, ["loss": 0.25])
        #expect(try h.store.study(id)?.state == .complete)
        let late = try h.report("m-1/1", seq: 1, ["loss": 0.5])
        #expect(late.writes.contains { if case .recordReport(let r) = $0 { r.seq == 1 && r.trial == 1 } else { false } })
        #expect(late.orderedMessages.contains { if case .acknowledge(let u) = $0 { u.seq == 1 } else { false } })
        #expect(try h.store.reports(study: id, trial: 1).contains { $0.seq == 1 })
    }

    /// The machine that saw the study end knew its trials; one rebuilt from the store after a
    /// restart must too, or the late REPORT is acknowledged with nothing stored.
    @Test func aReportResentAfterTheStudyEndedAndTheOptimizerRestartedIsStoredBeforeItsAcknowledgement() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(trials: 2, concurrent: 2))
        try h.start("m-1/1")
        try h.start("m-1/2")
        try h.final("m-1/1", seq: 2, ["loss": 0.25])
        try h.final("m-1/2", seq: 2, ["loss": 0.75])
        #expect(try h.store.study(id)?.state == .complete)
        h.advance(5)
        try h.restart()
        let late = try h.report("m-1/2", seq: 1, ["loss": 0.5])
        #expect(late.writes.contains { if case .recordReport(let r) = $0 { r.seq == 1 && r.trial == 2 } else { false } })
        #expect(late.orderedMessages.contains { if case .acknowledge(let u) = $0 { u.seq == 1 } else { false } })
        #expect(try h.store.reports(study: id, trial: 2).contains { $0.seq == 1 })
        // A REPORT naming a trial the study never had is acknowledged and stores nothing (a
        // write of an unknown trial would fail the whole turn).
        let unknown = try h.report("m-1/3", seq: 1, ["loss": 0.5])
        #expect(unknown.writes.isEmpty)
        #expect(unknown.orderedMessages.contains { if case .acknowledge(let u) = $0 { u.seq == 1 } else { false } })
    }

    @Test func aResultIsStoredBeforeItsAcknowledgementAndTheStudyEnds() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.start("m-1/2")
        try h.report("m-1/1", seq: 1, ["loss": 0.5])
        let turn = try h.final("m-1/1", seq: 2, ["loss": 0.25])
        #expect(turn.writes.contains { if case .recordResult(let t, _) = $0 { t.number == 1 && t.value == 0.25 } else { false } })
        guard case .acknowledge(let acknowledged)? = turn.orderedMessages.first else { Issue.record("\(turn)"); return }
        #expect(acknowledged.seq == 2)
        try h.final("m-1/2", seq: 1, ["loss": 0.75])
        #expect(try h.store.study(id)?.state == .complete)
        #expect(try h.store.study(id)?.reason == "max_trials reached (2)")
        #expect(try h.attempts(id, 1).map(\.state) == [.complete])
    }

    /// Failure 5 of issue 15: a pruned trial's cancel was a blocking round trip inside the store
    /// transaction; status requests queued behind it until `hyperloom run` timed out.
    @Test func aPrunedTrialIsCancelledByAMessageInTheSameTurnAndStatusIsAnsweredAtOnce() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(trials: 12, concurrent: 4,
                                                  scheduler: "{type: asha, resource: epoch, max_t: 9, grace_period: 1, reduction_factor: 3}"))
        var pruned: [Int] = []
        for n in 1...4 { try h.start("\(id)/\(n)") }
        for n in 1...4 {
            let turn = try h.report("\(id)/\(n)", seq: 1, ["epoch": 1, "loss": Double(n)])
            let cancels = turn.messages.compactMap { message -> [String]? in if case .cancel(let jobs, _) = message { jobs } else { nil } }
            if !cancels.isEmpty {
                #expect(cancels == [["\(id)/\(n)"]])
                #expect(turn.writes.contains { if case .recordResult(let t, _) = $0 { t.number == n && t.state == .pruned } else { false } })
                #expect(turn.messages.contains { if case .submit = $0 { true } else { false } }, "the freed slot is filled at once")
                pruned.append(n)
            }
        }
        #expect(!pruned.isEmpty, "ASHA stops the worse trials at rung 1")
        let status = try h.request(OptimizerRequest(op: "status", study: id))
        guard case .respond(_, "cli", let body)? = status.messages.first else { Issue.record("no answer: \(status)"); return }
        #expect(try JSONValue(parsing: body).object?["counts"]?.object?["pruned"]?.double == Double(pruned.count))
        // The broker's CANCELLED comes back later as an event and needs nothing more.
        #expect(try h.event(.cancelled(request: 1, count: 1)).writes.isEmpty)
    }

    /// A paused attempt's FINAL that crossed its CANCEL_JOBS can reach the machine after the
    /// promoted attempt started (the client hands such a result over without ending the new run):
    /// the scheduler closed that attempt, so it is acknowledged and changes nothing.
    @Test func aPausedAttemptsLateResultDoesNotEndItsPromotedAttempt() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(trials: 3, concurrent: 2,
                                                  scheduler: "{type: promotion, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2}"))
        try h.start("\(id)/1")
        try h.start("\(id)/2")
        try h.report("\(id)/1", seq: 1, ["epoch": 1, "loss": 0.2])
        try h.start("\(id)/3")
        try h.report("\(id)/2", seq: 1, ["epoch": 1, "loss": 0.1])
        #expect(h.cancelledJobs == ["\(id)/1", "\(id)/2"])
        #expect(h.submittedJobs.filter { $0 == "\(id)/2" }.count == 2, "trial 2 paused at rung 1 and promoted")
        try h.start("\(id)/2", attempt: 2)
        #expect(try h.trial(id, 2).state == .running && h.trial(id, 2).attempts == 2)
        let late = try h.final("\(id)/2", attempt: 1, seq: 2, ["epoch": 1, "loss": 0.1])
        #expect(h.acknowledged.last == 2, "acknowledged")
        #expect(!late.writes.contains { if case .recordResult = $0 { true } else { false } }, "\(late.writes)")
        #expect(late.messages.allSatisfy { if case .acknowledge = $0 { true } else { false } }, "no cancel, no submit: \(late.messages)")
        #expect(try h.trial(id, 2).state == .running)
        #expect(try h.attempts(id, 2).first { $0.attempt == 1 }?.state == .complete)
        // The promoted attempt's own result is the trial's.
        try h.report("\(id)/2", attempt: 2, seq: 1, ["epoch": 2, "loss": 0.05])
        #expect(try h.trial(id, 2).value == 0.05)
    }

    /// Failure 6 of issue 15: REPORTs resent after their attempt's FINAL were acknowledged and dropped.
    @Test func aReportArrivingAfterItsTrialsResultIsStillStoredOnce() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.report("m-1/1", seq: 1, ["loss": 0.5])
        try h.final("m-1/1", seq: 3, ["loss": 0.25], reports: 2)
        let late = try h.report("m-1/1", seq: 2, ["loss": 0.3])
        #expect(late.writes.count == 1)
        #expect(h.acknowledged.last == 2)
        #expect(try h.store.reports(study: id, trial: 1).map(\.seq) == [1, 2])
        try h.report("m-1/1", seq: 2, ["loss": 0.3])
        #expect(try h.store.reports(study: id, trial: 1).map(\.seq) == [1, 2], "a duplicate changes nothing")
        #expect(try h.trial(id, 1).value == 0.25, "the result stands")
    }

    @Test func aResentReportOfARunningTrialIsAcknowledgedWithoutWritingOrSchedulingItAgain() throws {
        var h = try MachineHarness()
        _ = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.report("m-1/1", seq: 1, ["loss": 0.5])
        try h.restart()
        let again = try h.report("m-1/1", seq: 1, ["loss": 0.5])
        #expect(again.writes.isEmpty)
        #expect(h.acknowledged == [1])
    }

    /// Failure 2 of issue 15: a resumed attempt that found its checkpoint at its end printed
    /// nothing, and the trial was recorded FAILED.
    @Test func aResumedAttemptThatReportsNothingCompletesWithTheLastReportedValue() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.report("m-1/1", seq: 1, ["loss": 0.5, "step": 11])
        try h.report("m-1/1", seq: 2, ["loss": 0.4, "step": 12])
        try h.event(.ended(AttemptRef(job: "m-1/1", attempt: 1, lease: 10), reason: "lost", detail: "lost: worker w1 missed heartbeats"))
        // The optimizer restarts in between: the last value comes back from the stored reports.
        try h.restart()
        try h.start("m-1/1", attempt: 2, worker: "w2")
        try h.final("m-1/1", attempt: 2, seq: 1, [:], reports: 0)
        let trial = try h.trial(id, 1)
        #expect(trial.state == .complete)
        #expect(trial.value == 0.4)
        #expect(trial.metrics?.object?["step"]?.double == 12)
        #expect(try h.attempts(id, 1).map(\.state) == [.lost, .complete])
    }

    /// The worker resumed attempt 2 in place from a checkpoint it had snapshotted after the last
    /// update this optimizer stored (attempt 1's CHECKPOINT seq 3, never delivered): the FINAL
    /// carries that checkpoint's metrics, which are the trial's newest.
    @Test func aResumedAttemptThatPrintedNothingEndsWithItsCheckpointsMetricsWhenTheyAreNewer() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.report("m-1/1", seq: 1, ["loss": 0.5, "step": 1])
        try h.event(.ended(AttemptRef(job: "m-1/1", attempt: 1, lease: 10), reason: "lost", detail: "lost: worker w1 missed heartbeats"))
        try h.start("m-1/1", attempt: 2, worker: "w1")
        try h.final("m-1/1", attempt: 2, seq: 1, ["loss": 0.3, "step": 3], reports: 0, resumedFrom: (attempt: 1, seq: 3))
        #expect(try h.trial(id, 1).state == .complete)
        #expect(try h.trial(id, 1).value == 0.3)
    }

    /// The checkpoint the worker resumed from is older than a report stored since (attempt 1's
    /// seq 4 reached the optimizer; the worker died before it snapshotted that step): the stored
    /// report is the trial's newest value, not the checkpoint's.
    @Test func aResumedAttemptThatPrintedNothingEndsWithTheStoredValueWhenItIsNewerThanItsCheckpoint() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.report("m-1/1", seq: 3, ["loss": 0.5, "step": 3])
        try h.report("m-1/1", seq: 4, ["loss": 0.2, "step": 4])
        try h.event(.ended(AttemptRef(job: "m-1/1", attempt: 1, lease: 10), reason: "lost", detail: "lost: worker w1 missed heartbeats"))
        try h.restart()
        try h.start("m-1/1", attempt: 2, worker: "w1")
        try h.final("m-1/1", attempt: 2, seq: 1, ["loss": 0.5, "step": 3], reports: 0, resumedFrom: (attempt: 1, seq: 3))
        #expect(try h.trial(id, 1).value == 0.2)
        #expect(try h.trial(id, 1).metrics?.object?["step"]?.double == 4)
    }

    /// Attempt 2, a backup started from scratch, reported its first step and crashed; attempt 3
    /// resumed from attempt 1's stored checkpoint (its last step) and printed nothing: the trial's
    /// value is attempt 1's, the line that checkpoint belongs to, not the backup's newer report.
    @Test func aResumedAttemptIgnoresTheReportsOfAnotherLineOfTheTrial() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.report("m-1/1", seq: 4, ["loss": 0.2, "step": 4])
        try h.start("m-1/1", attempt: 2, worker: "w2")
        try h.report("m-1/1", attempt: 2, seq: 1, ["loss": 0.9, "step": 1])
        try h.start("m-1/1", attempt: 3, worker: "w3")
        try h.final("m-1/1", attempt: 3, seq: 1, [:], reports: 0, resumedFrom: (attempt: 1, seq: 5))
        #expect(try h.trial(id, 1).state == .complete)
        #expect(try h.trial(id, 1).value == 0.2)
    }

    /// Reports arrive out of order (a resend after a newer one): the last value is the newest by
    /// (attempt, seq), not the last to arrive.
    @Test func theLastValueOfAResumedAttemptIsTheNewestReportNotTheLastToArrive() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.report("m-1/1", seq: 5, ["loss": 0.1, "step": 5])
        try h.report("m-1/1", seq: 2, ["loss": 0.7, "step": 2])
        try h.event(.ended(AttemptRef(job: "m-1/1", attempt: 1, lease: 10), reason: "lost", detail: "lost: worker w1 missed heartbeats"))
        try h.start("m-1/1", attempt: 2, worker: "w2")
        try h.final("m-1/1", attempt: 2, seq: 1, [:], reports: 0)
        #expect(try h.trial(id, 1).value == 0.1)
    }

    @Test func aFirstAttemptWithoutTheMetricFails() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.final("m-1/1", seq: 1, [:], reports: 0)
        #expect(try h.trial(id, 1).state == .failed)
        #expect(try h.trial(id, 1).error == "the final metrics hold no finite \"loss\" (reported keys: none)")
    }

    /// Failure 2 of issue 15: STARTED of attempt 2 recorded attempt 1 `lost` although its result
    /// could still arrive (a restarted broker adopts what a re-registering worker holds).
    @Test func aNewAttemptLeavesTheEarlierRunningAndItsLateResultCompletesTheTrial() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1", attempt: 1, worker: "w1")
        let second = try h.start("m-1/1", attempt: 2, worker: "w2")
        #expect(second.writes.filter { if case .recordAttempt(let a) = $0 { a.attempt == 1 } else { false } }.isEmpty)
        #expect(try h.attempts(id, 1).map(\.state) == [.running, .running])
        try h.final("m-1/1", attempt: 1, seq: 4, ["loss": 0.3])
        #expect(try h.trial(id, 1).value == 0.3)
        let attempts = try h.attempts(id, 1)
        #expect(attempts.map(\.state) == [.complete, .cancelled])
        #expect(attempts[0].worker == "w1", "the attempt's own worker, not the latest one")
    }

    @Test func theLaterAttemptsResultClosesAnEarlierSilentAttemptAsLost() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1", attempt: 1, worker: "w1")
        try h.start("m-1/1", attempt: 2, worker: "w2")
        try h.final("m-1/1", attempt: 2, seq: 4, ["loss": 0.3])
        let attempts = try h.attempts(id, 1)
        #expect(attempts.map(\.state) == [.lost, .complete])
        #expect(attempts[0].error == "lost: no result from worker w1; attempt 2 ended the trial")
    }

    @Test func endedRecordsWhatHappenedAndTheTrialGoesOn() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        try h.event(.ended(AttemptRef(job: "m-1/1", attempt: 1, lease: 10), reason: "stalled", detail: "no metric line for 60 s"))
        let attempt = try #require(try h.attempts(id, 1).first)
        #expect(attempt.state == .stalled)
        #expect(attempt.error == "stalled: no metric line for 60 s")
        #expect(try h.trial(id, 1).state == .running)
        try h.start("m-1/1", attempt: 2)
        try h.final("m-1/1", attempt: 2, seq: 1, ["loss": 0.1])
        #expect(try h.attempts(id, 1).map(\.state) == [.stalled, .complete])
        // ENDED of an attempt whose trial already has its result changes nothing.
        #expect(try h.event(.ended(AttemptRef(job: "m-1/1", attempt: 2, lease: 20), reason: "lost", detail: "")).writes.isEmpty)
    }

    @Test func aFailedAttemptIsRetriedThenTheTrialFailsWithEveryAttemptsError() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(retries: 1))
        try h.start("m-1/1")
        try h.event(.update(MachineHarness.update(.failed, "m-1/1", seq: 1, .object(["error": .string("exit code 3")]))))
        #expect(h.submittedJobs.filter { $0 == "m-1/1" }.count == 2, "submitted again as the next attempt")
        try h.start("m-1/1", attempt: 2)
        try h.event(.update(MachineHarness.update(.failed, "m-1/1", attempt: 2, seq: 1, .object(["error": .string("exit code 4")]))))
        #expect(try h.trial(id, 1).state == .failed)
        #expect(try h.trial(id, 1).error == "attempt 1: exit code 3; attempt 2: exit code 4")
    }

    @Test func aRestartedMachineResubmitsUnfinishedTrialsWithTheResyncFlag() throws {
        var h = try MachineHarness()
        _ = try h.submit(MachineHarness.spec(trials: 3, concurrent: 2))
        try h.start("m-1/1")
        try h.start("m-1/2")
        try h.final("m-1/1", seq: 1, ["loss": 0.2])
        let started = try h.restart()
        guard case .submit(let jobs)? = started.messages.first else { Issue.record("\(started)"); return }
        #expect(jobs.map(\.id) == ["m-1/2", "m-1/3"])
        #expect(jobs.allSatisfy { $0.requirements.isResync })
        #expect(jobs[0].requirements.firstAttempt == 2, "after the attempt that started")
    }

    @Test func cancellingAStudyCancelsItsJobsByMessageAndAnswersFromTheCommittedStore() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        try h.start("m-1/1")
        let turn = try h.request(OptimizerRequest(op: "cancel", study: id))
        #expect(turn.messages.contains(.cancel(jobs: ["m-1/1", "m-1/2"], reason: "the study ended: cancelled by a user")))
        let query = try #require(turn.queries.first)
        let answer = try JSONValue(parsing: OptimizerQueries.answer(query, store: h.store))
        #expect(answer.object?["state"] == .string("cancelled"))
        #expect(try h.attempts(id, 1).map(\.state) == [.cancelled])
        let again = try h.request(OptimizerRequest(op: "cancel", study: id))
        guard case .respond(_, _, let body)? = again.messages.first else { Issue.record("no answer"); return }
        #expect(try JSONValue(parsing: body).object?["error"] == .string("study m-1 is already cancelled"))
    }

    @Test func theSameEventsGiveTheSameActions() throws {
        func script() throws -> ([OptimizerMessage], [TrialRecord]) {
            var h = try MachineHarness()
            let id = try h.submit(MachineHarness.spec(trials: 6, concurrent: 3,
                                                      scheduler: "{type: asha, resource: epoch, max_t: 9, grace_period: 1, reduction_factor: 3}"))
            for n in 1...3 { try h.start("\(id)/\(n)") }
            for n in 1...3 { try h.report("\(id)/\(n)", seq: 1, ["epoch": 1, "loss": 1.0 / Double(n)]) }
            h.advance(1)
            try h.tick()
            return (h.sent, try h.store.trials(study: id))
        }
        let (a, b) = (try script(), try script())
        #expect(a.0 == b.0)
        #expect(a.1 == b.1)
    }
}
