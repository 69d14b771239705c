import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// Batched asks (`n`), released prefetches and resent tells, on a manual clock: what a Python
/// client that prefetches trials and pipelines its tells relies on.
@Suite struct OptimizerMachineAskBatchTests {
    static func askOnly(trials: Int, retries: Int = 0, searcher: String = "random") -> String {
        """
        name: b
        metric: loss
        mode: min
        space: {x: {uniform: [0.0, 1.0]}, y: {uniform: [0.0, 1.0]}}
        searcher: {type: \(searcher), seed: 3}
        trial: {max_retries: \(retries)}
        budget: {max_trials: \(trials)}
        """
    }

    /// The body of the one RESPOND of `actions`.
    func answer(_ actions: OptimizerActions) throws -> [String: JSONValue] {
        let bodies = actions.messages.compactMap { message -> Frame? in
            if case .respond(_, _, let body) = message { body } else { nil }
        }
        #expect(bodies.count == 1)
        let body = try #require(bodies.first)
        return try #require(try JSONValue(parsing: body).object)
    }

    func handed(_ answer: [String: JSONValue]) -> [[String: JSONValue]] {
        guard case .array(let trials) = answer["trials"] else { return [] }
        return trials.compactMap(\.object)
    }

    /// The reason of the first `refused` entry of a `release` answer.
    func firstRefusal(_ answer: [String: JSONValue]) -> String? {
        guard case .array(let refused) = answer["refused"] else { return nil }
        return refused.first?.object?["reason"]?.argument
    }

