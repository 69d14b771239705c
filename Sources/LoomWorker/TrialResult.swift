import LoomWire

/// How an attempt ended, and the FINAL / FAILED payload that says so.
///
/// FINAL: `{"metrics": <last metric object or {}>, "exit_code": 0, "duration_s": x, "reports": n,
/// "attempt_dir": path}`; an attempt that printed nothing after resuming from a checkpoint of its
/// trial names it, `"resumed_checkpoint": {"attempt": a, "seq": s}`, and carries its metrics when
/// this worker snapshotted it.
/// FAILED: `{"error": sentence, "message": sentence, "exit_code": n|null, "signal": n|null,
/// "stderr_tail": text, "metrics": <last or {}>, "duration_s": x, "reports": n, "attempt_dir": path}`.
struct TrialResult: Equatable, Sendable {
    /// Why the worker ended the process, when it did.
    enum Intervention: Equatable, Sendable {
        /// `stop(lease:reason:)`: a CANCEL or the worker's shutdown.
        case cancelled(reason: String)
        /// The spec's `timeout_s` passed.
        case timedOut(after: Double)
    }

    /// What `waitpid` said.
    enum Termination: Equatable, Sendable {
        case exited(code: Int32)
        case signaled(Int32)
        /// Something else in the worker's process reaped the child; its status is unknown.
        case lost

        /// Decodes a raw wait status (the `WIFEXITED`/`WTERMSIG` macros are not imported).
        init(waitStatus status: Int32) {
            let low = status & 0x7F
            self = low == 0 ? .exited(code: (status >> 8) & 0xFF) : .signaled(low)
        }
    }

    var termination: Termination
    var intervention: Intervention?
    var lastMetrics: [String: JSONValue]?
    var reports: Int
    var stderrTail: String
    var duration: Duration
    var attemptDir: String
    /// The checkpoint of its trial the attempt resumed from: a FINAL of an attempt that printed
    /// nothing names it and carries its metrics (when this worker snapshotted it).
    var resumedFrom: CheckpointOrigin? = nil

    /// FINAL only for a clean exit the worker did not cause: a trial that exits 0 on SIGTERM
    /// was interrupted, not finished.
    var kind: UpdateKind {
        intervention == nil && termination == .exited(code: 0) ? .final : .failed
    }

    /// The human sentence for a failure.
    var error: String {
        switch intervention {
        case .cancelled(let reason): return "cancelled: \(reason)"
        case .timedOut(let seconds): return "timed out after \(Self.seconds(seconds))"
        case nil: break
        }
        switch termination {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let signal):
            return "killed by signal \(signal)"
        case .lost: return "exit status unknown: the process was reaped outside the worker"
        }
    }

    var payload: Frame {
        var body: [String: JSONValue] = [
            "metrics": .object(lastMetrics ?? [:]),
            "duration_s": .number(Self.roundedSeconds(duration)),
            "reports": .number(Double(reports)),
            "attempt_dir": .string(attemptDir),
        ]
        if kind == .final, lastMetrics == nil, let resumedFrom {
            // Its checkpoint was already at its end: the attempt ends with the state it resumed from.
            body["metrics"] = .object(resumedFrom.metrics?.object ?? [:])
            body["resumed_checkpoint"] = .object(["attempt": .number(Double(resumedFrom.attempt)), "seq": .number(Double(resumedFrom.seq))])
        }
        switch termination {
        case .exited(let code):
            body["exit_code"] = .number(Double(code))
            if kind == .failed { body["signal"] = .null }
        case .signaled(let signal):
            body["exit_code"] = .null
            body["signal"] = .number(Double(signal))
        case .lost:
            body["exit_code"] = .null
            body["signal"] = .null
        }
        if kind == .failed {
            body["error"] = .string(error)
            body["message"] = .string(error)
            body["stderr_tail"] = .string(stderrTail)
        }
        return JSONCoding.encode(JSONValue.object(body))
    }

    /// The FAILED payload of an attempt that never started (bad spec, missing program, ...).
    static func notStarted(_ error: String, attemptDir: String?) -> Frame {
        var body: [String: JSONValue] = [
            "error": .string(error), "message": .string(error), "exit_code": .null, "signal": .null,
            "stderr_tail": .string(""), "metrics": .object([:]), "duration_s": .number(0), "reports": .number(0),
        ]
        if let attemptDir { body["attempt_dir"] = .string(attemptDir) }
        return JSONCoding.encode(JSONValue.object(body))
    }

    /// `30s`, `1.5s`.
    static func seconds(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return "\(Int64(value))s" }
        return "\(value)s"
    }

    static func roundedSeconds(_ d: Duration) -> Double {
        let (seconds, attoseconds) = d.components
        return ((Double(seconds) + Double(attoseconds) / 1e18) * 1000).rounded() / 1000
    }
}
