import LoomModel
import LoomStore
import LoomWire

/// Records with plausible defaults, so a test spells out only what it is about.
enum Fixture {
    static let study = "mnist-1"

    static func studyRecord(_ id: String = study, createdAt: Double = 1_700_000_000.25) -> StudyRecord {
        StudyRecord(id: id, name: "mnist", specText: "name: mnist\nmetric: loss\n", baseDirectory: "/srv/studies",
                    createdAt: createdAt)
    }

    static func trial(_ number: Int, study: String = study, config: Config = ["lr": .number(0.01)],
                      state: TrialState = .waiting) -> TrialRecord {
        TrialRecord(study: study, number: number, config: config, state: state,
                    createdAt: 1_700_000_100 + Double(number))
    }

    static func attempt(_ number: Int, trial: Int = 1, study: String = study, lease: UInt64 = 7,
                        state: AttemptState = .running) -> AttemptRecord {
        AttemptRecord(study: study, trial: trial, attempt: number, lease: lease, worker: "w-\(number)", state: state,
                      startedAt: 1_700_000_200 + Double(number))
    }

    static func report(seq: UInt64, attempt: Int = 1, trial: Int = 1, lease: UInt64 = 7,
                       metrics: JSONValue = .object(["loss": .number(0.5)])) -> ReportRecord {
        ReportRecord(study: study, trial: trial, attempt: attempt, lease: lease, seq: seq, metrics: metrics,
                     time: 1_700_000_300 + Double(seq))
    }

    /// A store holding `Fixture.study` and trials numbered `trials`.
    static func seed(_ store: any StudyStore, trials: ClosedRange<Int> = 1...1) throws {
        try store.createStudy(studyRecord())
        for number in trials { try store.insertTrial(trial(number)) }
    }
}
