import LoomModel
import LoomStore
import LoomWire
import Testing

/// The checkpoint index: idempotent records, newest-first order, keep-K pruning and which blobs
/// become garbage.
extension StoreContract {
    static func checkpoint(attempt: Int, seq: UInt64, trial: Int = 1, lease: UInt64 = 7, blobs: [String]) -> CheckpointRecord {
        CheckpointRecord(study: Fixture.study, trial: trial, attempt: attempt, lease: lease, seq: seq,
                         files: blobs.enumerated().map { CheckpointFile(path: "f\($0.offset)", sha256: $0.element, size: 10) },
                         createdAt: 1_700_000_000 + Double(seq))
    }

    static func index(_ store: any StudyStore) throws -> any CheckpointIndex {
        try #require(store as? any CheckpointIndex, "every store indexes checkpoints")
    }

    @Test(arguments: StoreKind.allCases)
    func checkpointsAreIdempotentAndReadNewestFirst(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store, trials: 1...2)
            let index = try Self.index(store)
            let a = Self.checkpoint(attempt: 1, seq: 4, blobs: ["a"])
            let b = Self.checkpoint(attempt: 2, seq: 2, lease: 9, blobs: ["b"])
            let c = Self.checkpoint(attempt: 1, seq: 6, blobs: ["c"])
            #expect(try index.recordCheckpoint(a))
            #expect(try index.recordCheckpoint(b))
            #expect(try index.recordCheckpoint(c))
            #expect(try !index.recordCheckpoint(a))
            #expect(try index.checkpoints(study: Fixture.study, trial: 1) == [b, c, a])
            #expect(try index.checkpoints(study: Fixture.study, trial: 2).isEmpty)
        }
    }

    /// Every store keeps the key of the worker that wrote a checkpoint (issue 16: provenance).
    @Test(arguments: StoreKind.allCases)
    func aCheckpointKeepsItsWriter(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let index = try Self.index(store)
            var written = Self.checkpoint(attempt: 1, seq: 1, blobs: ["a"])
            written.writer = "worker/gpu-01"
            let unknown = Self.checkpoint(attempt: 1, seq: 2, blobs: ["b"])
            #expect(try index.recordCheckpoint(written))
            #expect(try index.recordCheckpoint(unknown))
            #expect(try index.checkpoints(study: Fixture.study, trial: 1).map(\.writer) == [nil, "worker/gpu-01"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func checkpointOfUnknownTrialIsNotFound(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            #expect(throws: StoreError.notFound("trial \(Fixture.study)/4")) {
                try Self.index(store).recordCheckpoint(Self.checkpoint(attempt: 1, seq: 1, trial: 4, blobs: ["a"]))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func pruningKeepsTheNewestAndReturnsOnlyUnreferencedBlobs(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store, trials: 1...2)
            let index = try Self.index(store)
            // "shared" is in an old checkpoint of trial 1 and in trial 2's; "kept" stays in a new one.
            try index.recordCheckpoint(Self.checkpoint(attempt: 1, seq: 2, blobs: ["old", "shared", "kept"]))
            try index.recordCheckpoint(Self.checkpoint(attempt: 1, seq: 4, blobs: ["mid", "kept"]))
            try index.recordCheckpoint(Self.checkpoint(attempt: 1, seq: 6, blobs: ["new", "kept"]))
            try index.recordCheckpoint(Self.checkpoint(attempt: 1, seq: 2, trial: 2, blobs: ["shared"]))
            #expect(try index.pruneCheckpoints(study: Fixture.study, trial: 1, keep: 2) == ["old"])
            #expect(try index.checkpoints(study: Fixture.study, trial: 1).map(\.seq) == [6, 4])
            #expect(try index.isReferenced(blob: "shared"))
            #expect(try !index.isReferenced(blob: "old"))
            #expect(try index.pruneCheckpoints(study: Fixture.study, trial: 1, keep: 2).isEmpty, "nothing more to prune")
            #expect(try index.pruneCheckpoints(study: Fixture.study, trial: 1, keep: 1) == ["mid"])
            #expect(try index.pruneCheckpoints(study: Fixture.study, trial: 2, keep: 0) == ["shared"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keepingACheckpointRecordsItsReportAndPrunesAtOnce(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let index = try Self.index(store)
            func report(_ seq: UInt64) -> ReportRecord {
                ReportRecord(study: Fixture.study, trial: 1, attempt: 1, lease: 7, seq: seq, kind: "checkpoint",
                             metrics: .object(["step": .number(Double(seq))]), time: Double(seq))
            }
            #expect(try index.keepCheckpoint(Self.checkpoint(attempt: 1, seq: 2, blobs: ["a", "x"]), report: report(2), keep: 2).isEmpty)
            #expect(try index.keepCheckpoint(Self.checkpoint(attempt: 1, seq: 4, blobs: ["b", "x"]), report: report(4), keep: 2).isEmpty)
            #expect(try index.keepCheckpoint(Self.checkpoint(attempt: 1, seq: 6, blobs: ["c", "x"]), report: report(6), keep: 2) == ["a"])
            #expect(try index.checkpoints(study: Fixture.study, trial: 1).map(\.seq) == [6, 4])
            #expect(try store.reports(study: Fixture.study, trial: 1) == [report(2), report(4), report(6)], "reports stay")
        }
    }
}
