import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// The optimizer's ask/heartbeat/report/tell glue on a manual clock: what a Python client sees.
@Suite struct OptimizerMachineAskTests {
    static let askOnly = """
        name: a
        metric: loss
        mode: min
        space: {x: {uniform: [0.0, 1.0]}}
        scheduler: {type: asha, resource: epoch, max_t: 9, grace_period: 1}
        trial: {max_retries: 1}
        budget: {max_trials: 1}
        """

    /// The answer of the turn's RESPOND.
    func answer(_ actions: OptimizerActions) throws -> [String: JSONValue] {
        let body = try #require(actions.messages.compactMap { message -> Frame? in
            if case .respond(_, _, let body) = message { body } else { nil }
        }.first)
        return try #require(try JSONValue(parsing: body).object)
    }

    @Test func anExpiredLeaseHandsTheSameTrialToTheNextAskAndRefusesTheOldAttempt() throws {
        var h = try MachineHarness()
        let id = try h.submit(Self.askOnly)
        #expect(h.submittedJobs.isEmpty, "an ask-only study runs no job")
        let first = try answer(h.request(OptimizerRequest(op: "ask", study: id, leaseSeconds: 2)))
        #expect(first["trial"] == .number(1) && first["attempt"] == .number(1) && first["lease_s"] == .number(2))
        let waiting = try answer(h.request(OptimizerRequest(op: "ask", study: id)))
        #expect(waiting["retry_after"] == .number(2) && waiting["error"]?.argument.contains("held by other clients") == true)
        h.advance(1.5)
        let beat = try answer(h.request(OptimizerRequest(op: "heartbeat", study: id, trials: [.init(trial: 1, attempt: 1)])))
        #expect(beat["renewed"] == .array([.number(1)]))
        let report = try answer(h.request(OptimizerRequest(op: "report", study: id, trial: 1, value: 0.5, attempt: 1, step: 1)))
        #expect(report["should_prune"] == .bool(false))
        #expect(try h.store.reports(study: id, trial: 1).map(\.metrics) == [.object(["loss": .number(0.5), "epoch": .number(1)])])
        h.advance(2.5)
        try h.tick()
        #expect(try h.trial(id, 1).state == .waiting, "stored: its lease ran out at 3.5 s")
        let second = try answer(h.request(OptimizerRequest(op: "ask", study: id)))
        #expect(second["trial"] == .number(1) && second["attempt"] == .number(2) && second["config"] == first["config"])
        let late = try answer(h.request(OptimizerRequest(op: "tell", study: id, trial: 1, value: 0.1, attempt: 1)))
        #expect(late["error"]?.argument.contains("its lease expired and the trial was handed out again (attempt 2)") == true)
        let told = try answer(h.request(OptimizerRequest(op: "tell", study: id, trial: 1, value: 0.2, attempt: 2)))
        #expect(told["trial"]?.object?["state"] == .string("complete") && told["trial"]?.object?["attempts"] == .number(2))
        #expect(try h.store.study(id)?.state == .complete)
        let done = try answer(h.request(OptimizerRequest(op: "ask", study: id)))
        #expect(done["finished"] == .string("complete"))
    }
}
