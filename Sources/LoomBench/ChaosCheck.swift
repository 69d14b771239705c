import Foundation
import LoomModel
import LoomStore
import LoomWire

/// What a chaos run left behind, as the checks read it: the study's rows from the store, the
/// logger's feed file and the trials' own journals.
public struct ChaosEvidence: Sendable {
    public var study: String
    /// The study's state when the wait for its end gave up or saw it end.
    public var studyState: StudyState?
    /// Did the study end within the L1 bound after the last fault healed?
    public var endedInBound: Bool
    public var trials: [TrialRecord]
    public var attempts: [Int: [AttemptRecord]]
    public var reports: [Int: [ReportRecord]]
    public var feed: [ChaosFeedEvent]
    public var journals: [Int: [ChaosTrial.Entry]]

    public init(study: String, studyState: StudyState?, endedInBound: Bool, trials: [TrialRecord],
                attempts: [Int: [AttemptRecord]], reports: [Int: [ReportRecord]],
                feed: [ChaosFeedEvent], journals: [Int: [ChaosTrial.Entry]]) {
        self.study = study
        self.studyState = studyState
        self.endedInBound = endedInBound
        self.trials = trials
        self.attempts = attempts
        self.reports = reports
        self.feed = feed
        self.journals = journals
    }

    /// Reads the study's rows from the store.
    public init(study: String, store: SQLiteStore, endedInBound: Bool, feed: [ChaosFeedEvent],
                journals: [Int: [ChaosTrial.Entry]]) throws {
        let trials = try store.trials(study: study)
        var attempts: [Int: [AttemptRecord]] = [:]
        var reports: [Int: [ReportRecord]] = [:]
        for trial in trials {
            attempts[trial.number] = try store.attempts(study: study, trial: trial.number)
            reports[trial.number] = try store.reports(study: study, trial: trial.number)
        }
        let state = try store.study(study)?.state
        self.init(study: study, studyState: state, endedInBound: endedInBound, trials: trials,
                  attempts: attempts, reports: reports, feed: feed, journals: journals)
    }
}

/// The invariants of a chaos run, checked from its evidence (Docs/reliability.md, "The chaos
/// bench"). Each violation is one readable line starting with the invariant's name.
public struct ChaosCheck: Sendable {
    public private(set) var violations: [String] = []
    public private(set) var trials = 0
    public private(set) var retries = 0
    /// Results and checkpoints the fabric lost (S2, S6).
    public private(set) var lost = 0
    /// Trials whose result was recorded or published more than once (S1, S5).
    public private(set) var duplicates = 0
    /// Trials not ended when the wait gave up (L1).
    public private(set) var hung = 0
    /// Attempts after the first that resumed from a checkpoint.
    public private(set) var resumed = 0

    public init(_ evidence: ChaosEvidence) {
        trials = evidence.trials.count
        retries = evidence.trials.reduce(0) { $0 + max(0, $1.attempts - 1) }
        checkSequence(evidence.feed)
        let byTrial = Dictionary(grouping: evidence.feed.filter { $0.trial(of: evidence.study) != nil }) { $0.trial(of: evidence.study)! }
        for trial in evidence.trials {
            check(trial, attempts: evidence.attempts[trial.number] ?? [], reports: evidence.reports[trial.number] ?? [],
                  feed: byTrial[trial.number] ?? [], journal: evidence.journals[trial.number] ?? [])
        }
        hung = evidence.trials.filter { !$0.state.isFinished }.count
        if !evidence.endedInBound {
            let state = evidence.studyState?.rawValue ?? "missing"
            let open = evidence.trials.filter { !$0.state.isFinished }.prefix(10).map { "\($0.number) \($0.state.rawValue)" }
            violations.append("L1 the study did not end within the bound (state \(state); \(hung) trials not ended: \(open))")
        }
    }

    /// S5: the logger's file holds seq 1, 2, 3, … without a gap, a repeat or a reversal.
    mutating func checkSequence(_ feed: [ChaosFeedEvent]) {
        var expected: UInt64 = 1
        var reported = 0
        for event in feed {
            if event.seq != expected, reported < 10 {
                violations.append("S5 the feed file has seq \(event.seq) where \(expected) was due (\(event.topic))")
                reported += 1
            }
            expected = event.seq + 1
        }
    }

