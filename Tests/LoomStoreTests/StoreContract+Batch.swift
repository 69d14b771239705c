import LoomModel
import LoomStore
import LoomWire
import Testing

/// Group commit: many calls, one transaction.
extension StoreContract {
    @Test(arguments: StoreKind.allCases)
    func aBatchCommitsEveryWriteAndReadsItsOwnWrites(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            let seen = try store.batch {
                for n in 1...3 { try store.insertTrial(Fixture.trial(n)) }
                try store.recordAttempt(Fixture.attempt(1, trial: 2))
                return try store.trials(study: Fixture.study).map(\.number)
            }
            #expect(seen == [1, 2, 3])
            #expect(try store.trials(study: Fixture.study).map(\.number) == [1, 2, 3])
            #expect(try store.attempts(study: Fixture.study, trial: 2).count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aFailingCallInsideABatchUndoesOnlyItself(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            try store.batch {
                try store.insertTrial(Fixture.trial(1))
                #expect(throws: StoreError.conflict("trial \(Fixture.study)/1")) { try store.insertTrial(Fixture.trial(1)) }
                #expect(throws: StoreError.notFound("trial \(Fixture.study)/9")) {
                    try store.recordAttempt(Fixture.attempt(1, trial: 9))
                }
                try store.insertTrial(Fixture.trial(2))
            }
            #expect(try store.trials(study: Fixture.study).map(\.number) == [1, 2])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aBatchWhoseBodyThrowsLeavesNothingBehind(kind: StoreKind) throws {
        struct Abandon: Error {}
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            try store.insertTrial(Fixture.trial(1))
            #expect(throws: Abandon.self) {
                try store.batch {
                    try store.insertTrial(Fixture.trial(2))
                    var done = Fixture.trial(1)
                    done.state = .complete
                    done.value = 0.5
                    try store.recordResult(trial: done, attempt: nil)
                    throw Abandon()
                }
            }
            #expect(try store.trials(study: Fixture.study) == [Fixture.trial(1)])
        }
    }
}
