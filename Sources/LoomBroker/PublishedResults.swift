import DequeModule
import Foundation
import LoomWire

/// What the broker has published about jobs' results, kept across its restarts: per job, the
/// terminal update last published as `finished` or `failed` (until the job is submitted anew)
/// and the client that submitted it.
///
/// **Why.** A restarted broker knew nothing of the jobs it had finished, so a worker returning
/// with an attempt of such a job had it adopted as an orphan: a superseded attempt's FINAL was
/// published as a second `finished` beside the recorded one, a resent FINAL was published again,
/// and an adopted attempt whose worker died was `requeued … awaiting_spec` after its `finished`
/// (issue 15, failure 3; simulation seeds 2919, 3933, 4011, 5902, 7222). With this memory the
/// broker fences an attempt of a finished job that is not the one whose result it published,
/// holds the published one's result for its client without publishing it again, and acknowledges
/// an attempt of an earlier run of a job submitted anew.
///
/// A re-synced job whose result was published is still run again when no worker holds that
/// result: its client may have had the result and submitted the job anew (a retry, a promotion)
/// with a SUBMIT lost with the broker, and the broker cannot tell the two apart (simulation seeds
/// 268, 744, 966 hung when it answered with the old result).
///
/// **Source.** The feed journal holds every `finished`, `failed` and `queued` event with the
/// update's attempt, lease, seq and payload, so `replay(_:)` of its tail at start rebuilds the
/// memory; while the broker runs, it notes what it publishes.
/// **Memory.** At most `capacity` jobs, the earliest noted forgotten first.
public struct PublishedResults: Sendable {
    /// What is known of one job.
    public struct Entry: Sendable, Equatable {
        /// The client whose SUBMIT (or re-sync) was last accepted for it.
        public var owner: String?
        /// The terminal update last published, unless the job was submitted anew since.
        public var result: Update?
        /// Results of earlier runs, published before the job was submitted anew (its client had
        /// them), newest last, at most `earlierKept`.
        public var earlier: [Update] = []
        /// Leases of the job's attempts a broker fenced, newest last, at most `fencedKept`: such
        /// an attempt is never adopted again, even once the job has no active attempt or the
        /// broker restarted (S4; simulation seeds 3634, 5295).
        public var fenced: [UInt64] = []
    }

    /// Fenced leases kept per job.
    public static let fencedKept = 16

    /// Earlier runs' results kept per job: a retry after each of a few failed runs.
    public static let earlierKept = 4

    /// Jobs remembered at most. 65,536 entries of a few hundred bytes: tens of MiB at worst.
    public var capacity: Int
    private var entries: [String: Entry] = [:]
    private var order: Deque<String> = []

    public init(capacity: Int = 65_536) {
        self.capacity = capacity
    }

    /// Jobs remembered.
    public var count: Int { entries.count }

    /// The entry of `job`, if remembered.
    public func entry(of job: String) -> Entry? { entries[job] }

    /// The terminal update last published for `job`, if it was not submitted anew since.
    public func result(of job: String) -> Update? { entries[job]?.result }

    /// The result of an earlier run of `job` published under `lease`, if remembered.
    public func earlierResult(of job: String, lease: UInt64) -> Update? {
        entries[job]?.earlier.last { $0.attempt.lease == lease }
    }

    /// A SUBMIT of `job` by `client` was accepted. Unless it is a re-sync (the client lists
    /// a job it has no result for), it starts a new run: the earlier result is no longer the job's.
    public mutating func submitted(_ job: String, by client: String, resync: Bool) {
        update(job) { entry in
            entry.owner = client
            guard !resync else { return }
            if let result = entry.result {
                entry.earlier.append(result)
                if entry.earlier.count > Self.earlierKept { entry.earlier.removeFirst() }
            }
            entry.result = nil
        }
    }