    mutating func check(_ trial: TrialRecord, attempts: [AttemptRecord], reports: [ReportRecord], feed: [ChaosFeedEvent],
                        journal: [ChaosTrial.Entry]) {
        let n = trial.number
        let computed = journal.compactMap { entry -> (attempt: Int, lease: UInt64, value: Double)? in
            if case .final(let a, let l, let v) = entry { (a, l, v) } else { nil }
        }
        let exited = journal.compactMap { entry -> Int? in if case .exit(let a, _) = entry { a } else { nil } }
        let completeRows = attempts.filter { $0.state == .complete }
        let finished = feed.filter { $0.event == "finished" }
        var duplicate = false

        // S1: the value is one the trial computed, recorded from an attempt that computed it, once.
        if trial.state == .complete {
            if let value = trial.value, !computed.contains(where: { abs($0.value - value) <= 1e-9 }) {
                violations.append("S1 trial \(n): value \(value) is not one its trial computed (journal: \(computed.map(\.value)))")
            }
            if completeRows.count != 1 {
                violations.append("S1 trial \(n): \(completeRows.count) attempts recorded complete (\(completeRows.map(\.attempt)))")
                duplicate = duplicate || completeRows.count > 1
            }
            for row in completeRows where !computed.contains(where: { $0.attempt == row.attempt && $0.lease == row.lease }) {
                violations.append("S1 trial \(n): recorded from attempt \(row.attempt) (lease \(row.lease)), which computed no result")
            }
        }
        // S2: a result the broker took from its current attempt (published `finished`) is stored.
        for event in finished {
            let row = completeRows.first { $0.attempt == event.attempt && $0.lease == event.lease }
            let valueMatches = event.loss.map { loss in trial.value.map { abs($0 - loss) <= 1e-9 } ?? false } ?? true
            if trial.state != .complete || row == nil || !valueMatches {
                violations.append("S2 trial \(n): attempt \(event.attempt ?? 0)'s result (feed seq \(event.seq), loss \(event.loss.map { "\($0)" } ?? "?")) "
                                  + "is not what the store holds (trial \(trial.state.rawValue), value \(trial.value.map { "\($0)" } ?? "none"), "
                                  + "complete attempts \(completeRows.map(\.attempt)))")
                lost += 1
            }
        }
        // S3: a trial that completed is never later failed, lost or pruned; a trial that cannot
        // fail by itself (retries unlimited, no quarantine) and ran to its end is never FAILED.
        if trial.state != .complete && (!finished.isEmpty || !completeRows.isEmpty) {
            violations.append("S3 trial \(n): completed (finished published \(finished.count)×, \(completeRows.count) complete attempts) "
                              + "but recorded \(trial.state.rawValue): \(trial.error ?? "")")
        } else if trial.state == .failed || trial.state == .pruned || trial.state == .cancelled {
            let how = exited.isEmpty ? "no attempt ran to its end" : "attempt \(exited.map { String($0) }.joined(separator: ", ")) ran to its end and exited"
            violations.append("S3 trial \(n): recorded \(trial.state.rawValue) (\(how)): \(trial.error ?? "")")
        }
        if let first = finished.first, let later = feed.first(where: { $0.seq > first.seq && ($0.event == "failed" || $0.event == "requeued") }) {
            violations.append("S3 trial \(n): the feed announces `\(later.event)` (seq \(later.seq)) after its `finished` (seq \(first.seq))")
        }
        // S4: no result recorded from an attempt fenced before the broker accepted its result
        // (published it `finished`). A restarted broker may fence a lease whose result it had
        // already delivered: noise, not a violation.
        for row in completeRows {
            guard let fence = feed.first(where: { ($0.event == "fenced" || $0.event == "superseded") && $0.lease == row.lease })
            else { continue }
            let accepted = finished.first { $0.lease == row.lease }
            guard accepted.map({ fence.seq < $0.seq }) ?? true else { continue }
            violations.append("S4 trial \(n): result recorded from attempt \(row.attempt) whose lease \(row.lease) was \(fence.event) "
                              + "(feed seq \(fence.seq)) before any `finished` of it")
        }
        // S5: one `finished` per recorded result.
        let expected = trial.state == .complete ? 1 : 0
        if finished.count != expected {
            violations.append("S5 trial \(n): `finished` published \(finished.count)× (attempts \(finished.compactMap(\.attempt))) "
                              + "for a trial recorded \(trial.state.rawValue)")
            duplicate = duplicate || finished.count > 1
        }
        if duplicate { duplicates += 1 }
        checkResume(n, reports: reports, feed: feed, journal: journal)
    }

    /// S6: an attempt after the first resumes from at least the newest checkpoint stored (and so
    /// acknowledged) before the broker assigned it: a `checkpoint` row without `checkpoint_error`
    /// (one with it was acknowledged as a report only: refused, superseded by a newer one while it
    /// waited, or given up while its attempt's result waited).
    mutating func checkResume(_ n: Int, reports: [ReportRecord], feed: [ChaosFeedEvent], journal: [ChaosTrial.Entry]) {
        for entry in journal {
            guard case .begin(let attempt, let lease, let resumedAt, let began) = entry, attempt > 1 else { continue }
            if resumedAt > 0 { resumed += 1 }
            let assigned = feed.first { $0.event == "assigned" && $0.lease == lease }?.time ?? began
            let stored = reports.filter { $0.kind == "checkpoint" && $0.metrics.object?["checkpoint_error"] == nil && $0.attempt < attempt && $0.time < assigned }
                .compactMap { $0.metrics.object?["step"]?.double.map { Int($0) } }.max() ?? 0
            if resumedAt < stored {
                violations.append("S6 trial \(n): attempt \(attempt) resumed at step \(resumedAt), but the checkpoint of step \(stored) "
                                  + "was stored before it was assigned")
                lost += 1
            }
        }
    }

    /// The run's one summary line; processes that exited by themselves count as violations too.
    public func summary(seed: UInt64, kills: Int, crashes: Int = 0) -> String {
        "seed=\(seed) trials=\(trials) kills=\(kills) retries=\(retries) lost=\(lost) duplicates=\(duplicates) hung=\(hung) "
            + "violations=\(violations.count + crashes)"
    }
}
