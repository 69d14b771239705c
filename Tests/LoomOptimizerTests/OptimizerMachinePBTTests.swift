import LoomClient
import LoomModel
@testable import LoomOptimizer
import LoomWire
import Testing

/// PBT's exploit through the machine: the worst trial restarts from a better trial's checkpoint.
@Suite struct OptimizerMachinePBT {
    static let spec = MachineHarness.spec(trials: 4, concurrent: 4,
                                          scheduler: "{type: pbt, resource: epoch, perturbation_interval: 2, max_t: 6, hyperparam_mutations: [x]}")

    /// Runs four trials to epoch 2 (trial 4 the worst); returns the study id and the exploited trial.
    static func exploit(_ h: inout MachineHarness) throws -> (study: String, trial: TrialRecord) {
        let id = try h.submit(spec)
        for n in 1...4 { try h.start("m-1/\(n)") }
        for epoch in 1...2 {
            for n in 1...4 {
                try h.event(.update(MachineHarness.update(.report, "m-1/\(n)", seq: UInt64(2 * epoch - 1),
                                                          .object(["epoch": .number(Double(epoch)), "loss": .number(Double(n) / Double(epoch)),
                                                                   "checkpoint": .bool(true)]))))
            }
        }
        let exploited = try (1...4).map { try h.trial(id, $0) }.filter { $0.restoreFrom != nil }
        let trial = try #require(exploited.first, "no trial was exploited")
        return (id, trial)
    }

    /// The stopped attempt's CHECKPOINT of its last line arrives after the exploit (the cancel
    /// crossed it): it is stored, but the restart still resumes from the donor's checkpoint.
    @Test func aLateCheckpointOfTheStoppedAttemptDoesNotUndoTheExploit() throws {
        var h = try MachineHarness()
        let (id, trial) = try Self.exploit(&h)
        let donor = try #require(trial.restoreFrom)
        #expect(trial.note?.hasPrefix("exploited trial") == true, "\(trial.note ?? "")")
        try h.event(.update(MachineHarness.update(.checkpoint, trial.jobID, seq: 4,
                                                  .object(["epoch": .number(2), "loss": .number(2)]))))
        #expect(try h.trial(id, trial.number).restoreFrom == donor)
        // The restarted attempt's own checkpoint is the trial's from then on.
        try h.start(trial.jobID, attempt: 2)
        try h.event(.update(MachineHarness.update(.checkpoint, trial.jobID, attempt: 2, seq: 2,
                                                  .object(["epoch": .number(3), "loss": .number(0.5)]))))
        #expect(try h.trial(id, trial.number).restoreFrom == nil)
    }
}
