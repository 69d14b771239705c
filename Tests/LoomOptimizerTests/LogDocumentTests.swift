import LoomModel
import LoomStore
import LoomWire
import Testing
@testable import LoomOptimizer

/// The optimizer's side of trial logs: a feed `log` event becomes store rows, and the `logs`
/// document pages through them and names what does not exist.
@Suite struct LogDocumentTests {
    func event(_ body: String, seq: UInt64 = 42) -> FeedEvent {
        FeedEvent(topic: "log/s-1/3/2", seq: seq, body: Array(body.utf8))
    }

    @Test func aLogEventBecomesNumberedRows() throws {
        let rows = try #require(OptimizerMachine.logLines(event(
            #"{"event":"log","time":1.5,"job":"s-1/3","attempt":2,"lease":9,"stream":"stderr","first":7,"lines":["a","b"],"worker":"w"}"#)))
        #expect(rows == [
            LogLineRecord(study: "s-1", trial: 3, attempt: 2, stream: "stderr", line: 7, text: "a", feedSeq: 42),
            LogLineRecord(study: "s-1", trial: 3, attempt: 2, stream: "stderr", line: 8, text: "b", feedSeq: 42),
        ])
    }

    @Test func malformedLogEventsAreRefused() {
        for body in [
            #"{"event":"report","job":"s-1/3","attempt":2,"lease":"9","worker":"w","stream":"stdout","first":1,"lines":["a"]}"#,
            #"{"event":"log","job":"s-1","attempt":2,"lease":"9","worker":"w","stream":"stdout","first":1,"lines":["a"]}"#,
            #"{"event":"log","job":"s-1/3","attempt":2,"lease":"9","worker":"w","stream":"stdin","first":1,"lines":["a"]}"#,
            #"{"event":"log","job":"s-1/3","attempt":2,"lease":"9","worker":"w","stream":"stdout","first":0,"lines":["a"]}"#,
            #"{"event":"log","job":"s-1/3","attempt":2,"lease":"9","worker":"w","stream":"stdout","first":1,"lines":[1]}"#,
            "not json",
        ] {
            #expect(OptimizerMachine.logLines(event(body)) == nil, "\(body)")
        }
    }

    func seededStore() throws -> InMemoryStore {
        let store = InMemoryStore()
        try store.createStudy(StudyRecord(id: "s-1", name: "s", specText: "name: s\n", baseDirectory: "/", createdAt: 1))
        try store.insertTrial(TrialRecord(study: "s-1", number: 1, config: [:], state: .complete, attempts: 1, createdAt: 2))
        try store.recordLogLines((1...5).map { LogLineRecord(study: "s-1", trial: 1, attempt: 1, stream: "stdout", line: $0, text: "l\($0)", feedSeq: 10) })
        return store
    }

    @Test func theDocumentPagesThroughTheLines() throws {
        let store = try seededStore()
        let first = try StudyDocuments.logs(LogQuery(study: "s-1", trial: 1, limit: 2), store: store).object ?? [:]
        #expect(first["next_offset"] == .number(2))
        #expect(first["finished"] == .bool(true))
        #expect(first["lines"] == .array([
            .object(["attempt": .number(1), "stream": .string("stdout"), "line": .number(1), "text": .string("l1")]),
            .object(["attempt": .number(1), "stream": .string("stdout"), "line": .number(2), "text": .string("l2")]),
        ]))
        let last = try StudyDocuments.logs(LogQuery(study: "s-1", trial: 1, offset: 4, limit: 2), store: store).object ?? [:]
        #expect(last["next_offset"] == .null)
        if case .array(let lines)? = last["lines"] { #expect(lines.count == 1) } else { Issue.record("no lines") }
    }

    @Test func unknownStudyTrialAttemptOrStreamIsNamed() throws {
        let store = try seededStore()
        let cases: [(LogQuery, String)] = [
            (LogQuery(study: "nope", trial: 1), #"no study "nope"; known: s-1"#),
            (LogQuery(study: "s-1", trial: 9), "study s-1 has no trial 9 (it has 1 trial, numbered from 1)"),
            (LogQuery(study: "s-1", trial: 1, attempt: 2), "trial s-1/1 has no attempt 2 (attempts so far: 1)"),
            (LogQuery(study: "s-1", trial: 1, stream: "stdin"), #"stream must be stdout or stderr, not "stdin""#),
            (LogQuery(study: "s-1", trial: 1, limit: 0), "offset must be at least 0 and limit 1 to 5000"),
        ]
        for (query, message) in cases {
            do {
                _ = try StudyDocuments.logs(query, store: store)
                Issue.record("accepted \(query)")
            } catch {
                #expect("\(error)" == message)
            }
        }
    }
}
