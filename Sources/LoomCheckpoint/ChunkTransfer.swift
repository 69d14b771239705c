import LoomWire

/// The receiving end of a chunked transfer of blobs, free of I/O and clocks: which ranges to ask
/// for, how many may be outstanding, what to ask again, and when it is over.
///
/// **Flow control.** At most `window` FETCHes are outstanding; each CHUNK that answers one frees
/// its place for the next range. Neither the sender nor the relay in between therefore ever holds
/// more than `window × chunkSize` bytes of one transfer, and the receiver writes each chunk to
/// its file as it arrives.
/// **Loss.** A FETCH unanswered for `timeout` is asked again (with a new request id, so a late
/// answer to the old one is recognised and ignored); after `maxTries` tries of one range the
/// transfer fails.
/// **Dedup.** The caller passes only the blobs the destination lacks; a zero-length blob needs no
/// FETCH and completes at once.
/// **Ids.** Request ids are `firstRequest`, `firstRequest + 1`, …: the caller gives each transfer
/// its own range so answers can be routed back by id.
public struct ChunkTransfer: Sendable {
    /// Tunables.
    public struct Config: Sendable, Equatable {
        /// Bytes per FETCH: small enough that a window stays a few MiB, big enough that per-message
        /// overhead (three hops, one ACK-like answer each) is negligible.
        public var chunkSize: Int
        /// FETCHes outstanding at once.
        public var window: Int
        /// How long an answer may take before the range is asked again.
        public var timeout: Duration
        /// Tries per range before the transfer fails.
        public var maxTries: Int

        /// One second: a chunk crosses a LAN in milliseconds, so a second without its answer
        /// means a message was lost (a peer or the broker restarted), not that it is slow;
        /// fifteen tries ride out a broker restart and its recovery window.
        public init(chunkSize: Int = 256 << 10, window: Int = 8, timeout: Duration = .seconds(1), maxTries: Int = 15) {
            self.chunkSize = max(1, chunkSize)
            self.window = max(1, window)
            self.timeout = timeout
            self.maxTries = max(1, maxTries)
        }
    }

    /// What the I/O layer does next.
    public enum Action: Equatable, Sendable {
        /// Send FETCH `{"op": "blob", "sha256": blob, "offset": offset, "length": length}` with id `request`.
        case fetch(request: UInt64, blob: String, offset: Int64, length: Int)
        /// Every byte of `blob` has arrived: verify its hash and keep it.
        case blobComplete(String)
        /// Every blob is complete.
        case finished
        /// The transfer gave up; nothing more will be asked.
        case failed(String)
    }

    /// One range of one blob.
    struct Range: Equatable, Sendable {
        var blob: String
        var offset: Int64
        var length: Int
        var tries = 0
    }

    public let config: Config
    /// The blobs to fetch (hash, size), in hash order; ranges are made from them as they are
    /// asked for, so a transfer holds O(window) ranges whatever sizes a manifest claims.
    private let blobs: [(blob: String, size: Int64)]
    /// The next range not asked for yet: blob `cursorBlob` from `cursorOffset`.
    private var cursorBlob = 0
    private var cursorOffset: Int64 = 0
    /// Outstanding FETCHes by request id, with when they were sent.
    private var outstanding: [UInt64: (range: Range, sentAt: ContinuousClock.Instant)] = [:]
    /// Ranges still missing per blob.
    private var missing: [String: Int64] = [:]
    private var nextRequest: UInt64
    public private(set) var isFinished = false
    public private(set) var failure: String?
    /// Bytes received and accepted so far.
    public private(set) var receivedBytes: Int64 = 0

    /// A transfer of `blobs` (hash → size), asked for in hash order. A negative size counts as
    /// an empty blob (manifests are validated before; this keeps the arithmetic total anyway).
    public init(blobs: [String: Int64], config: Config = Config(), firstRequest: UInt64) {
        self.config = config
        nextRequest = firstRequest
        self.blobs = blobs.sorted(by: { $0.key < $1.key }).map { ($0.key, max(0, $0.value)) }
        let chunk = Int64(config.chunkSize)
        for (blob, size) in self.blobs {
            missing[blob] = size / chunk + (size % chunk == 0 ? 0 : 1)
        }
        skipEmptyBlobs()
    }

    /// Ranges asked for and not yet answered.
    public var outstandingCount: Int { outstanding.count }

    /// Whether `request` is one of this transfer's outstanding FETCHes.
    public func isOutstanding(_ request: UInt64) -> Bool { outstanding[request] != nil }

