import LoomClient
import LoomModel
@testable import LoomOptimizer
import LoomStore
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

    @Test func aViewerKeyReadsEveryStudyAndChangesNone() {
        for op in ["studies", "status", "trials", "export", "logs"] {
            #expect(throws: Never.self) { try StudyAccess.check(op, study: "theirs-1", requester: "viewer/dashboard", owner: owner) }
        }
        for op in ["submit", "cancel", "ask", "tell", "heartbeat", "release", "report"] {
            #expect(throws: RequestError.self) { try StudyAccess.check(op, study: "theirs-1", requester: "viewer/dashboard", owner: owner) }
            #expect(throws: RequestError.self) { try StudyAccess.check(op, study: nil, requester: "viewer/dashboard", owner: owner) }
        }
    }

    @Test func theStudyListShowsOnlyWhatTheKeyMaySee() {
        let records = ["mine-1", "theirs-1", "open-1"].map { id in
            StudyRecord(id: id, name: "s", specText: "", baseDirectory: "/", createdAt: 0, owner: owners[id] ?? nil)
        }
        #expect(StudyAccess.visible(records, requester: "client/alice").map(\.id) == ["mine-1", "open-1"])
        #expect(StudyAccess.visible(records, requester: "optimizer/admin").map(\.id) == ["mine-1", "theirs-1", "open-1"])
        #expect(StudyAccess.visible(records, requester: "viewer/dashboard").map(\.id) == ["mine-1", "theirs-1", "open-1"])
        #expect(StudyAccess.visible(records, requester: nil).map(\.id) == ["mine-1", "theirs-1", "open-1"])
    }
}

/// The same rules inside the optimizer's machine: the submitting key becomes the study's owner,
/// every request naming a study is checked against the machine's own records, and the read-only
/// `studies` listing carries the key to the service's query path.
@Suite struct OptimizerMachineStudyAccess {
    static func reply(_ actions: OptimizerActions) throws -> JSONValue {
        let body = try #require(actions.messages.compactMap { message -> Frame? in
            if case .respond(_, _, let body) = message { body } else { nil }
        }.first)
        return try JSONValue(parsing: body)
    }

    @Test func theSubmittingKeyOwnsTheStudyAndOnlyItOrAnOptimizerKeyMayActOnIt() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(), key: "client/alice")
        #expect(try h.store.study(id)?.owner == "client/alice", "stored with the study")
        for op in ["status", "cancel", "ask", "trials"] {
            let refused = try Self.reply(try h.request(OptimizerRequest(op: op, study: id), key: "client/bob"))
            #expect(refused.object?["error"]?.argument.contains("key client/bob may not act on study \(id)") == true, "\(op): \(refused)")
        }
        #expect(try h.store.study(id)?.state == .running, "bob's cancel changed nothing")
        #expect(h.cancelledJobs.isEmpty)
        let status = try Self.reply(try h.request(OptimizerRequest(op: "status", study: id), key: "client/alice"))
        #expect(status.object?["error"] == nil)
        // The admin role may cancel it; the answer is a read-only query after the commit.
        let cancel = try h.request(OptimizerRequest(op: "cancel", study: id), key: "optimizer/admin")
        #expect(cancel.queries.map(\.requester) == ["optimizer/admin"])
        #expect(try h.store.study(id)?.state == .cancelled)
    }

    @Test func anUnknownStudysErrorNamesOnlyTheStudiesTheKeyMaySee() throws {
        var h = try MachineHarness()
        let mine = try h.submit(MachineHarness.spec(), key: "client/alice")
        let theirs = try h.submit(MachineHarness.spec(), key: "client/bob")
        let error = try Self.reply(try h.request(OptimizerRequest(op: "status", study: "nope"), key: "client/alice")).object?["error"]?.argument
        #expect(error == "no study \"nope\"; known: \(mine)", "\(error ?? "no error")")
        let admin = try Self.reply(try h.request(OptimizerRequest(op: "status", study: "nope"), key: "optimizer/admin")).object?["error"]?.argument
        #expect(admin == "no study \"nope\"; known: \(mine), \(theirs)")
    }

    @Test func aRestartedMachineStillKnowsEachStudysOwner() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(), key: "client/alice")
        try h.restart()
        let refused = try Self.reply(try h.request(OptimizerRequest(op: "status", study: id), key: "client/bob"))
        #expect(refused.object?["error"] != nil)
    }

    @Test func withoutAuthenticationEveryStudyStaysOpen() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec())
        #expect(try h.store.study(id)?.owner == nil)
        let status = try Self.reply(try h.request(OptimizerRequest(op: "status", study: id), key: "client/bob"))
        #expect(status.object?["error"] == nil, "a study without an owner is open to every key")
    }

    @Test func theStudiesListingIsNarrowedToTheRequestersStudies() throws {
        var h = try MachineHarness()
        let mine = try h.submit(MachineHarness.spec(), key: "client/alice")
        let theirs = try h.submit(MachineHarness.spec(), key: "client/bob")
        let open = try h.submit(MachineHarness.spec())
        func listed(_ key: String?) throws -> [String] {
            let query = try #require(try h.request(OptimizerRequest(op: "studies"), key: key).queries.first)
            let document = try JSONValue(parsing: OptimizerQueries.answer(query, store: h.store))
            guard case .array(let list)? = document.object?["studies"] else { Issue.record("no list: \(document)"); return [] }
            return list.compactMap { $0.object?["id"]?.argument }
        }
        #expect(try listed("client/alice") == [mine, open])
        #expect(try listed("optimizer/admin") == [mine, theirs, open])
        #expect(try listed("viewer/dashboard") == [mine, theirs, open])
        #expect(try listed(nil) == [mine, theirs, open])
    }

    @Test func aViewerKeyReadsAnotherKeysStudyButCannotCancelIt() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(), key: "client/alice")
        let status = try Self.reply(try h.request(OptimizerRequest(op: "status", study: id), key: "viewer/dashboard"))
        #expect(status.object?["error"] == nil, "\(status)")
        let cancel = try Self.reply(try h.request(OptimizerRequest(op: "cancel", study: id), key: "viewer/dashboard"))
        #expect(cancel.object?["error"]?.argument.contains("key viewer/dashboard is a viewer: it may only read") == true, "\(cancel)")
        #expect(try h.store.study(id)?.state == .running)
        let submit = try Self.reply(try h.request(OptimizerRequest(op: "submit", spec: "name: x", baseDirectory: "/w"), key: "viewer/dashboard"))
        #expect(submit.object?["error"] != nil)
        #expect(h.machine.counters.refused["access"] == 2)
    }
}