    @Test func askWithNHandsOutThatManyLeasedTrialsInOneTurnUpToTheBudget() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.askOnly(trials: 5))
        let actions = try h.request(OptimizerRequest(op: "ask", study: id, leaseSeconds: 5, n: 3))
        #expect(actions.writes.count == 3, "three rows, committed with the answer in one turn")
        let first = handed(try answer(actions))
        #expect(first.map { $0["trial"] } == [.number(1), .number(2), .number(3)])
        #expect(first.allSatisfy { $0["attempt"] == .number(1) && $0["lease_s"] == .number(5) })
        #expect(Set(first.map { $0["config"] }).count == 3, "each sampled with the ones before it pending")
        #expect(try (1...3).map { try h.trial(id, $0).state } == [.running, .running, .running])
        let rest = handed(try answer(h.request(OptimizerRequest(op: "ask", study: id, n: 10))))
        #expect(rest.map { $0["trial"] } == [.number(4), .number(5)], "the budget holds two more")
        let none = try answer(h.request(OptimizerRequest(op: "ask", study: id, n: 4)))
        #expect(none["retry_after"] != nil && none["trials"] == nil, "every trial is held: ask again later")
    }

    @Test func askRefusesABatchSizeOutsideItsRange() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.askOnly(trials: 5))
        for n in [0, 1025] {
            let refused = try answer(h.request(OptimizerRequest(op: "ask", study: id, n: n)))
            #expect(refused["error"]?.argument == "ask: \"n\" must be between 1 and 1024, not \(n)")
        }
        #expect(try h.store.trials(study: id).isEmpty)
    }

    @Test func aBatchOfAskedTrialsExpiresTogetherAndIsHandedOutAgain() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.askOnly(trials: 2, retries: 1))
        let first = handed(try answer(h.request(OptimizerRequest(op: "ask", study: id, leaseSeconds: 2, n: 2))))
        h.advance(2.5)
        try h.tick()
        #expect(try [h.trial(id, 1).state, h.trial(id, 2).state] == [.waiting, .waiting])
        let again = handed(try answer(h.request(OptimizerRequest(op: "ask", study: id, n: 2))))
        #expect(again.map { $0["trial"] } == [.number(1), .number(2)] && again.allSatisfy { $0["attempt"] == .number(2) })
        #expect(again.map { $0["config"] } == first.map { $0["config"] })
    }

    @Test func aPrefetchedTrialWhoseLeaseExpiresUnstartedIsOfferedAgainWithoutSpendingARetry() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.askOnly(trials: 2))  // max_retries: 0
        _ = try answer(h.request(OptimizerRequest(op: "ask", study: id, leaseSeconds: 2, n: 2)))
        let beat = try answer(h.request(OptimizerRequest(op: "heartbeat", study: id, trials: [.init(trial: 1, attempt: 1)], started: true)))
        #expect(beat["renewed"] == .array([.number(1)]))
        h.advance(2.5)
        try h.tick()
        #expect(try h.trial(id, 1).state == .failed, "started: its one attempt is spent")
        let unstarted = try h.trial(id, 2)
        #expect(unstarted.state == .waiting && unstarted.note?.contains("never started") == true)
        let again = try answer(h.request(OptimizerRequest(op: "ask", study: id)))
        #expect(again["trial"] == .number(2) && again["attempt"] == .number(2), "a new attempt number: the old holder may wake up")
        h.advance(31)  // an ask without n hands out a started trial: this expiry spends the attempt
        try h.tick()
        #expect(try h.trial(id, 2).state == .failed)
    }

    @Test func aReleasedTrialIsHandedOutNextWithTheSameAttemptAndNoRetrySpent() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.askOnly(trials: 3))
        let first = handed(try answer(h.request(OptimizerRequest(op: "ask", study: id, n: 3))))
        let released = try answer(h.request(OptimizerRequest(op: "release", study: id, trials: [.init(trial: 2, attempt: 1), .init(trial: 3, attempt: 2)])))
        #expect(released["released"] == .array([.number(2)]))
        #expect(firstRefusal(released)?.contains("trial 3 attempt 2") == true)
        let stored = try h.trial(id, 2)
        #expect(stored.state == .waiting && stored.attempts == 0)
        let next = try answer(h.request(OptimizerRequest(op: "ask", study: id)))
        #expect(next["trial"] == .number(2) && next["attempt"] == .number(1) && next["config"] == first[1]["config"])
        #expect(try h.store.trials(study: id).count == 3, "handed out again, not inserted twice")
        let told = try answer(h.request(OptimizerRequest(op: "tell", study: id, trial: 2, value: 0.5, attempt: 1)))
        #expect(told["trial"]?.object?["state"] == .string("complete"))
    }

    @Test func aResentTellIsAnsweredAsTheFirstAndCountedOnce() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.askOnly(trials: 2))
        _ = try answer(h.request(OptimizerRequest(op: "ask", study: id, n: 2)))
        let tell = OptimizerRequest(op: "tell", study: id, trial: 1, value: 0.25, attempt: 1)
        #expect(try answer(h.request(tell))["duplicate"] == nil)
        let resent = try answer(h.request(tell))
        #expect(resent["duplicate"] == .bool(true) && resent["trial"]?.object?["value"] == .number(0.25))
        #expect(h.machine.driver(id)?.stateCounts[.complete] == 1)
        let other = try answer(h.request(OptimizerRequest(op: "tell", study: id, trial: 1, value: 0.5, attempt: 1)))
        #expect(other["error"]?.argument == "tell: trial 1 is already complete", "a different result is no resend")
        _ = try answer(h.request(OptimizerRequest(op: "tell", study: id, trial: 2, state: "failed", attempt: 1)))
        #expect(try h.store.study(id)?.state == .complete)
        // The study ended: a resend is answered from the committed store.
        let late = try h.request(OptimizerRequest(op: "tell", study: id, trial: 2, state: "failed", attempt: 1))
        let query = try #require(late.queries.first)
        let stored = try JSONValue(parsing: OptimizerQueries.answer(query, store: h.store))
        let fromStore = try #require(stored.object)
        #expect(fromStore["duplicate"] == .bool(true) && fromStore["trial"]?.object?["state"] == .string("failed"))
        let other2 = ReadQuery(request: 1, from: "cli", body: OptimizerRequest(op: "tell", study: id, trial: 2, value: 1, attempt: 1))
        let refusedBody = try JSONValue(parsing: OptimizerQueries.answer(other2, store: h.store))
        let refused = try #require(refusedBody.object)
        #expect(refused["finished"] == .string("complete") && refused["error"]?.argument.contains("takes no more results") == true)
    }
}
