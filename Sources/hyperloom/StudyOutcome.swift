import ArgumentParser
import Foundation
import LoomOptimizer
import LoomWire

/// How `run` and `submit --wait` end: status 0 only for a study that succeeded. A study failed
/// when it ended `failed` or `cancelled`, or ended with failed trials and no complete one; the
/// command then prints the reason and, for the first failed trials, their config, error and the
/// tail of their stderr, and exits with status 1.
enum StudyOutcome {
    /// Failed trials shown, and stderr lines shown of each.
    static let shownTrials = 3
    static let tailLines = 12

    /// Throws `ExitCode.failure` (after printing why on stderr) when study `id` failed.
    static func requireSuccess(_ id: String, source: StudySource, trials: JSONValue? = nil) throws {
        let doc = try trials ?? source.fetch(OptimizerRequest(op: "trials", study: id))
        let study = doc.object?["study"]?.object ?? [:]
        let counts = study["counts"]?.object ?? [:]
        let complete = counts["complete"]?.double ?? 0, failedCount = counts["failed"]?.double ?? 0
        let state = study["state"]?.argument ?? "?"
        let why: String
        switch state {
        case "failed", "cancelled": why = "study \(id) \(state): \(study["reason"]?.argument ?? "no reason recorded")"
        case _ where complete == 0 && failedCount > 0: why = "study \(id) ended with every finished trial failed (\(Int(failedCount)))"
        default: return
        }
        Console.error("error: \(why)")
        let failed = StudyRendering.trialObjects(doc).filter { $0["state"]?.argument == "failed" }
        for trial in failed.prefix(shownTrials) {
            let number = Int(trial["number"]?.double ?? 0)
            Console.error("trial \(number) failed: \(trial["error"]?.argument ?? "no error recorded")")
            Console.error("  config: \(StudyRendering.config(trial["config"]))")
            let tail = stderrTail(id, trial: number, source: source)
            if !tail.isEmpty {
                Console.error("  stderr (last \(tail.count) lines):")
                for line in tail { Console.error("    \(line)") }
            }
        }
        if failed.count > shownTrials { Console.error("… and \(failed.count - shownTrials) more failed trials: hyperloom trials \(id)") }
        throw ExitCode.failure
    }

    /// The last `tailLines` lines the trial wrote on stderr, over its attempts (empty when none were stored).
    static func stderrTail(_ id: String, trial: Int, source: StudySource) -> [String] {
        var lines: [String] = []
        var offset = 0
        while true {
            guard let page = try? source.fetch(OptimizerRequest(op: "logs", study: id, trial: trial, stream: "stderr", offset: offset)),
                  let doc = page.object else { break }
            for case .object(let line) in doc["lines"]?.arrayValue ?? [] {
                lines.append(line["text"]?.argument ?? "")
            }
            lines = Array(lines.suffix(tailLines))
            guard let next = doc["next_offset"]?.double else { break }
            offset = Int(next)
        }
        return lines
    }
}
