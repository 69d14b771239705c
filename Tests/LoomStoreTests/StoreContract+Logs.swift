import LoomModel
import LoomStore
import Testing

/// Trial output: idempotent by line, read in published order, paged, and tied to its trial.
extension StoreContract {
    static func logLine(trial: Int = 1, attempt: Int = 1, stream: String = "stdout", line: Int, seq: UInt64) -> LogLineRecord {
        LogLineRecord(study: Fixture.study, trial: trial, attempt: attempt, stream: stream, line: line,
                      text: "\(stream) \(attempt).\(line) ünïcode \"quoted\"", feedSeq: seq)
    }

    static func logs(_ store: any StudyStore) throws -> any TrialLogStore {
        try #require(store as? any TrialLogStore, "every store keeps trial logs")
    }

    @Test(arguments: StoreKind.allCases)
    func logLinesAreIdempotentAndReadInPublishedOrder(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store, trials: 1...2)
            let logs = try Self.logs(store)
            #expect(try logs.logFeedPosition() == 0)
            let out1 = Self.logLine(line: 1, seq: 10), out2 = Self.logLine(line: 2, seq: 10)
            let err1 = Self.logLine(stream: "stderr", line: 1, seq: 11)
            let out3 = Self.logLine(line: 3, seq: 12)
            let second = Self.logLine(attempt: 2, line: 1, seq: 5)
            let other = Self.logLine(trial: 2, line: 1, seq: 13)
            try logs.recordLogLines([out3, second])
            try logs.recordLogLines([out1, out2])
            try logs.recordLogLines([err1, other])
            // A replayed event, its text changed: the first copy stays.
            var replayed = out1
            replayed.text = "changed"
            try logs.recordLogLines([replayed])
            let all = try logs.logLines(study: Fixture.study, trial: 1, attempt: nil, stream: nil, offset: 0, limit: 100)
            #expect(all == [out1, out2, err1, out3, second])
            #expect(try logs.logLines(study: Fixture.study, trial: 1, attempt: 1, stream: "stdout", offset: 0, limit: 100) == [out1, out2, out3])
            #expect(try logs.logLines(study: Fixture.study, trial: 1, attempt: nil, stream: "stderr", offset: 0, limit: 100) == [err1])
            #expect(try logs.logLines(study: Fixture.study, trial: 1, attempt: 2, stream: nil, offset: 0, limit: 100) == [second])
            #expect(try logs.logLines(study: Fixture.study, trial: 1, attempt: nil, stream: nil, offset: 1, limit: 2) == [out2, err1])
            #expect(try logs.logLines(study: Fixture.study, trial: 1, attempt: nil, stream: nil, offset: 5, limit: 2).isEmpty)
            #expect(try logs.logLines(study: Fixture.study, trial: 2, attempt: nil, stream: nil, offset: 0, limit: 100) == [other])
            #expect(try logs.logFeedPosition() == 13)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func logLinesOfAnUnknownTrialAreNotFoundAndNothingIsStored(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let logs = try Self.logs(store)
            #expect(throws: StoreError.notFound("trial \(Fixture.study)/4")) {
                try logs.recordLogLines([Self.logLine(trial: 1, line: 1, seq: 1), Self.logLine(trial: 4, line: 1, seq: 1)])
            }
            #expect(try logs.logLines(study: Fixture.study, trial: 1, attempt: nil, stream: nil, offset: 0, limit: 10).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aBatchThatFailsTakesItsLogLinesBack(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let logs = try Self.logs(store)
            struct Abort: Error {}
            #expect(throws: Abort.self) {
                try store.batch {
                    try logs.recordLogLines([Self.logLine(line: 1, seq: 1)])
                    throw Abort()
                }
            }
            #expect(try logs.logFeedPosition() == 0)
        }
    }
}
