import Foundation
import LoomWire
import Testing

/// Per-study authorisation end to end (issue 16): an authenticated broker forwards each REQUEST
/// with the requester's key, and the optimizer's machine lets a client key act only on the
/// studies it submitted; an optimizer key is the admin role.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct StudyOwnership {
    static func cli(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Harness.run([Harness.binary.path] + arguments)
    }

    /// The ids a `status --json` listing shows.
    static func listed(_ output: String) -> [String] {
        guard let doc = try? JSONDecoder().decode(JSONValue.self, from: Data(output.utf8)),
              case .array(let studies)? = doc.object?["studies"] else { return ["not a listing: \(output)"] }
        return studies.compactMap { $0.object?["id"]?.argument }
    }

    @Test func aClientKeyActsOnlyOnTheStudiesItSubmitted() throws {
        let keys = try Security.Keys("owners", allowed: [("optimizer", "opt"), ("client", "alice"), ("client", "bob")])
        let (broker, endpoint, _) = try Harness.broker(extra: ["--keys", keys.dir])
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("owners.db").path
        try? FileManager.default.removeItem(atPath: store)
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store] + keys.flags("opt"))
        defer { optimizer.stop() }
        // No worker joins: the study's trials stay queued, which is all this needs.
        let spec = Harness.scratch.appendingPathComponent("owners.yaml")
        try """
            name: owned
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
            trial: {command: ["true"]}
            budget: {max_trials: 2, max_concurrent: 1}
            """.write(to: spec, atomically: true, encoding: .utf8)
        let alice = ["--broker", endpoint] + keys.flags("alice")
        let bob = ["--broker", endpoint] + keys.flags("bob")

        let submitted = try Self.cli(["submit", spec.path] + alice)
        #expect(submitted.status == 0, "\(submitted.output)\noptimizer:\n\(optimizer.output)")
        let study = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(study == "owned-1")

        let theirs = try Self.cli(["status", study] + bob)
        #expect(theirs.status != 0, "\(theirs.output)")
        #expect(theirs.output.contains("key client/bob may not act on study \(study)"), "\(theirs.output)")
        let cancel = try Self.cli(["cancel", study] + bob)
        #expect(cancel.status != 0, "\(cancel.output)")
        #expect(try Self.cli(["status", study] + alice).status == 0)
        #expect(Self.listed(try Self.cli(["status", "--json"] + bob).output) == [], "bob sees no study")
        #expect(Self.listed(try Self.cli(["status", "--json"] + alice).output) == [study])

        // The operator's optimizer key may act on every study.
        let admin = try Self.cli(["cancel", study, "--broker", endpoint] + keys.flags("opt"))
        #expect(admin.status == 0, "\(admin.output)")
        let ended = try Self.cli(["status", study, "--json"] + alice)
        let doc = try? JSONDecoder().decode(JSONValue.self, from: Data(ended.output.utf8))
        #expect(doc?.object?["state"] == .string("cancelled"), "\(ended.output)")
    }
}
