import Testing
@testable import LoomBroker
import LoomWire

@Suite struct BrokerRoles {
    /// A broker that authenticates: w1 is a worker key, c1 a client key, o1 the optimizer's.
    func secured() -> BrokerHarness {
        var h = BrokerHarness()
        h.users = ["w1": "worker/w1", "c1": "client/alice", "o1": "optimizer/opt"]
        _ = h.machine.authorize(["worker/w1", "client/alice", "optimizer/opt"], now: h.now)
        return h
    }

    func error(_ actions: [BrokerAction]) -> String? {
        for case .send(_, let frames) in actions where frames.count == 3 && frames[1] == [Command.error.rawValue] {
            return String(decoding: frames[2], as: UTF8.self)
        }
        return nil
    }

    @Test func aWorkerKeyCannotSubmitOrCancel() {
        var h = secured()
        h.ready("w1")
        let submit = h.client("w1", .submit(request: 1, jobs: [JobSubmission(id: "j", payload: JobSpec(command: ["true"]).payload)]))
        #expect(error(submit)?.contains("role worker") == true && error(submit)?.contains("may not submit jobs") == true)
        let cancel = h.client("w1", .cancel(request: 2, jobs: ["j"]))
        #expect(error(cancel)?.contains("may not cancel jobs") == true)
        #expect(h.machine.counters.refused["role"] == 2)
    }

    @Test func aClientKeyCannotTakeJobsOrProvideTheOptimizerService() {
        var h = secured()
        let ready = h.ready("c1")
        #expect(error(ready)?.contains("may not speak as a worker") == true)
        let provide = h.client("c1", .hello(HelloInfo(client: "alice", name: "x", services: [ServiceName.optimizer])))
        #expect(error(provide)?.contains("may not provide services") == true)
        let optimizer = h.client("o1", .hello(HelloInfo(client: "opt", name: "optimizer", services: [ServiceName.optimizer])))
        #expect(error(optimizer) == nil)
    }

    @Test func aViewerKeyQueriesAndAsksTheOptimizerButChangesNothing() {
        var h = secured()
        h.users["v1"] = "viewer/dashboard"
        _ = h.machine.authorize(["worker/w1", "client/alice", "optimizer/opt", "viewer/dashboard"], now: h.now)
        #expect(error(h.client("v1", .hello(HelloInfo(client: "dash", name: "dashboard")))) == nil)
        #expect(error(h.client("v1", .query(request: 1, body: Array(#"{"what":"status"}"#.utf8)))) == nil)
        #expect(error(h.client("v1", .request(request: 2, service: ServiceName.optimizer, body: Array(#"{"op":"studies"}"#.utf8)))) == nil)
        let submit = h.client("v1", .submit(request: 3, jobs: [JobSubmission(id: "j", payload: JobSpec(command: ["true"]).payload)]))
        #expect(error(submit) == "key viewer/dashboard (role viewer) may not submit jobs; viewers only read")
        #expect(error(h.client("v1", .cancel(request: 4, jobs: ["j"])))?.contains("may not cancel jobs") == true)
        #expect(error(h.client("v1", .respond(request: 5, to: "alice", body: [])))?.contains("may not answer requests") == true)
        #expect(error(h.client("v1", .request(request: 6, service: "checkpoints", body: [])))?.contains("to the optimizer service only") == true)
        let provide = h.client("v1", .hello(HelloInfo(client: "dash", name: "x", services: [ServiceName.optimizer])))
        #expect(error(provide)?.contains("may not provide services") == true)
        #expect(error(h.ready("v1"))?.contains("may not speak as a worker") == true)
        #expect(h.machine.counters.refused["role"] == 6)
    }

    @Test func messagesWithoutAKeyAreRefusedWhenAuthenticationIsOn() {
        var h = secured()
        let actions = h.ready("stranger")
        #expect(error(actions) == "this broker requires a CURVE key")
        #expect(h.machine.counters.refused["unauthenticated"] == 1)
    }

    @Test func revokingAWorkersKeyRequeuesItsAttemptsAndRefusesItsMessages() throws {
        var h = secured()
        h.users["w2"] = "worker/w2"
        _ = h.machine.authorize(["worker/w1", "worker/w2", "client/alice"], now: h.now)
        h.ready("w1")
        h.hello("c1", id: "alice")
        let ref = try #require(BrokerHarness.assigned("w1", h.submit("c1", ["j1"])).first)
        h.ready("w2")
        let revoked = h.machine.authorize(["worker/w2", "client/alice"], now: h.now)
        #expect(BrokerHarness.topics(revoked).contains("worker/w1/lost"))
        #expect(BrokerHarness.assigned("w2", revoked).map(\.attempt) == [ref.attempt + 1])
        let late = h.update("w1", .final, ref, seq: 1)
        #expect(error(late)?.contains("no longer allowed") == true)
        #expect(BrokerHarness.delivered("c1", late).isEmpty)
    }
}

@Suite struct BrokerIdentities {
    @Test func anIdBelongsToTheKeyThatHoldsIt() {
        var h = BrokerHarness()
        h.users = ["w1": "worker/w1", "evil": "worker/evil", "o1": "optimizer/opt", "c1": "client/alice"]
        _ = h.machine.authorize(["worker/w1", "worker/evil", "optimizer/opt", "client/alice"], now: h.now)
        h.ready("w1")
        let steal = h.ready("evil", id: "w1")
        guard case .send(_, let frames)? = steal.first, frames.count == 3, frames[1] == [Command.error.rawValue] else {
            Issue.record("no ERROR for a stolen worker id")
            return
        }
        #expect(String(decoding: frames[2], as: UTF8.self) == "worker id w1 belongs to key worker/w1, not worker/evil")
        h.client("o1", .hello(HelloInfo(client: "optimizer", name: "optimizer", services: [ServiceName.optimizer])))
        let impostor = h.client("c1", .hello(HelloInfo(client: "optimizer", name: "me")))
        #expect(BrokerHarness.toClient("c1", impostor).contains { if case .error(let text) = $0 { text.contains("belongs to key optimizer/opt") } else { false } })
        #expect(h.machine.counters.refused["identity"] == 2)
    }

    @Test func aRevokedPeerIsToldToGoAtOnceAndAgainIfItSpeaks() throws {
        var h = BrokerHarness()
        h.users = ["w1": "worker/w1"]
        _ = h.machine.authorize(["worker/w1"], now: h.now)
        h.ready("w1")
        let cut = h.machine.authorize([], now: h.now)
        #expect(BrokerHarness.toWorker("w1", cut).contains(.disconnect(reason: DisconnectReason.revoked)))
        let again = h.worker("w1", .heartbeat)
        #expect(BrokerHarness.toWorker("w1", again).contains(.disconnect(reason: DisconnectReason.revoked)))
    }
}
