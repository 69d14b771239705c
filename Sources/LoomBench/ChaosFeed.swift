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
    /// `seq` and `lease` are read from the text: a logger line holds the feed's `seq` first and
    /// then the body's own `seq` (an update's number) under the same key, and leases are 64-bit
    /// integers that a JSON number (a double) does not hold exactly.
    public init?(line: Substring) {
        guard let object = (try? JSONValue(parsing: String(line)))?.object, let seq = Self.integer("seq", in: line),
              let topic = object["topic"]?.argument, let event = object["event"]?.argument
        else { return nil }
        let payload = object["payload"]?.object
        self.init(seq: seq, topic: topic, event: event, time: object["time"]?.double ?? 0,
                  job: object["job"]?.argument, attempt: object["attempt"]?.double.map { Int($0) },
                  lease: Self.integer("lease", in: line), kind: object["kind"]?.argument,
                  loss: payload?["metrics"]?.object?["loss"]?.double ?? payload?["loss"]?.double)
    }

    /// The unsigned integer after the first `"key":` of a line.
    static func integer(_ key: String, in line: Substring) -> UInt64? {
        guard let range = line.range(of: "\"\(key)\":") else { return nil }
        return UInt64(line[range.upperBound...].prefix { $0.isNumber })
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
