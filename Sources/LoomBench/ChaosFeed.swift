import Foundation
import LoomWire

/// One line of the chaos run's `hyperloom logger` file (JSONL), with the fields the checks use.
public struct ChaosFeedEvent: Equatable, Sendable {
    public var seq: UInt64
    public var topic: String
    public var event: String
    public var time: Double
    /// The job id (`<study>/<trial>`), when the event is about a job.
    public var job: String?
    public var attempt: Int?
    public var lease: UInt64?
    /// `kind` of a `stale` event (`report`, `checkpoint`, `final`, `failed`).
    public var kind: String?
    /// The `loss` of a result's payload.
    public var loss: Double?

    public init(seq: UInt64, topic: String, event: String, time: Double, job: String? = nil, attempt: Int? = nil,
                lease: UInt64? = nil, kind: String? = nil, loss: Double? = nil) {
        self.seq = seq
        self.topic = topic
        self.event = event
        self.time = time
        self.job = job
        self.attempt = attempt
        self.lease = lease
        self.kind = kind
        self.loss = loss
    }

    /// Parses one logger line; nil when it is not a feed event.
    ///
    /// The line's `seq` is the feed's (an update's own number is `update_seq`); leases are
    /// decimal strings, as 64-bit integers do not fit a JSON number exactly.
    public init?(line: Substring) {
        guard let object = (try? JSONValue(parsing: String(line)))?.object,
              let seq = object["seq"]?.double.flatMap({ UInt64(exactly: $0) }),
              let topic = object["topic"]?.argument, let event = object["event"]?.argument
        else { return nil }
        let payload = object["payload"]?.object
        var lease: UInt64?
        switch object["lease"] {
        case .string(let text)?: lease = UInt64(text)
        case .number(let n)?: lease = UInt64(exactly: n)
        default: lease = nil
        }
        self.init(seq: seq, topic: topic, event: event, time: object["time"]?.double ?? 0,
                  job: object["job"]?.argument, attempt: object["attempt"]?.double.map { Int($0) },
                  lease: lease, kind: object["kind"]?.argument,
                  loss: payload?["metrics"]?.object?["loss"]?.double ?? payload?["loss"]?.double)
    }

    /// The trial number of a job event of `study`.
    public func trial(of study: String) -> Int? {
        guard let job, job.hasPrefix(study + "/") else { return nil }
        return Int(job.dropFirst(study.count + 1))
    }

    /// Every event of a logger file, in file order.
    public static func read(_ path: String) throws -> [ChaosFeedEvent] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap(ChaosFeedEvent.init(line:))
    }
}
