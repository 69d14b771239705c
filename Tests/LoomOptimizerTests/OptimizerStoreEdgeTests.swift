import LoomClient
import LoomModel
@testable import LoomOptimizer
import LoomStore
import LoomWire
import Testing

/// The machine's edge to a store: one batch per turn, best-effort writes, and a rebuild that
/// gives back the machine the writes describe.
@Suite struct OptimizerStoreEdge {
    @Test func aTurnCommitsAllItsWritesOrNoneAndBestEffortWritesMayFailAlone() throws {
        let store = InMemoryStore()
        let study = StudyRecord(id: "s-1", name: "s", specText: "", baseDirectory: "/", createdAt: 0)
        let orphanLine = LogLineRecord(study: "s-1", trial: 9, attempt: 1, stream: "stdout", line: 1, text: "x", feedSeq: 1)
        let (_, skipped) = try StoreWrite.commit([.createStudy(study), .recordLogLines([orphanLine]),
                                                  .insertTrial(TrialRecord(study: "s-1", number: 1, config: [:], createdAt: 0))], to: store)
        #expect(skipped == ["not found: trial s-1/9"])
        #expect(try store.trials(study: "s-1").count == 1)
        #expect(throws: StoreError.self) {
            try StoreWrite.commit([.insertTrial(TrialRecord(study: "s-1", number: 2, config: [:], createdAt: 0)),
                                   .updateTrial(TrialRecord(study: "s-1", number: 5, config: [:], createdAt: 0))], to: store)
        }
        #expect(try store.trials(study: "s-1").map(\.number) == [1], "the failed turn's insert was rolled back")
    }

    @Test func aRebuiltMachineAnswersAsTheOneThatWroteTheStore() throws {
        var h = try MachineHarness()
        let id = try h.submit(MachineHarness.spec(trials: 4, concurrent: 2))
        try h.start("\(id)/1")
        try h.report("\(id)/1", seq: 1, ["loss": 0.7])
        try h.final("\(id)/2", seq: 1, ["loss": 0.2])
        let before = h.machine.driver(id)?.trials
        try h.restart()
        #expect(h.machine.driver(id)?.trials == before)
        #expect(h.machine.studyRecords.map(\.id) == [id])
    }

    @Test func messagesGoThroughAClientStateMachineAsTheServiceSendsThem() throws {
        let t0 = ContinuousClock.now
        var client = ClientStateMachine(config: ClientConfig(clientID: "optimizer", name: "optimizer"), now: t0)
        _ = client.start(now: t0)
        let job = JobSubmission(id: "s-1/1", payload: JobSpec(command: ["t"]).payload)
        #expect(OptimizerMessage.submit([job]).send(through: &client, now: t0).count == 1)
        #expect(client.outstandingCount == 1)
        #expect(OptimizerMessage.cancel(jobs: ["s-1/1"], reason: "pruned").send(through: &client, now: t0).count == 1)
        #expect(client.outstandingCount == 0, "a cancelled job is no longer waited for")
    }
}
