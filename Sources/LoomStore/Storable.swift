import Foundation
import LoomModel
import LoomWire

/// What both stores check and how they name rows, so that they fail alike.
///
/// Configs and metrics are kept as JSON text with sorted keys (equal values, equal text).
/// `JSONCoding.encode` turns an unencodable value into `{}`; a store must not lose data quietly,
/// so it writes with `JSONValue.jsonBytes` and refuses what JSON cannot hold (NaN, ±infinity).
enum Storable {
    /// `study <id>`: how `.conflict` and `.notFound` name a study.
    static func studyKey(_ id: String) -> String { "study \(id)" }

    /// `trial <study>/<number>`: how `.conflict` and `.notFound` name a trial (its job id).
    static func trialKey(_ study: String, _ number: Int) -> String { "trial \(study)/\(number)" }

    /// The JSON text of `value` (through the fast writer of `JSONValue+Writing.swift`, which
    /// gives Foundation's sorted-keys text); `.database` naming the operation and field when JSON
    /// cannot hold it.
    static func json(_ value: JSONValue, operation: String, field: String) throws(StoreError) -> String {
        guard let bytes = value.jsonBytes else {
            throw .database("\(operation): \(field) holds a number JSON cannot store (NaN or infinity)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Checks what a trial row holds can be stored and read back equal; returns its config and
    /// metrics as JSON text.
    static func trialJSON(_ trial: TrialRecord, operation: String) throws(StoreError) -> (config: String, metrics: String?) {
        if let value = trial.value, value.isNaN {
            throw .database("\(operation): value is NaN, which a store cannot hold")
        }
        let config = try json(JSONValue.object(trial.config), operation: operation, field: "config")
        let metrics = try trial.metrics.map { (m) throws(StoreError) in try json(m, operation: operation, field: "metrics") }
        return (config, metrics)
    }
}

extension Storable {
    /// `recordResult`'s preconditions, the same in every store: the trial is finished and the
    /// attempt, if any, is one of its own. Breaking them is a bug in the caller, not a store error.
    static func checkResult(trial: TrialRecord, attempt: AttemptRecord?) {
        precondition(trial.state.isFinished,
                     "recordResult(\(trialKey(trial.study, trial.number))): state \(trial.state) is not terminal")
        if let attempt {
            precondition(attempt.study == trial.study && attempt.trial == trial.number,
                         "recordResult(\(trialKey(trial.study, trial.number))): attempt of \(trialKey(attempt.study, attempt.trial))")
        }
    }
}
