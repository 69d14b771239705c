import Foundation
import LoomFuzz
import Testing

/// Every input of the fuzz corpus (`Tests/Fuzz/corpus/<target>/`: the seeds, and every crash
/// fuzzing found, kept as a regression) runs through its target without breaking an invariant.
@Suite struct FuzzCorpus {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus").path

    @Test(arguments: FuzzTarget.allCases)
    func everyCorpusInputPasses(_ target: FuzzTarget) throws {
        let folder = Self.corpus + "/" + target.rawValue
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names.count >= target.seeds.count, "the corpus holds the seeds (hyperloom-fuzz seeds Tests/Fuzz/corpus)")
        for name in names {
            let data = try #require(FileManager.default.contents(atPath: folder + "/" + name))
            #expect(throws: Never.self, "\(target.rawValue)/\(name)") { try target.run(Array(data)) }
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func seedsPass(_ target: FuzzTarget) {
        for seed in target.seeds {
            #expect(throws: Never.self) { try target.run(seed) }
        }
    }
}
