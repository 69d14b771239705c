import Foundation
import GRDB
import LoomModel
import LoomWire

/// A row that cannot be turned back into a record (corrupt JSON, an unknown state): reported as
/// `.database` naming the call and the row.
struct RowError: Error {
    var message: String
}

/// Records to statement arguments and rows back to records.
///
/// Leases and seqs are UInt64; SQLite integers are Int64. They are stored by bit pattern, so every
/// value reads back exactly (values past `Int64.max`, never issued in practice, would sort last).
enum Rows {
    /// The study columns written with every row; `owner` (v5) is written apart, only when set.
    static let studyColumns = "id, name, spec_text, base_directory, state, created_at, finished_at, reason"
    static let trialColumns = """
        study, number, config, state, source, attempts, value, metrics, worker, error, created_at, started_at, finished_at,
        budget, note, restore_from, objective_values, feasible
        """
    static let attemptColumns = "study, trial, attempt, lease, worker, state, error, started_at, finished_at"
    static let reportColumns = "study, trial, attempt, lease, seq, kind, metrics, time"

    static func arguments(_ s: StudyRecord) -> StatementArguments {
        [s.id, s.name, s.specText, s.baseDirectory, s.state.rawValue, s.createdAt, s.finishedAt, s.reason]
    }

    static func arguments(_ t: TrialRecord, config: String, metrics: String?) -> StatementArguments {
        [t.study, t.number, config, t.state.rawValue, t.source, t.attempts, t.value, metrics, t.worker, t.error,
         t.createdAt, t.startedAt, t.finishedAt, t.budget, t.note, t.restoreFrom,
         t.values.map { JSONValue.array($0.map(JSONValue.number)).description }, t.feasible]
    }

    static func arguments(_ a: AttemptRecord) -> StatementArguments {
        [a.study, a.trial, a.attempt, Int64(bitPattern: a.lease), a.worker, a.state.rawValue, a.error,
         a.startedAt, a.finishedAt]
    }

    static func arguments(_ r: ReportRecord, metrics: String) -> StatementArguments {
        [r.study, r.trial, r.attempt, Int64(bitPattern: r.lease), Int64(bitPattern: r.seq), r.kind, metrics, r.time]
    }

    static func study(_ row: Row) throws -> StudyRecord {
        let id: String = try row.decode(forColumn: "id")
        return StudyRecord(
            id: id,
            name: try row.decode(forColumn: "name"),
            specText: try row.decode(forColumn: "spec_text"),
            baseDirectory: try row.decode(forColumn: "base_directory"),
            state: try state(StudyState.self, row, of: "study \(id)"),
            createdAt: try row.decode(forColumn: "created_at"),
            finishedAt: try row.decode(forColumn: "finished_at"),
            reason: try row.decode(forColumn: "reason"),
            owner: try row.decode(forColumn: "owner"))
    }

    static func trial(_ row: Row) throws -> TrialRecord {
        let study: String = try row.decode(forColumn: "study")
        let number: Int = try row.decode(forColumn: "number")
        let name = Storable.trialKey(study, number)
        let metrics: String? = try row.decode(forColumn: "metrics")
        let values: String? = try row.decode(forColumn: "objective_values")
        var record = TrialRecord(
            study: study,
            number: number,
            config: try json(Config.self, try row.decode(forColumn: "config"), of: "\(name) config"),
            state: try state(TrialState.self, row, of: name),
            source: try row.decode(forColumn: "source"),
            attempts: try row.decode(forColumn: "attempts"),
            value: try row.decode(forColumn: "value"),
            metrics: try metrics.map { try json(JSONValue.self, $0, of: "\(name) metrics") },
            worker: try row.decode(forColumn: "worker"),
            error: try row.decode(forColumn: "error"),
            createdAt: try row.decode(forColumn: "created_at"),
            startedAt: try row.decode(forColumn: "started_at"),
            finishedAt: try row.decode(forColumn: "finished_at"),
            budget: try row.decode(forColumn: "budget"),
            note: try row.decode(forColumn: "note"),
            restoreFrom: try row.decode(forColumn: "restore_from"))
        record.values = try values.map { text in
            guard case .array(let list) = try json(JSONValue.self, text, of: "\(name) objective values"),
                  case let numbers = list.compactMap(\.double), numbers.count == list.count else {
                throw RowError(message: "\(name) objective values: expected a JSON array of numbers, found \(text)")
            }
            return numbers
        }
        record.feasible = try row.decode(forColumn: "feasible")
        return record
    }

    static func attempt(_ row: Row) throws -> AttemptRecord {
        let study: String = try row.decode(forColumn: "study")
        let trial: Int = try row.decode(forColumn: "trial")
        let attempt: Int = try row.decode(forColumn: "attempt")
        return AttemptRecord(
            study: study,
            trial: trial,
            attempt: attempt,
            lease: UInt64(bitPattern: try row.decode(forColumn: "lease")),
            worker: try row.decode(forColumn: "worker"),
            state: try state(AttemptState.self, row, of: "\(Storable.trialKey(study, trial)) attempt \(attempt)"),
            error: try row.decode(forColumn: "error"),
            startedAt: try row.decode(forColumn: "started_at"),
            finishedAt: try row.decode(forColumn: "finished_at"))
    }

    static func report(_ row: Row) throws -> ReportRecord {
        let study: String = try row.decode(forColumn: "study")
        let trial: Int = try row.decode(forColumn: "trial")
        let seq = UInt64(bitPattern: try row.decode(forColumn: "seq"))
        return ReportRecord(
            study: study,
            trial: trial,
            attempt: try row.decode(forColumn: "attempt"),
            lease: UInt64(bitPattern: try row.decode(forColumn: "lease")),
            seq: seq,
            kind: try row.decode(forColumn: "kind"),
            metrics: try json(JSONValue.self, try row.decode(forColumn: "metrics"),
                              of: "\(Storable.trialKey(study, trial)) report \(seq) metrics"),
            time: try row.decode(forColumn: "time"))
    }

    static func workerEvent(_ row: Row) throws -> WorkerEventRecord {
        WorkerEventRecord(
            time: try row.decode(forColumn: "time"),
            worker: try row.decode(forColumn: "worker"),
            event: try row.decode(forColumn: "event"),
            detail: try row.decode(forColumn: "detail"))
    }

    /// The row's `state` column as `State`; `RowError` naming the row when this build has no such state.
    static func state<State: RawRepresentable<String>>(_: State.Type, _ row: Row, of name: String) throws -> State {
        let text: String = try row.decode(forColumn: "state")
        guard let state = State(rawValue: text) else { throw RowError(message: "\(name) has unknown state \"\(text)\"") }
        return state
    }

    /// Decodes stored JSON text; `RowError` naming the field when it is corrupt.
    static func json(_: JSONValue.Type, _ text: String, of name: String) throws -> JSONValue {
        do {
            return try JSONValue(parsing: text)
        } catch {
            throw RowError(message: "\(name) is not valid JSON: \(error)")
        }
    }

    static func json(_: Config.Type, _ text: String, of name: String) throws -> Config {
        guard let object = try json(JSONValue.self, text, of: name).object else {
            throw RowError(message: "\(name) is not a JSON object")
        }
        return object
    }

    static func json<T: Decodable>(_: T.Type, _ text: String, of name: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw RowError(message: "\(name) is not valid JSON: \(JSONCoding.describe(error))")
        }
    }
}
