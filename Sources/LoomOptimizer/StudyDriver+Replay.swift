import LoomModel
import LoomSearch
import LoomWire

/// Rebuilding the scheduler after a restart, from what the store holds.
///
/// **Order.** The scheduler is told again, in the order they happened (store timestamps; at
/// equal times creation, then results, then removal; then by trial, attempt and sequence
/// number), of every trial's creation, every report and final result of its attempts, and every
/// trial's end. Its decisions are deterministic, so it decides again what it decided then.
/// **Attempts.** As when running live, once a decision ended an attempt (stop, pause, exploit)
/// that attempt's later lines are ignored; the first result of a later attempt of a trial the
/// replay left paused shows that it was resumed (`onResume` to `resumeBudget`). A paused trial
/// whose next attempt is waiting or running without results yet is resumed at the end.
extension StudyDriver {
    enum ReplayEvent {
        case add(TrialRecord)
        case result(ReportRecord)
        case remove(Int)

        var rank: Int {
            switch self {
            case .add: 0
            case .result: 1
            case .remove: 2
            }
        }

        var key: (trial: Int, attempt: Int, seq: UInt64) {
            switch self {
            case .add(let t): (t.number, 0, 0)
            case .result(let r): (r.trial, r.attempt, r.seq)
            case .remove(let n): (n, .max, .max)
            }
        }
    }

    mutating func replay(_ reports: [ReportRecord]) {
        let scheduled = trials.filter { isScheduled($0) }
        let numbers = Set(scheduled.map(\.number))
        var events: [(time: Double, event: ReplayEvent)] = scheduled.map { ($0.createdAt, .add($0)) }
        events += reports.filter { numbers.contains($0.trial) && $0.kind != "checkpoint" }.map { ($0.time, .result($0)) }
        events += scheduled.filter(\.state.isFinished).map { ($0.finishedAt ?? $0.createdAt, .remove($0.number)) }
        events.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.event.rank != b.event.rank { return a.event.rank < b.event.rank }
            let (x, y) = (a.event.key, b.event.key)
            return (x.trial, x.attempt, x.seq) < (y.trial, y.attempt, y.seq)
        }
        /// Trials whose attempt a decision ended, and that attempt.
        var ended: [Int: Int] = [:]
        for (_, event) in events {
            switch event {
            case .add(let trial):
                _ = scheduler.onTrialAdd(trial: trial.number, config: trial.config)
            case .remove(let number):
                scheduler.onTrialRemove(trial: number)
            case .result(let report):
                guard let trial = trial(report.trial) else { continue }
                if let stopped = ended[report.trial] {
                    guard report.attempt > stopped else { continue }
                    if let budget = scheduler.resumeBudget(trial: report.trial) {
                        scheduler.onResume(trial: report.trial, budget: budget)
                    }
                    ended[report.trial] = nil
                }
                let decision: SchedulerDecision
                if report.kind == "final" {
                    guard let value = report.metrics.object?[spec.metric]?.double, value.isFinite else { continue }
                    let time = level(of: trial, metrics: report.metrics)
                    if let time { observeRung(trial, time: time, value: value) }
                    decision = scheduler.onAttemptEnd(trial: trial.number, time: time ?? trial.budget, value: value)
                } else {
                    guard let (time, value) = result(of: trial, metrics: report.metrics) else { continue }
                    decision = scheduler.onResult(trial: trial.number, time: time, value: value, values: objectiveVector(report.metrics))
                }
                if decision != .continue { ended[report.trial] = report.attempt }
            }
        }
        for (number, _) in ended {
            guard let trial = trial(number), trial.state == .waiting || trial.state == .running,
                  let budget = scheduler.resumeBudget(trial: number) else { continue }
            scheduler.onResume(trial: number, budget: budget)
        }
    }
}
