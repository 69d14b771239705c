@testable import LoomFuzz
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
