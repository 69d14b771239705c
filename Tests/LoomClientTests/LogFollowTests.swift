import LoomWire
import Testing
@testable import LoomClient

/// `LogFollow`: the stored page and the feed together print each line once.
@Suite struct LogFollowTests {
    func line(_ attempt: Int, _ stream: String, _ n: Int) -> LogFollow.Line {
        LogFollow.Line(attempt: attempt, stream: stream, line: n, text: "\(stream) \(n)")
    }

    func event(_ topic: String, _ body: String) -> FeedEvent {
        FeedEvent(topic: topic, seq: 1, body: Array(body.utf8))
    }

    @Test func linesSeenInTheStoreAreNotPrintedAgainFromTheFeed() {
        var follow = LogFollow(job: "s/2")
        #expect(follow.accept([line(1, "stdout", 1), line(1, "stdout", 2), line(1, "stderr", 1)]).count == 3)
        let batch = LogBatch(attempt: AttemptRef(job: "s/2", attempt: 1, lease: 5), stream: .stdout, firstLine: 2, lines: ["b", "c"])
        let fed = LogFollow.lines(of: FeedEvent(seq: 1, event: .log(batch, worker: "w1")))
        #expect(fed.map(\.line) == [2, 3])
        #expect(follow.accept(fed).map(\.text) == ["c"])
        #expect(follow.accept([line(2, "stdout", 1)]).count == 1, "a new attempt numbers from 1 again")
    }

    @Test func filtersByAttemptAndStream() {
        var follow = LogFollow(job: "s/2", attempt: 2, stream: "stderr")
        #expect(follow.accept([line(1, "stderr", 1), line(2, "stdout", 1), line(2, "stderr", 1)]) == [line(2, "stderr", 1)])
    }

    @Test func theJobsEndEventsEndTheFollow() {
        let follow = LogFollow(job: "s/2")
        #expect(follow.topics == ["log/s/2/", "job/s/2/"])
        #expect(follow.isEnd(event("job/s/2/finished", "{}")))
        #expect(follow.isEnd(event("job/s/2/failed", "{}")))
        #expect(follow.isEnd(event("job/s/2/cancelled", "{}")))
        #expect(!follow.isEnd(event("job/s/2/report", "{}")))
        #expect(!follow.isEnd(event("job/s/20/finished", "{}")))
        #expect(LogFollow.lines(of: event("job/s/2/report", #"{"event":"report"}"#)).isEmpty)
    }
}
