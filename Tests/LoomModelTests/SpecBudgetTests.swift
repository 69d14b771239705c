import Foundation
import LoomModel
import Testing

/// A spec's YAML is bounded before anything walks it: a 700-byte alias bomb is refused at once
/// with an error, not expanded (issue 16).
@Suite struct SpecBudgetTests {
    /// Ten levels of ten aliases each: 10^10 leaves once expanded, about 700 bytes of text.
    static let aliasBomb: String = {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1...10 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            lines.append("a\(level): &a\(level) [\(refs)]")
        }
        return """
            x-anchors:
            \(lines.map { "  " + $0 }.joined(separator: "\n"))
            name: t
            metric: loss
            mode: min
            space:
              lr: {uniform: [0, 1]}
            trial:
              command: [python3, t.py]
              config: {bomb: *a10}
            budget:
              max_trials: 1
            """
    }()

    @Test func anAliasBombIsRefusedWithAnErrorNamingTheBudget() {
        #expect(Self.aliasBomb.utf8.count < 1_000)
        let started = ContinuousClock.now
        do {
            _ = try SpecParser.parse(Self.aliasBomb, file: "bomb.yaml")
            Issue.record("the alias bomb parsed")
        } catch {
            #expect(error.field == "syntax")
            #expect(error.message.contains("more than \(SpecBudget.maxNodes) YAML nodes"))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func nestingBeyondTheDepthBudgetIsRefused() {
        let deep = String(repeating: "[", count: SpecBudget.maxDepth + 1) + String(repeating: "]", count: SpecBudget.maxDepth + 1)
        let text = minimalSpec.replacingOccurrences(of: "max_trials: 1", with: "max_trials: 1\n  x: \(deep)")
        #expect(throws: SpecError.self) { try SpecParser.parse(text, file: "deep.yaml") }
    }

    @Test func aModestAliasIsStillAllowed() throws {
        let text = minimalSpec.replacingOccurrences(of: "  lr: {uniform: [0, 1]}", with: "  lr: &u {uniform: [0, 1]}\n  lr2: *u")
        let spec = try SpecParser.parse(text, file: "ok.yaml")
        #expect(spec.space.parameters.count == 2)
    }
}

@Suite struct WorkerLabelsSpec {
    @Test func workerLabelsAreParsedAndChecked() throws {
        let text = minimalSpec.replacingOccurrences(of: "  command: [python3, t.py]", with: "  command: [python3, t.py]\n  worker_labels: [trusted, a100]")
        #expect(try SpecParser.parse(text, file: "t.yaml").trial.workerLabels == ["trusted", "a100"])
        let bad = minimalSpec.replacingOccurrences(of: "  command: [python3, t.py]", with: "  command: [python3, t.py]\n  worker_labels: trusted")
        #expect(throws: SpecError.self) { try SpecParser.parse(bad, file: "t.yaml") }
        let comma = minimalSpec.replacingOccurrences(of: "  command: [python3, t.py]", with: "  command: [python3, t.py]\n  worker_labels: [\"a,b\"]")
        #expect(throws: SpecError.self) { try SpecParser.parse(comma, file: "t.yaml") }
    }
}