    /// The first FETCHes (a window), and the empty blobs, which are complete at once.
    public mutating func start(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for (blob, count) in missing.sorted(by: { $0.key < $1.key }) where count == 0 {
            missing[blob] = nil
            actions.append(.blobComplete(blob))
        }
        return actions + refill(now: now)
    }

    /// The answer to `request` arrived with `count` bytes for `blob` at `offset`. Returns whether
    /// the bytes are to be written (false for a duplicate, late or mismatched answer) and what
    /// to do next.
    public mutating func received(request: UInt64, blob: String, offset: Int64, count: Int,
                                  now: ContinuousClock.Instant) -> (accept: Bool, actions: [Action]) {
        guard failure == nil, !isFinished, let entry = outstanding[request] else { return (false, []) }
        let range = entry.range
        guard range.blob == blob, range.offset == offset else { return (false, []) }
        outstanding[request] = nil
        guard count == range.length else {
            return (false, fail("blob \(blob) at \(offset): expected \(range.length) bytes, got \(count) (the file changed?)"))
        }
        receivedBytes += Int64(count)
        var actions: [Action] = []
        missing[blob, default: 1] -= 1
        if missing[blob] == 0 {
            missing[blob] = nil
            actions.append(.blobComplete(blob))
        }
        return (true, actions + refill(now: now))
    }

    /// The holder answered `request` with an error: the transfer fails.
    public mutating func refused(request: UInt64, reason: String) -> [Action] {
        guard failure == nil, !isFinished, outstanding[request] != nil else { return [] }
        return fail(reason)
    }

    /// Asks again for ranges unanswered for `timeout`; fails after `maxTries`.
    public mutating func expire(now: ContinuousClock.Instant) -> [Action] {
        guard failure == nil, !isFinished else { return [] }
        var actions: [Action] = []
        for (request, entry) in outstanding.sorted(by: { $0.key < $1.key }) where now >= entry.sentAt + config.timeout {
            outstanding[request] = nil
            guard entry.range.tries < config.maxTries else {
                return fail("no answer for blob \(entry.range.blob) at \(entry.range.offset) after \(entry.range.tries) tries")
            }
            actions.append(ask(entry.range, now: now))
        }
        return actions
    }

    /// Asks again, now, for every outstanding range (the link was re-established: what was in
    /// flight is likely lost with the old one). Not counted as a try: a reconnect is nobody's
    /// failure to answer, and several may come in a row while a broker restarts.
    public mutating func retryOutstanding(now: ContinuousClock.Instant) -> [Action] {
        guard failure == nil, !isFinished else { return [] }
        var actions: [Action] = []
        for (request, entry) in outstanding.sorted(by: { $0.key < $1.key }) {
            outstanding[request] = nil
            var range = entry.range
            range.tries -= 1
            actions.append(ask(range, now: now))
        }
        return actions
    }

    /// When `expire(now:)` next has work to do; nil when nothing is outstanding.
    public var nextDeadline: ContinuousClock.Instant? {
        outstanding.values.map(\.sentAt).min().map { $0 + config.timeout }
    }

    /// Moves the cursor past blobs with nothing (more) to ask for.
    private mutating func skipEmptyBlobs() {
        while cursorBlob < blobs.count, cursorOffset >= blobs[cursorBlob].size {
            cursorBlob += 1
            cursorOffset = 0
        }
    }

    private mutating func refill(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        while outstanding.count < config.window, cursorBlob < blobs.count {
            let (blob, size) = blobs[cursorBlob]
            let length = Int(min(Int64(config.chunkSize), size - cursorOffset))
            actions.append(ask(Range(blob: blob, offset: cursorOffset, length: length), now: now))
            cursorOffset += Int64(length)
            skipEmptyBlobs()
        }
        if outstanding.isEmpty, cursorBlob == blobs.count, missing.isEmpty, !isFinished {
            isFinished = true
            actions.append(.finished)
        }
        return actions
    }

    private mutating func ask(_ range: Range, now: ContinuousClock.Instant) -> Action {
        var range = range
        range.tries += 1
        let request = nextRequest
        nextRequest += 1
        outstanding[request] = (range, now)
        return .fetch(request: request, blob: range.blob, offset: range.offset, length: range.length)
    }

    private mutating func fail(_ reason: String) -> [Action] {
        failure = reason
        outstanding.removeAll()
        return [.failed(reason)]
    }
}
