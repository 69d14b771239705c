import LoomWire
import Testing
@testable import LoomWorker

/// `LogBatcher`: lines split across chunks, batching by time and size, and every cap, with time
/// passed in.
@Suite struct LogBatcherTests {
    let ref = AttemptRef(job: "s/1", attempt: 1, lease: 5)
    let t0 = ContinuousClock.now

    func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }

    /// Every line of the batches, numbered, per stream.
    func lines(_ batches: [LogBatch], _ stream: LogBatch.Stream = .stdout) -> [(UInt64, String)] {
        batches.filter { $0.stream == stream }.flatMap { b in b.lines.enumerated().map { (b.firstLine + UInt64($0.offset), $0.element) } }
    }

    @Test func linesSplitAcrossChunksAreJoinedAndWaitForTheFlushInterval() {
        var b = LogBatcher(attempt: ref)
        #expect(b.feed("epo", stream: .stdout, now: at(0)).isEmpty)
        #expect(b.feed("ch 1\r\nepoch 2\n@hyperloom {\"loss\": 1}\npart", stream: .stdout, now: at(10)).isEmpty)
        #expect(b.nextFlush == at(110))
        #expect(b.flushDue(now: at(109)).isEmpty)
        let batches = b.flushDue(now: at(110))
        #expect(batches == [LogBatch(attempt: ref, stream: .stdout, firstLine: 1, lines: ["epoch 1", "epoch 2", "@hyperloom {\"loss\": 1}"])])
        #expect(b.nextFlush == nil)
        #expect(b.finish(now: at(200)) == [LogBatch(attempt: ref, stream: .stdout, firstLine: 4, lines: ["part"])])
    }

    @Test func streamsAreNumberedApartAndFlushedApart() {
        var b = LogBatcher(attempt: ref)
        _ = b.feed("o1\n", stream: .stdout, now: at(0))
        _ = b.feed("e1\ne2\n", stream: .stderr, now: at(50))
        #expect(b.flushDue(now: at(100)).map(\.stream) == [.stdout])
        let err = b.flushDue(now: at(150))
        #expect(err == [LogBatch(attempt: ref, stream: .stderr, firstLine: 1, lines: ["e1", "e2"])])
    }

    @Test func aFullBatchIsSentAtOnce() {
        var b = LogBatcher(attempt: ref, limits: LogLimits(flushBytes: 10))
        let out = b.feed("12345\n1234\nx\n", stream: .stdout, now: at(0))
        // "12345" + "1234" is 11 bytes with their line ends: the batch is full.
        #expect(out == [LogBatch(attempt: ref, stream: .stdout, firstLine: 1, lines: ["12345", "1234"])])
        #expect(b.finish(now: at(1)) == [LogBatch(attempt: ref, stream: .stdout, firstLine: 3, lines: ["x"])])
    }

    @Test func aLongLineIsCutAndSaysHowMuch() {
        var b = LogBatcher(attempt: ref, limits: LogLimits(maxLineBytes: 4))
        _ = b.feed("abcdefgh", stream: .stdout, now: at(0))
        _ = b.feed("ij\nok\n", stream: .stdout, now: at(0))
        #expect(lines(b.finish(now: at(1))).map(\.1) == ["abcd … [6 more bytes cut]", "ok"])
    }

    @Test func theRateLimitDropsCountsAndMarksTheGap() {
        var b = LogBatcher(attempt: ref, limits: LogLimits(linesPerSecond: 3))
        var out = b.feed((1...10).map { "line \($0)\n" }.joined(), stream: .stdout, now: at(0))
        #expect(b.droppedLines == 7)
        // The next window: the marker comes first, then the line it lets through.
        out += b.feed("line 11\n", stream: .stdout, now: at(1000))
        out += b.finish(now: at(1001))
        let got = lines(out)
        #expect(got.map(\.1) == ["line 1", "line 2", "line 3", "… 7 lines dropped (rate limit)", "line 11"])
        #expect(got.map(\.0) == [1, 2, 3, 4, 5])
    }

    @Test func theSizeCapDropsTheRestAndFinishSaysSo() {
        var b = LogBatcher(attempt: ref, limits: LogLimits(bytesPerAttempt: 10))
        var out = b.feed("12345\n12345\n1\n", stream: .stdout, now: at(0))
        out += b.feed("err\n", stream: .stderr, now: at(5))
        out += b.finish(now: at(10))
        #expect(lines(out).map(\.1) == ["12345", "12345", "… 1 line dropped (per-attempt size limit)"])
        #expect(lines(out, .stderr).map(\.1) == ["… 1 line dropped (per-attempt size limit)"])
        #expect(b.droppedLines == 2)
    }

    @Test func finishWithNothingPendingSendsNothing() {
        var b = LogBatcher(attempt: ref)
        #expect(b.finish(now: at(0)).isEmpty)
    }
}
