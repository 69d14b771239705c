@testable import LoomOptimizer
import LoomWire
import Testing

/// A client key acts only on the studies it submitted; an optimizer key on all (issue 16).
@Suite struct StudyAccessTests {
    let owners: [String: String?] = ["mine-1": "client/alice", "theirs-1": "client/bob", "open-1": nil]

    func owner(_ id: String) -> String?? { owners[id] }

    @Test func aClientKeyActsOnlyOnItsOwnStudies() throws {
        for op in ["status", "cancel", "tell", "ask", "export"] {
            #expect(throws: Never.self) { try StudyAccess.check(op, study: "mine-1", requester: "client/alice", owner: owner) }
            #expect(throws: RequestError.self) { try StudyAccess.check(op, study: "theirs-1", requester: "client/alice", owner: owner) }
        }
        // A study submitted without authentication, an unknown study (reported by the request), no study.
        #expect(throws: Never.self) { try StudyAccess.check("status", study: "open-1", requester: "client/alice", owner: owner) }
        #expect(throws: Never.self) { try StudyAccess.check("status", study: "nope", requester: "client/alice", owner: owner) }
        #expect(throws: Never.self) { try StudyAccess.check("studies", study: nil, requester: "client/alice", owner: owner) }
    }

    @Test func anOptimizerKeyAndAnUnauthenticatedBrokerActOnEveryStudy() {
        #expect(throws: Never.self) { try StudyAccess.check("cancel", study: "theirs-1", requester: "optimizer/admin", owner: owner) }
        #expect(throws: Never.self) { try StudyAccess.check("cancel", study: "theirs-1", requester: nil, owner: owner) }
    }

    @Test func theStudyListShowsOnlyWhatTheKeyMaySee() {
        let doc: JSONValue = .object(["studies": .array(["mine-1", "theirs-1", "open-1"].map { .object(["id": .string($0)]) }),
                                      "worker_events": .array([])])
        let visible = StudyAccess.visible(doc, requester: "client/alice", owner: owner)
        guard case .array(let list)? = visible.object?["studies"] else { Issue.record("no list"); return }
        let ids = list.compactMap { entry -> String? in if case .string(let id)? = entry.object?["id"] { id } else { nil } }
        #expect(ids == ["mine-1", "open-1"])
    }
}
