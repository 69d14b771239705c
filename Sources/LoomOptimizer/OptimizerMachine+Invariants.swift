import LoomModel

/// The invariants of the machine's tables, checked by the fuzzer after every event and usable
/// from tests. Each line names one; the first broken one is returned.
extension OptimizerMachine {
    /// A description of the first broken invariant; nil when the tables are consistent.
    public func brokenInvariant() -> String? {
        for (id, driver) in drivers {
            guard let study = studies[id] else { return "study \(id) is driven but has no record" }
            if study.state != .running { return "study \(id) is driven but \(study.state.rawValue)" }
            if driver.studyID != id { return "the driver of \(id) drives \(driver.studyID)" }
        }
        // What the machine keeps per trial exists only while the trial is unfinished: kept any
        // longer, a peer could grow it without bound by finishing trials.
        for key in attempts.keys {
            guard let trial = drivers[key.study]?.trial(key.number) else {
                return "attempts of \(key.study)/\(key.number) are kept, but no running study has that trial"
            }
            if trial.state.isFinished { return "attempts of \(key.study)/\(key.number) are kept after it finished \(trial.state.rawValue)" }
            for (number, attempt) in attempts[key] ?? [:] where attempt.attempt != number || attempt.study != key.study || attempt.trial != key.number {
                return "attempt \(number) of \(key.study)/\(key.number) is filed under another key"
            }
        }
        for key in reportKeys.keys where attempts[key] == nil { return "report keys of \(key.study)/\(key.number) outlive its attempts" }
        for key in lastMetric.keys where attempts[key] == nil { return "the last metric of \(key.study)/\(key.number) outlives its attempts" }
        for (id, driver) in drivers {
            for trial in driver.trials where !trial.state.isFinished && trial.source != "ask" {
                if attempts[TrialKey(study: id, number: trial.number)] == nil {
                    return "unfinished trial \(id)/\(trial.number) has no attempt table"
                }
            }
        }
        for upload in uploads.uploads.keys {
            guard let (study, _) = Self.parseJobID(upload.job), studies[study] != nil else {
                return "an upload runs for \(upload.job), which belongs to no study"
            }
        }
        return nil
    }
}
