import LoomCheckpoint
import Testing

/// The receiving end of a chunked transfer, driven by a manual clock.
@Suite("ChunkTransfer")
struct ChunkTransferTests {
    let t0 = ContinuousClock.now
    let config = ChunkTransfer.Config(chunkSize: 10, window: 3, timeout: .seconds(2), maxTries: 2)

    static func fetches(_ actions: [ChunkTransfer.Action]) -> [(UInt64, String, Int64, Int)] {
        actions.compactMap { if case .fetch(let r, let b, let o, let l) = $0 { (r, b, o, l) } else { nil } }
    }

    @Test func neverMoreThanAWindowOutstandingAndEachAnswerReleasesOne() {
        var transfer = ChunkTransfer(blobs: ["a": 45], config: config, firstRequest: 100)
        let first = Self.fetches(transfer.start(now: t0))
        #expect(first.map(\.0) == [100, 101, 102])
        #expect(first.map(\.2) == [0, 10, 20])
        #expect(transfer.outstandingCount == 3)
        let (accept, next) = transfer.received(request: 101, blob: "a", offset: 10, count: 10, now: t0)
        #expect(accept)
        #expect(Self.fetches(next).map(\.2) == [30], "one answer, one new FETCH")
        #expect(transfer.outstandingCount == 3)
        _ = transfer.received(request: 100, blob: "a", offset: 0, count: 10, now: t0)
        #expect(transfer.outstandingCount == 3, "the last range, 40..<45, is asked now")
        var done: [ChunkTransfer.Action] = []
        done += transfer.received(request: 102, blob: "a", offset: 20, count: 10, now: t0).actions
        done += transfer.received(request: 103, blob: "a", offset: 30, count: 10, now: t0).actions
        #expect(!transfer.isFinished)
        done += transfer.received(request: 104, blob: "a", offset: 40, count: 5, now: t0).actions
        #expect(done == [.blobComplete("a"), .finished])
        #expect(transfer.receivedBytes == 45)
    }

    @Test func duplicateAndMismatchedAnswersAreNotWritten() {
        var transfer = ChunkTransfer(blobs: ["a": 20], config: config, firstRequest: 1)
        _ = transfer.start(now: t0)
        #expect(transfer.received(request: 1, blob: "a", offset: 0, count: 10, now: t0).accept)
        #expect(!transfer.received(request: 1, blob: "a", offset: 0, count: 10, now: t0).accept, "a duplicate")
        #expect(!transfer.received(request: 2, blob: "b", offset: 10, count: 10, now: t0).accept, "another blob")
        #expect(!transfer.received(request: 77, blob: "a", offset: 10, count: 10, now: t0).accept, "an unknown id")
        let short = transfer.received(request: 2, blob: "a", offset: 10, count: 3, now: t0)
        #expect(!short.accept)
        #expect(short.actions == [.failed("blob a at 10: expected 10 bytes, got 3 (the file changed?)")])
    }

    @Test func anUnansweredRangeIsAskedAgainWithANewIdThenTheTransferFails() {
        var transfer = ChunkTransfer(blobs: ["a": 5], config: config, firstRequest: 1)
        #expect(Self.fetches(transfer.start(now: t0)).map(\.0) == [1])
        #expect(transfer.nextDeadline == t0 + .seconds(2))
        #expect(transfer.expire(now: t0 + .seconds(1)).isEmpty)
        let again = Self.fetches(transfer.expire(now: t0 + .seconds(2)))
        #expect(again.map(\.0) == [2])
        #expect(!transfer.received(request: 1, blob: "a", offset: 0, count: 5, now: t0).accept, "the late answer to the first try")
        #expect(transfer.expire(now: t0 + .seconds(4)) == [.failed("no answer for blob a at 0 after 2 tries")])
        #expect(transfer.failure != nil)
    }

    @Test func emptyBlobsCompleteWithoutAFetchAndNothingToSendFinishesAtOnce() {
        var transfer = ChunkTransfer(blobs: ["e": 0, "a": 3], config: config, firstRequest: 1)
        let start = transfer.start(now: t0)
        #expect(start.first == .blobComplete("e"))
        #expect(Self.fetches(start).count == 1)
        var nothing = ChunkTransfer(blobs: [:], config: config, firstRequest: 1)
        #expect(nothing.start(now: t0) == [.finished])
    }

    @Test func aRefusedRangeFailsTheTransfer() {
        var transfer = ChunkTransfer(blobs: ["a": 5], config: config, firstRequest: 1)
        _ = transfer.start(now: t0)
        #expect(transfer.refused(request: 9, reason: "x").isEmpty, "not one of ours")
        #expect(transfer.refused(request: 1, reason: "no blob a") == [.failed("no blob a")])
    }

    @Test func afterAReconnectEverythingInFlightIsAskedAgainAtOnce() {
        var transfer = ChunkTransfer(blobs: ["a": 30], config: config, firstRequest: 1)
        #expect(Self.fetches(transfer.start(now: t0)).map(\.0) == [1, 2, 3])
        let again = Self.fetches(transfer.retryOutstanding(now: t0 + .milliseconds(10)))
        #expect(again.map(\.0) == [4, 5, 6])
        #expect(again.map(\.2) == [0, 10, 20])
        #expect(!transfer.received(request: 2, blob: "a", offset: 10, count: 10, now: t0).accept, "the old ids are gone")
        #expect(Self.fetches(transfer.retryOutstanding(now: t0)).count == 3, "reconnects do not use up tries")
        #expect(Self.fetches(transfer.expire(now: t0 + .seconds(2))).count == 3, "the second try")
        #expect(transfer.expire(now: t0 + .seconds(4)) == [.failed("no answer for blob a at 0 after 2 tries")])
    }
}

/// A transfer holds a window of ranges, not one per chunk of whatever size a manifest claims.
@Suite struct ChunkTransferBounds {
    @Test func aTerabyteBlobAndANegativeSizeCostOnlyAWindowOfRanges() {
        let t0 = ContinuousClock.now
        var transfer = ChunkTransfer(blobs: [String(repeating: "a", count: 64): 1 << 40, String(repeating: "b", count: 64): -(1 << 40)],
                                     config: ChunkTransfer.Config(chunkSize: 256 << 10, window: 8), firstRequest: 1)
        let actions = transfer.start(now: t0)
        let fetches = actions.filter { if case .fetch = $0 { true } else { false } }
        #expect(fetches.count == 8)
        #expect(actions.contains(.blobComplete(String(repeating: "b", count: 64))))
        if case .fetch(let request, let blob, let offset, let length)? = fetches.last {
            #expect(blob == String(repeating: "a", count: 64) && offset == 7 * (256 << 10) && length == 256 << 10)
            let (accept, next) = transfer.received(request: request, blob: blob, offset: offset, count: length, now: t0)
            #expect(accept)
            #expect(next == [.fetch(request: 9, blob: blob, offset: 8 * (256 << 10), length: 256 << 10)])
        }
    }
}
