import LoomWire

/// The bookkeeping of `hyperloom logs --follow`: which lines were already printed, so the stored
/// page and the live feed together print every line exactly once. Pure.
///
/// **Invariant.** A stream's lines arrive in number order from either source (the store pages by
/// feed order, the feed is gap-free), so remembering the highest number printed per
/// `(attempt, stream)` is enough to drop every duplicate.
public struct LogFollow: Sendable {
    public struct Line: Equatable, Sendable {
        public var attempt: Int
        public var stream: String
        public var line: Int
        public var text: String

        public init(attempt: Int, stream: String, line: Int, text: String) {
            self.attempt = attempt
            self.stream = stream
            self.line = line
            self.text = text
        }
    }

    public let job: String
    public let attempt: Int?
    public let stream: String?
    private var highest: [String: Int] = [:]

    /// Follows job `job` (`<study>/<trial>`), optionally one attempt and one stream.
    public init(job: String, attempt: Int? = nil, stream: String? = nil) {
        self.job = job
        self.attempt = attempt
        self.stream = stream
    }

    /// The feed topics to subscribe to: the trial's log topics and its job events.
    public var topics: [String] { ["log/\(job)/", "job/\(job)/"] }

    /// The lines not printed yet, marked printed.
    public mutating func accept(_ lines: [Line]) -> [Line] {
        lines.filter { line in
            guard attempt == nil || line.attempt == attempt, stream == nil || line.stream == stream else { return false }
            let key = "\(line.attempt)/\(line.stream)"
            guard line.line > highest[key, default: 0] else { return false }
            highest[key] = line.line
            return true
        }
    }

    /// The lines of a `log` feed event of this job; empty for any other event.
    public static func lines(of event: FeedEvent) -> [Line] {
        guard case .log(let batch, _)? = try? event.typed().event else { return [] }
        return batch.lines.enumerated().map { i, text in
            Line(attempt: Int(batch.attempt.attempt), stream: batch.stream.rawValue, line: Int(batch.firstLine) + i, text: text)
        }
    }

    /// Whether `event` ends the trial's job: `finished`, `failed` or `cancelled`.
    public func isEnd(_ event: FeedEvent) -> Bool {
        ["finished", "failed", "cancelled"].contains { event.topic == "job/\(job)/\($0)" }
    }
}
