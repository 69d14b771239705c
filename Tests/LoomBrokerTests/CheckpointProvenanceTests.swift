import Foundation
import Testing
@testable import LoomBroker
import LoomWire

/// The broker relays each CHECKPOINT with the key of the worker that sent it, so the optimizer
/// records who wrote each checkpoint (issue 16: checkpoint provenance).
@Suite struct CheckpointProvenance {
    static func relayedCheckpoint(_ actions: [BrokerAction]) -> Update? {
        BrokerHarness.toClient("o", actions).compactMap { if case .update(let u) = $0, u.kind == .checkpoint { u } else { nil } }.first
    }

    @Test func aCheckpointReachesTheOwnerWithItsWritersKey() throws {
        var h = BrokerHarness()
        _ = h.machine.authorize(["worker/gpu-01", "client/alice"], now: h.now)
        h.users["w"] = "worker/gpu-01"
        h.users["o"] = "client/alice"
        h.hello("o", id: "o")
        h.ready("w")
        let ref = try #require(BrokerHarness.assigned("w", h.submit("o", ["a/1"])).first)
        let relayed = try #require(Self.relayedCheckpoint(h.update("w", .checkpoint, ref, seq: 1)))
        #expect(relayed.writer == "worker/gpu-01")
        // A report carries none: only checkpoints are files another attempt may load.
        #expect(BrokerHarness.delivered("o", h.update("w", .report, ref, seq: 2)).first?.writer == nil)
    }

    @Test func withoutKeysTheWriterIsTheWorkerID() throws {
        var h = BrokerHarness()
        h.hello("o", id: "o")
        h.ready("w", id: "node-7")
        let ref = try #require(BrokerHarness.assigned("w", h.submit("o", ["a/1"])).first)
        #expect(Self.relayedCheckpoint(h.update("w", .checkpoint, ref, seq: 1))?.writer == "worker-id:node-7")
    }
}
