import Foundation
import LoomWire

/// Which attempt's checkpoint a job's checkpoint directory on this worker holds: written to
/// `<job dir>/checkpoint.json` when the worker snapshots a checkpoint the trial announced or
/// restores one it fetched, so the next attempt knows whether the stored checkpoint is newer.
public struct CheckpointOrigin: Codable, Equatable, Sendable {
    /// The job whose attempt wrote it (another job's after a `restore_from`).
    public var job: String
    public var attempt: UInt32
    /// The CHECKPOINT update's seq within that attempt.
    public var seq: UInt64
    /// The metrics its CHECKPOINT carried (the newest line the trial had printed when the
    /// snapshot completed), when this worker took the snapshot; nil for one restored from the
    /// store. A resumed attempt that prints nothing ends with them (`TrialRunner`).
    public var metrics: JSONValue?

    public init(job: String, attempt: UInt32, seq: UInt64, metrics: JSONValue? = nil) {
        self.job = job
        self.attempt = attempt
        self.seq = seq
        self.metrics = metrics
    }

    /// The origin recorded in `file`, nil when there is none (or it does not decode).
    public static func read(_ file: String) -> CheckpointOrigin? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        return try? JSONDecoder().decode(CheckpointOrigin.self, from: data)
    }

    /// Writes the origin atomically (temporary file, then rename).
    public func write(to file: String) {
        try? Data(JSONCoding.encode(self)).write(to: URL(fileURLWithPath: file), options: .atomic)
    }
}