    /// The attempt `ref` was fenced.
    public mutating func fenced(_ ref: AttemptRef) {
        update(ref.job) { entry in
            guard !entry.fenced.contains(ref.lease) else { return }
            entry.fenced.append(ref.lease)
            if entry.fenced.count > Self.fencedKept { entry.fenced.removeFirst() }
        }
    }

    /// Whether an attempt of `job` under `lease` was fenced.
    public func wasFenced(_ job: String, lease: UInt64) -> Bool {
        entries[job]?.fenced.contains(lease) ?? false
    }

    /// `update` (FINAL or FAILED) was published as the job's result.
    public mutating func published(_ update: Update) {
        self.update(update.attempt.job) { $0.result = update }
    }

    /// Whether `replay` reads events of `topic` (a simulated journal keeps just these).
    public static func reads(_ topic: String) -> Bool {
        topic.hasPrefix("job/") && ["/queued", "/fenced", "/finished", "/failed"].contains(where: topic.hasSuffix)
    }

    /// Folds in one event of the feed journal (oldest first); events other than a job's
    /// `queued`/`held`, `fenced`, `finished` and `failed` are ignored, as are malformed ones.
    public mutating func replay(_ event: FeedEvent) {
        guard Self.reads(event.topic),
              let body = try? JSONDecoder().decode(Body.self, from: Data(event.body)) else { return }
        switch body.event {
        case "queued", "held":
            guard let client = body.client else { return }
            submitted(body.job, by: client, resync: body.event == "held" || body.resync == true)
        case "fenced":
            guard let attempt = body.attempt, let lease = body.lease?.value else { return }
            fenced(AttemptRef(job: body.job, attempt: attempt, lease: lease))
        case "finished", "failed":
            guard let attempt = body.attempt, let lease = body.lease?.value else { return }
            // The broker's own FAILED (attempts exhausted) carries no update seq: `UInt64.max`.
            published(Update(kind: body.event == "finished" ? .final : .failed,
                             attempt: AttemptRef(job: body.job, attempt: attempt, lease: lease),
                             seq: body.updateSeq ?? body.seq ?? .max, payload: event.payload ?? []))
        default: return
        }
    }

    /// The fields of a job event this memory reads, decoded exactly (leases exceed a double's 53
    /// bits): the typed feed's bodies (`BrokerEvent`: `lease` a decimal string, `update_seq`) and
    /// those of journals written before it (`lease` a number, the update's `seq`).
    private struct Body: Decodable {
        var event: String
        var job: String
        var client: String?
        var attempt: UInt32?
        var lease: Lease?
        var updateSeq: UInt64?
        var seq: UInt64?
        var resync: Bool?

        enum CodingKeys: String, CodingKey {
            case event, job, client, attempt, lease, seq, resync
            case updateSeq = "update_seq"
        }
    }

    /// A lease as a decimal string or, in older journals, a JSON number (read exactly).
    private struct Lease: Decodable {
        var value: UInt64?
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) { value = UInt64(text) } else { value = try container.decode(UInt64.self) }
        }
    }

    private mutating func update(_ job: String, _ change: (inout Entry) -> Void) {
        if entries[job] == nil {
            order.append(job)
            while order.count > capacity, let oldest = order.popFirst() { entries[oldest] = nil }
        }
        var entry = entries[job] ?? Entry()
        change(&entry)
        entries[job] = entry
    }
}

extension FeedJournal {
    /// The memory of published results rebuilt from the journal's last `window` events (the
    /// older ones are past what a worker could still hold).
    public func publishedResults(window: UInt64 = 1 << 20, capacity: Int = 65_536) throws(Failure) -> PublishedResults {
        var results = PublishedResults(capacity: capacity)
        var after = lastSeq > window ? lastSeq - window : 0
        while after < lastSeq {
            let (events, through) = try read(after: after, prefixes: ["job/"], limit: 10_000)
            for event in events { results.replay(event) }
            guard through > after else { break }
            after = through
        }
        return results
    }
}
