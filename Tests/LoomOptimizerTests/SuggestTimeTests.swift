import Foundation
@testable import LoomOptimizer
import LoomWire
import Testing

/// The ask latency metric times each searcher's own `suggest` with the clock the service gives
/// the machine; the machine reads no clock itself (no clock: nothing timed).
@Suite struct SuggestTimeTests {
    /// A clock that moves 5 ms each time it is read.
    final class SteppingClock: @unchecked Sendable {
        private let lock = NSLock()
        private var now = ContinuousClock.now
        func read() -> ContinuousClock.Instant {
            lock.lock()
            defer { lock.unlock() }
            now = now + .milliseconds(5)
            return now
        }
    }

    @Test func eachSuggestIsTimedAndLabelledWithItsSearcher() throws {
        let clock = SteppingClock()
        var settings = OptimizerMachine.Settings(keepsCheckpoints: false, workingDirectory: "/w")
        settings.suggestClock = { clock.read() }
        var h = try MachineHarness(settings: settings)
        let actions = try h.request(OptimizerRequest(op: "submit", spec: MachineHarness.spec(trials: 3, concurrent: 2), baseDirectory: "/w"))
        #expect(actions.suggestTimes == [SuggestTime(searcher: "random", duration: .milliseconds(5)),
                                         SuggestTime(searcher: "random", duration: .milliseconds(5))], "two slots, two suggestions")
        let job = try #require(h.submittedJobs.first)
        try h.start(job)
        let finished = try h.final(job, seq: 1, ["loss": 0.5])
        let ticked = try h.tick()
        #expect((finished.suggestTimes + ticked.suggestTimes).map(\.searcher) == ["random"], "the freed slot's trial")
    }

    @Test func withoutAClockNothingIsTimed() throws {
        var h = try MachineHarness()
        let actions = try h.request(OptimizerRequest(op: "submit", spec: MachineHarness.spec(), baseDirectory: "/w"))
        #expect(actions.suggestTimes.isEmpty)
        #expect(h.submittedJobs.count == 2)
    }
}
