import LoomModel

/// Answers built from `trials(study:)`, for stores (and test doubles) without an index to use.
/// `SQLiteStore` answers both from its `(study, state)` index instead.
extension StudyStore {
    public func trials(study: String, state: TrialState) throws(StoreError) -> [TrialRecord] {
        try trials(study: study).filter { $0.state == state }
    }

    public func trialCounts(study: String) throws(StoreError) -> [TrialState: Int] {
        try trials(study: study).reduce(into: [:]) { counts, trial in counts[trial.state, default: 0] += 1 }
    }
}

