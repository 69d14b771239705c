import Foundation
@testable import LoomBench
import LoomWire
import Testing
import ZeroMQ

@Suite struct OrderStatistics {
    @Test func nearestRankPercentilesAreMeasuredValues() throws {
        let sample = (1...100).map(Double.init)
        let s = try #require(Summary(sample.shuffled()))
        #expect(s.p50 == 50)
        #expect(s.p90 == 90)
        #expect(s.p99 == 99)
        #expect(s.max == 100)
        #expect(s.min == 1)
        #expect(s.mean == 50.5)
        #expect(Summary.percentile(sorted: [7], 99) == 7)
        #expect(Summary([]) == nil)
    }

    @Test func theMedianOfAnEvenCountIsTheLowerMiddleRun() {
        #expect(Summary.median([3, 1, 2]) == 2)
        #expect(Summary.median([4, 1, 3, 2]) == 2)
    }
}

@Suite struct IdealSchedules {
    @Test func theListScheduleFillsTheSlotThatFreesFirst() {
        // Two slots: 3 | 1, then 1 goes to slot 2 (free at 1), then 2 to slot 2 (free at 2).
        #expect(Schedules.listMakespan([3, 1, 1, 2], slots: 2) == 4)
        #expect(Schedules.listMakespan([1, 1, 1, 1], slots: 4) == 1)
        #expect(Schedules.listMakespan([], slots: 3) == 0)
    }

    @Test func synchronousBatchesWaitForTheirSlowestJob() {
        #expect(Schedules.batchMakespan([3, 1, 1, 2], slots: 2) == 5)
        #expect(Schedules.batchMakespan([1, 5, 1], slots: 2) == 6)
    }

    @Test func theLowerBoundIsTheEvenSpreadOrTheLongestJob() {
        #expect(Schedules.lowerBound([3, 1, 1, 3], slots: 2) == 4)
        #expect(Schedules.lowerBound([10, 1], slots: 4) == 10)
    }

    @Test func logNormalDurationsAreDeterministicHeavyTailedAndCapped() throws {
        let a = Schedules.logNormalDurations(count: 5000, median: 1, sigma: 1, cap: 20, seed: 3)
        #expect(a == Schedules.logNormalDurations(count: 5000, median: 1, sigma: 1, cap: 20, seed: 3))
        #expect(a != Schedules.logNormalDurations(count: 5000, median: 1, sigma: 1, cap: 20, seed: 4))
        let s = try #require(Summary(a))
        #expect(abs(s.p50 - 1) < 0.1)
        // Heavy tail: the mean of a log-normal with σ = 1 is e^0.5 ≈ 1.65 × its median.
        #expect(s.mean > 1.4 && s.mean < 1.9)
        #expect(s.max <= 20)
        #expect(a.allSatisfy { $0 > 0 })
    }
}

@Suite struct ProcessSampling {
    @Test func readsThisProcessesCPUAndMemory() throws {
        let sample = try #require(ProcessSample(pid: getpid()))
        #expect(sample.residentBytes > 1 << 20)
        #expect(sample.peakResidentBytes >= sample.residentBytes)
        #expect(sample.cpuSeconds >= 0)
        #expect(ProcessSample(pid: Int32.max) == nil)
    }

    @Test func parsesCommandNamesWithSpacesAndParentheses() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1"
        #expect(ProcessSample.cpuTicks(stat: stat) == 300)
        #expect(ProcessSample.cpuTicks(stat: "garbage") == nil)
    }
}

@Suite(.timeLimit(.minutes(1))) struct SimulatedWorkers {
    @Test func readsTheSendTimeOutOfAJobPayload() {
        #expect(SimulatedWorkerPool.sentNanos(Array(#"{"sent_ns": 12345, "command": ["true"]}"#.utf8)) == 12345)
        #expect(SimulatedWorkerPool.sentNanos(Array(#"{"command": ["true"]}"#.utf8)) == nil)
    }

    /// The pool registers with a ROUTER that plays the broker, and answers an ASSIGN with
    /// STARTED and FINAL, measuring the dispatch latency from the payload's send time.
    @Test func registersAndAnswersAnAssignment() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let router = try context.socket(.router)
        defer { router.close() }
        try router.setLinger(.zero)
        try router.bind("tcp://127.0.0.1:*")
        let pool = try SimulatedWorkerPool(count: 3, endpoint: try router.lastEndpoint(), heartbeat: .seconds(1), context: context)
        defer { pool.close() }
        var identities: [[UInt8]] = []
        var received: [WorkerMessage] = []
        var step = 0
        try pool.run {
            while let frames = try? router.receive(dontWait: true) {
                guard let message = try? WireDecoder.inbound(frames.dropFirst()), case .worker(let m) = message else { continue }
                received.append(m)
                if case .ready = m {
                    identities.append(frames[0])
                    _ = try? router.send([frames[0]] + BrokerToWorker.welcome(WelcomeInfo(broker: "test", heartbeatMs: 1000, liveness: 3)).frames)
                }
            }
            if step == 0, identities.count == 3, pool.progress.registered == 3 {
                step = 1
                let ref = AttemptRef(job: "s/1", attempt: 1, lease: 9)
                let payload = Array(#"{"sent_ns": \#(monotonicNanos())}"#.utf8)
                _ = try? router.send([identities[1]] + BrokerToWorker.assign(ref, payload: payload, token: Array(repeating: 7, count: LeaseToken.size)).frames)
            }
            return received.contains { if case .update(let u) = $0 { u.kind == .final } else { false } }
        }
        #expect(pool.registered.count == 3)
        #expect(pool.dispatchLatencies.count == 1)
        #expect(received.contains(.started(AttemptRef(job: "s/1", attempt: 1, lease: 9))))
    }
}

@Suite struct RankSum {
    @Test func separatedSamplesGiveTheExtremeStatistic() throws {
        // Ranks 1, 2, 3 against 4, 5, 6: U = 0, mean 4.5, variance 3·3·7/12 = 5.25.
        let test = try #require(RankSumTest([1, 2, 3], [4, 5, 6]))
        #expect(test.u == 0)
        #expect(abs(test.z - (-4.5 / 5.25.squareRoot())) < 1e-12)
        #expect(abs(test.pSmaller - 0.024_767) < 1e-5)
        #expect(abs(test.pLarger + test.pSmaller - 1) < 1e-12)
    }

    @Test func tiesShareMidRanksAndShrinkTheVariance() throws {
        // Pooled 1, 2, 2, 3: mid-ranks 1, 2.5, 2.5, 4. First = [2, 3] has rank sum 6.5, U = 3.5;
        // tie term 2³ − 2 = 6, variance 2·2/12 · (5 − 6/12) = 1.5.
        let test = try #require(RankSumTest([2, 3], [1, 2]))
        #expect(test.u == 3.5)
        #expect(abs(test.z - 1.5 / 1.5.squareRoot()) < 1e-12)
    }

    @Test func identicalValuesHaveNoTest() {
        #expect(RankSumTest([1, 1], [1, 1]) == nil)
        #expect(RankSumTest([], [1]) == nil)
    }

    @Test func aShiftedSampleIsSignificantlyLarger() throws {
        let low = (0..<30).map { Double($0) }
        let high = low.map { $0 + 15 }
        let test = try #require(RankSumTest(high, low))
        #expect(test.pLarger < 0.001)
        #expect(test.pSmaller > 0.999)
    }
}
