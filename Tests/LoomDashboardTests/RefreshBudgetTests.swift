import Foundation
import LoomWire
import Testing
@testable import LoomDashboard

/// How often a changing study's costly answers are computed again (`RefreshBudget`), and the
/// model serving them from its cache meanwhile.
@Suite struct RefreshBudgetTests {
    let t0 = ContinuousClock.now

    @Test func aCheapAnswerIsDueAfterTheMinimumAndACostlyOneAfterItsCostOverTheShare() {
        let budget = RefreshBudget(minimum: .seconds(2), share: 0.02)
        #expect(budget.interval(cost: .milliseconds(10)) == .seconds(2))
        #expect(budget.interval(cost: .milliseconds(100)) == .seconds(5), "100 ms at most every 5 s: 2% of a core")
        #expect(!budget.isDue(computedAt: t0, cost: .milliseconds(100), now: t0 + .milliseconds(4_999)))
        #expect(budget.isDue(computedAt: t0, cost: .milliseconds(100), now: t0 + .seconds(5)))
        #expect(budget.isDue(computedAt: t0, cost: .milliseconds(10), now: t0 + .seconds(2)))
    }

    @Test func aCachedAnswerServesItsOwnVersionAlwaysAndANewerOneUntilDue() {
        let budget = RefreshBudget(minimum: .milliseconds(500), share: 0.02)
        let cached = DashboardModel.Cached(version: 7, at: t0, cost: .milliseconds(20), value: "view")
        #expect(cached.serves(version: 7, now: t0 + .seconds(3_600), budget: budget), "the study did not change")
        #expect(cached.serves(version: 8, now: t0 + .milliseconds(999), budget: budget), "changed, but 20 ms of work is due after 1 s")
        #expect(!cached.serves(version: 8, now: t0 + .seconds(1), budget: budget))
    }

    /// A study changing between two requests gets the cached view until it is due again.
    @Test func theModelServesAChangingStudysViewFromItsCacheUntilDue() throws {
        let model = DashboardModel(state: DashboardState(defaultMetric: "loss"))
        func finish(_ n: Int) {
            let ref = AttemptRef(job: "s/\(n)", attempt: 1, lease: UInt64(n))
            model.update { $0.apply(FeedEvent(seq: UInt64(n), event: .update(.final, ref, worker: "w", updateSeq: 1, backup: false),
                                              payload: Array(#"{"loss":\#(Double(n))}"#.utf8))) }
        }
        func total(at now: ContinuousClock.Instant) throws -> Double? {
            let answer = DashboardRoutes.respond(path: "/api/study", query: ["id": "s"], model: model, now: now)
            return try JSONValue(parsing: Array(answer.body)).object?["total"]?.double
        }
        finish(1)
        #expect(try total(at: t0) == 1)
        finish(2)
        #expect(try total(at: t0 + .milliseconds(100)) == 1, "computed 100 ms ago: served again")
        #expect(try total(at: t0 + .seconds(1)) == 2, "due after 500 ms")
    }
}