/// Requests the optimizer refuses are counted by reason and logged (rate-limited) naming the
/// requester's key, the request and the reason (issue 16: refusals are visible).
@Suite struct OptimizerRefusalNotes {
    static func refusalNotes(_ actions: OptimizerActions) -> [OptimizerNote] {
        actions.notes.filter { $0.message == "message refused" }
    }

    @Test func anotherKeysStudyAMalformedRequestAndABadSpecAreCountedAndLogged() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(), key: "client/alice")
        let refused = try h.request(OptimizerRequest(op: "cancel", study: id), key: "client/bob")
        let note = try #require(Self.refusalNotes(refused).first)
        #expect(note.level == .warning)
        #expect(note.metadata["peer.key"] == "client/bob")
        #expect(note.metadata["message.kind"] == "cancel")
        #expect(note.metadata["refusal.reason"] == "access")
        #expect(note.metadata["refusal.detail"]?.contains("may not act on study \(id)") == true)
        try h.event(.request(request: 7, from: "cli", body: Array("[1]".utf8), key: "client/bob"))
        let bad = try h.request(OptimizerRequest(op: "submit", spec: "name: [unclosed", baseDirectory: "/w"), key: "client/bob")
        #expect(Self.refusalNotes(bad).first?.metadata["refusal.reason"] == "spec")
        #expect(h.machine.counters.refused == ["access": 1, "malformed": 1, "spec": 1])
        // An ordinary mistake of the owner (a study that is not running any more) is no refusal.
        try h.request(OptimizerRequest(op: "cancel", study: id), key: "client/alice")
        try h.request(OptimizerRequest(op: "cancel", study: id), key: "client/alice")
        #expect(h.machine.counters.refused.values.reduce(0, +) == 3)
    }

    @Test func aFloodOfRefusedRequestsLogsOnlyABurst() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(), key: "client/alice")
        var notes = 0
        for _ in 0..<50 { notes += Self.refusalNotes(try h.request(OptimizerRequest(op: "status", study: id), key: "client/bob")).count }
        #expect(notes == RefusalLog().burst)
        #expect(h.machine.counters.refused["access"] == 50)
    }
}
