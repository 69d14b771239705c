import LoomModel
import LoomStore
import LoomWire

/// What `logs` asks for: one trial's stored output, a page at a time.
public struct LogQuery: Equatable, Sendable {
    public var study: String
    public var trial: Int
    /// One attempt (from 1), or all.
    public var attempt: Int?
    /// `stdout`, `stderr`, or both when nil.
    public var stream: String?
    public var offset: Int
    public var limit: Int

    /// Most lines in one answer: a page stays well below the broker's message size.
    public static let maxLimit = 5_000

    public init(study: String, trial: Int, attempt: Int? = nil, stream: String? = nil, offset: Int = 0, limit: Int = Self.maxLimit) {
        self.study = study
        self.trial = trial
        self.attempt = attempt
        self.stream = stream
        self.offset = offset
        self.limit = limit
    }
}

/// A `logs` query that names something that does not exist, or asks for nonsense.
public struct LogQueryError: Error, CustomStringConvertible {
    public var description: String
}

extension StudyDocuments {
    /// `{"study", "trial", "state", "attempts", "lines": [{"attempt", "stream", "line", "text"}],
    /// "next_offset": N or null when this page is the last}`.
    public static func logs(_ q: LogQuery, store: any StudyStore) throws -> JSONValue {
        guard let logs = store as? any TrialLogStore else { throw LogQueryError(description: "this store keeps no trial logs") }
        guard try store.study(q.study) != nil else {
            let known = try store.studies().map(\.id)
            throw LogQueryError(description: "no study \"\(q.study)\"; known: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        guard let trial = try store.trial(study: q.study, number: q.trial) else {
            let count = try store.trials(study: q.study).count
            throw LogQueryError(description: "study \(q.study) has no trial \(q.trial) (it has \(count) trial\(count == 1 ? "" : "s"), numbered from 1)")
        }
        if let attempt = q.attempt, attempt < 1 || attempt > max(trial.attempts, 1) {
            throw LogQueryError(description: "trial \(q.study)/\(q.trial) has no attempt \(attempt) (attempts so far: \(trial.attempts))")
        }
        if let stream = q.stream, LogBatch.Stream(rawValue: stream) == nil {
            throw LogQueryError(description: "stream must be stdout or stderr, not \"\(stream)\"")
        }
        guard q.offset >= 0, q.limit >= 1, q.limit <= LogQuery.maxLimit else {
            throw LogQueryError(description: "offset must be at least 0 and limit 1 to \(LogQuery.maxLimit)")
        }
        let page = try logs.logLines(study: q.study, trial: q.trial, attempt: q.attempt, stream: q.stream, offset: q.offset, limit: q.limit)
        return .object([
            "study": .string(q.study), "trial": .number(Double(q.trial)), "state": .string(trial.state.rawValue),
            "finished": .bool(trial.state.isFinished), "attempts": .number(Double(trial.attempts)),
            "lines": .array(page.map { line in
                .object(["attempt": .number(Double(line.attempt)), "stream": .string(line.stream),
                         "line": .number(Double(line.line)), "text": .string(line.text)])
            }),
            "next_offset": page.count == q.limit ? .number(Double(q.offset + page.count)) : .null,
        ])
    }
}
