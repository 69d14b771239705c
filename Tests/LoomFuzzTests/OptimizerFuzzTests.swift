@testable import LoomFuzz
import LoomModel
import LoomOptimizer
import LoomWire
import Testing

/// The optimizer target's seeds go past the front door: each creates a study, keeps a
/// checkpoint and records a result, so mutations of them explore the machine's depths.
@Suite struct OptimizerFuzzSeeds {
    @Test func everySeedStoresACheckpointAndAResult() throws {
        for (i, seed) in OptimizerFuzz.seeds.enumerated() {
            let reach = try OptimizerFuzz.run(seed)
            #expect(reach.studies == 1, "seed \(i)")
            #expect(reach.checkpoints >= 1, "seed \(i)")
            #expect(reach.results >= 1, "seed \(i)")
        }
    }

    @Test func aCutInputStopsWhereItEnds() throws {
        let seed = try #require(OptimizerFuzz.seeds.first)
        #expect(try OptimizerFuzz.run(Array(seed.prefix(7))) == OptimizerFuzz.Reach(studies: 1, results: 0, checkpoints: 0))
        #expect(try OptimizerFuzz.run([]) == OptimizerFuzz.Reach())
    }
}

/// The optimizer target's checks can fail: actions a broken machine could emit are caught.
@Suite struct OptimizerFuzzChecks {
    static func update(_ seq: UInt64) -> Update {
        Update(kind: .report, attempt: AttemptRef(job: "f-1/1", attempt: 1, lease: 10), seq: seq, payload: Array("{}".utf8))
    }

    @Test func anAckOfAnUpdateNeverDeliveredIsCaught() throws {
        var world = OptimizerFuzz.World()
        var actions = OptimizerActions()
        actions.messages = [.acknowledge(Self.update(1))]
        #expect(throws: FuzzFailure.self) { try world.apply(actions, step: "test") }
        world.delivered.insert("f-1/1|10|1")
        #expect(throws: Never.self) { try world.apply(actions, step: "test") }
    }

    @Test func aRespondToARequestNeverMadeAndAnEmptySubmitAreCaught() {
        var world = OptimizerFuzz.World()
        var respond = OptimizerActions()
        respond.messages = [.respond(request: 9, to: "a", body: Array("{}".utf8))]
        #expect(throws: FuzzFailure.self) { try world.apply(respond, step: "test") }
        var submit = OptimizerActions()
        submit.messages = [.submit([])]
        #expect(throws: FuzzFailure.self) { try world.apply(submit, step: "test") }
    }

    @Test func aResultWrittenTwiceIsCaught() throws {
        var world = OptimizerFuzz.World()
        var trial = TrialRecord(study: "x-1", number: 1, config: [:], createdAt: 0)
        var created = OptimizerActions()
        created.writes = [.createStudy(StudyRecord(id: "x-1", name: "x", specText: OptimizerFuzz.specs[0], baseDirectory: "/", createdAt: 0)),
                          .insertTrial(trial)]
        try world.apply(created, step: "created")
        trial.state = .complete
        trial.value = 1
        var result = OptimizerActions()
        result.writes = [.recordResult(trial, nil)]
        try world.apply(result, step: "result")
        #expect(throws: FuzzFailure.self) { try world.apply(result, step: "again") }
    }
}
