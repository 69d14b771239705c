import Foundation
@testable import LoomBench
import LoomModel
import LoomStore
import LoomWire
import Testing

@Suite struct ChaosScheduleBehaviour {
    @Test func theSameSeedDrawsTheSameFaultsAndAnotherSeedOthers() {
        let a = ChaosSchedule(seed: 7, duration: 60, workers: 3)
        #expect(a == ChaosSchedule(seed: 7, duration: 60, workers: 3))
        #expect(a.faults != ChaosSchedule(seed: 8, duration: 60, workers: 3).faults)
        #expect(a.faults.count >= 8)
    }

    @Test func noProcessIsHitAgainBeforeItIsBackAndEveryFaultEndsInTime() {
        for seed in 1...200 as ClosedRange<UInt64> {
            let schedule = ChaosSchedule(seed: seed, duration: 30, workers: 3)
            var backAt: [ChaosTarget: Double] = [:]
            for fault in schedule.faults {
                #expect((1...3).contains(fault.targets.count))
                #expect(Set(fault.targets).count == fault.targets.count)
                let end = fault.at + fault.duration + (fault.duringUpload ? ChaosSchedule.uploadWait : 0)
                #expect(end <= 30)
                for target in fault.targets {
                    #expect(fault.at >= backAt[target] ?? 0, "seed \(seed): \(target) hit at \(fault.at) while still down")
                    backAt[target] = end
                }
            }
        }
    }

    @Test func overManySeedsEveryKindOfFaultHitsEveryProcess() {
        let faults = (1...50 as ClosedRange<UInt64>).flatMap { ChaosSchedule(seed: $0, duration: 60, workers: 3).faults }
        #expect(faults.contains { $0.targets.count == 2 } && faults.contains { $0.targets.count == 3 })
        #expect(faults.contains { $0.duringUpload })
        #expect(faults.contains { if case .freeze = $0.kind { true } else { false } })
        let hit = Set(faults.flatMap(\.targets))
        #expect(hit == [.broker, .optimizer, .logger, .worker(1), .worker(2), .worker(3)])
    }
}

@Suite struct ChaosJournalBehaviour {
    @Test func aJournalReadsBackWhatTheTrialWroteAndSkipsATornLine() {
        let text = """
            begin 1 7 0 1700000000.25
            checkpoint 1 7 1
            begin 2 9 1 1700000003.5
            checkpoint 2 9 2
            final 2 9 0.125
            exit 2 9
            checkpoint 2 9
            """
        #expect(ChaosTrial.parse(text) == [
            .begin(attempt: 1, lease: 7, resumedAt: 0, time: 1_700_000_000.25), .checkpoint(attempt: 1, lease: 7, step: 1),
            .begin(attempt: 2, lease: 9, resumedAt: 1, time: 1_700_000_003.5), .checkpoint(attempt: 2, lease: 9, step: 2),
            .final(attempt: 2, lease: 9, value: 0.125), .exit(attempt: 2, lease: 9),
        ])
    }

    @Test func aLoggerLineGivesTheFieldsTheChecksUse() throws {
        let line = #"{"seq":12,"topic":"job/s1/3/finished","time":5.5,"event":"finished","job":"s1/3","attempt":2,"lease":"14431840462526480389","#
            + #""worker":"w1","update_seq":14,"payload":{"exit_code":0,"metrics":{"loss":0.25,"step":6},"reports":7}}"#
        let event = try #require(ChaosFeedEvent(line: line[...]))
        #expect(event.seq == 12 && event.event == "finished" && event.attempt == 2 && event.loss == 0.25)
        #expect(event.lease == 14_431_840_462_526_480_389)
        #expect(event.trial(of: "s1") == 3 && event.trial(of: "s2") == nil)
    }
}

/// A run's evidence built by hand: one trial, two attempts, the second resumed from step 2.
struct ChaosEvidenceFixture {
    var trial = TrialRecord(study: "s", number: 1, config: ["x": .number(0.5)], state: .complete, attempts: 2, value: 0.5, createdAt: 0)
    var attempts = [AttemptRecord(study: "s", trial: 1, attempt: 1, lease: 7, state: .lost, startedAt: 1),
                    AttemptRecord(study: "s", trial: 1, attempt: 2, lease: 9, state: .complete, startedAt: 4)]
    var reports = [ReportRecord(study: "s", trial: 1, attempt: 1, lease: 7, seq: 1, kind: "checkpoint", metrics: .object(["step": .number(1)]), time: 2),
                   ReportRecord(study: "s", trial: 1, attempt: 1, lease: 7, seq: 2, kind: "checkpoint", metrics: .object(["step": .number(2)]), time: 3)]
    var feed = [ChaosFeedEvent(seq: 1, topic: "job/s/1/assigned", event: "assigned", time: 1, job: "s/1", attempt: 1, lease: 7),
                ChaosFeedEvent(seq: 2, topic: "job/s/1/assigned", event: "assigned", time: 3.5, job: "s/1", attempt: 2, lease: 9),
                ChaosFeedEvent(seq: 3, topic: "job/s/1/finished", event: "finished", time: 6, job: "s/1", attempt: 2, lease: 9, loss: 0.5)]
    var journal: [ChaosTrial.Entry] = [.begin(attempt: 1, lease: 7, resumedAt: 0, time: 1), .checkpoint(attempt: 1, lease: 7, step: 1),
                                       .checkpoint(attempt: 1, lease: 7, step: 2), .begin(attempt: 2, lease: 9, resumedAt: 2, time: 4),
                                       .final(attempt: 2, lease: 9, value: 0.5), .exit(attempt: 2, lease: 9)]
    var ended = true

    var check: ChaosCheck {
        ChaosCheck(ChaosEvidence(study: "s", studyState: .complete, endedInBound: ended, trials: [trial], attempts: [1: attempts],
                                 reports: [1: reports], feed: feed, journals: [1: journal]))
    }
}

@Suite struct ChaosCheckBehaviour {
    @Test func aCleanRunHasNoViolation() {
        let check = ChaosEvidenceFixture().check
        #expect(check.violations == [])
        #expect(check.summary(seed: 3, kills: 4) == "seed=3 trials=1 kills=4 retries=1 lost=0 duplicates=0 hung=0 violations=0")
    }

    @Test func aValueTheTrialNeverComputedIsS1() {
        var run = ChaosEvidenceFixture()
        run.trial.value = 0.75
        #expect(run.check.violations.contains { $0.hasPrefix("S1 trial 1: value 0.75") })
    }

    @Test func aFinishedResultTheStoreDoesNotHoldIsS2AndLost() {
        var run = ChaosEvidenceFixture()
        run.feed.insert(ChaosFeedEvent(seq: 3, topic: "job/s/1/finished", event: "finished", time: 3.2, job: "s/1", attempt: 1, lease: 7, loss: 0.5), at: 2)
        run.feed[3].seq = 4
        let check = run.check
        #expect(check.violations.contains { $0.hasPrefix("S2 trial 1: attempt 1's result") })
        #expect(check.violations.contains { $0.hasPrefix("S5 trial 1: `finished` published 2×") })
        #expect(check.lost == 1 && check.duplicates == 1)
    }

    @Test func aCompletedTrialRecordedFailedIsS3() {
        var run = ChaosEvidenceFixture()
        run.trial.state = .failed
        run.trial.error = "the final metrics hold no finite \"loss\""
        #expect(run.check.violations.contains { $0.hasPrefix("S3 trial 1: completed") })
    }

    @Test func aResultFromALeaseFencedBeforeItFinishedIsS4() {
        var run = ChaosEvidenceFixture()
        run.feed.insert(ChaosFeedEvent(seq: 3, topic: "job/s/1/fenced", event: "fenced", time: 5, job: "s/1", attempt: 2, lease: 9), at: 2)
        run.feed[3].seq = 4
        #expect(run.check.violations.contains { $0.hasPrefix("S4 trial 1") })
        // Fenced by a restarted broker after its result was published: not S4.
        run.feed.swapAt(2, 3)
        (run.feed[2].seq, run.feed[3].seq) = (3, 4)
        #expect(run.check.violations == [])
    }

    @Test func aGapInTheFeedFileIsS5() {
        var run = ChaosEvidenceFixture()
        run.feed[2].seq = 5
        #expect(run.check.violations == ["S5 the feed file has seq 5 where 3 was due (job/s/1/finished)"])
    }

    @Test func aCheckpointRowThatSaysItWasNotKeptIsNoStoredCheckpointForS6() {
        // Chaos seed 1: a restarted broker let a worker resend checkpoints 1–5 at once; the
        // optimizer uploaded the first, kept the newest waiting, acknowledged those between as
        // reports (superseded, not kept), then the worker was lost before any upload ended. Its
        // retry rightly resumed from scratch: none of those rows is a stored checkpoint.
        var run = ChaosEvidenceFixture()
        run.reports[1].metrics = .object(["step": .number(2), "checkpoint_error": .string("superseded by a newer checkpoint …: not kept")])
        run.journal[3] = .begin(attempt: 2, lease: 9, resumedAt: 1, time: 4)
        #expect(run.check.violations == [])
    }

    @Test func aRetryFromAnOlderCheckpointThanTheStoredOneIsS6() {
        var run = ChaosEvidenceFixture()
        run.journal[3] = .begin(attempt: 2, lease: 9, resumedAt: 1, time: 4)
        let check = run.check
        #expect(check.violations == ["S6 trial 1: attempt 2 resumed at step 1, but the checkpoint of step 2 was stored before it was assigned"])
        #expect(check.lost == 1)
        // A checkpoint stored after the retry was assigned may be missed: not a violation.
        run.reports[1].time = 3.6
        #expect(run.check.violations == [])
    }

    @Test func aStudyThatMissedTheBoundIsToldSlowWhenResultsStillCameAndStalledWhenNone() {
        let finished = ChaosFeedEvent(seq: 9, topic: "job/s/1/finished", event: "finished", time: 95, job: "s/1", attempt: 1, lease: 7)
        #expect(ChaosRun.progress([finished], before: 100).contains("1 results were published in the last 10 s"))
        #expect(ChaosRun.progress([finished], before: 106).hasSuffix("the study stalled"))
    }

    @Test func aStudyStillRunningAfterTheBoundIsL1AndItsTrialsHung() {
        var run = ChaosEvidenceFixture()
        run.trial.state = .running
        run.trial.value = nil
        run.feed.removeLast()
        run.ended = false
        let check = run.check
        #expect(check.hung == 1)
        #expect(check.violations.contains { $0.hasPrefix("L1 the study did not end within the bound") })
    }
}
