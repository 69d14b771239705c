import Foundation
@testable import LoomModel
import LoomWire
import Testing

/// The repository's `Configs/examples/`, found from this file's path.
let examplesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Configs/examples")

/// The smallest valid spec, for tests that change one section.
let minimalSpec = """
    name: t
    metric: loss
    mode: min
    space:
      lr: {uniform: [0, 1]}
    trial:
      command: [python3, t.py]
    budget:
      max_trials: 1
    """

/// A spec with `space` replaced, for domain and condition tests.
func specText(space: String, searcher: String = "random", extra: String = "") -> String {
    """
    name: t
    metric: loss
    mode: min
    searcher: \(searcher)
    space:
    \(space.split(separator: "\n", omittingEmptySubsequences: false).map { "  \($0)" }.joined(separator: "\n"))
    trial:
      command: [python3, t.py]
    budget:
      max_trials: 10
    \(extra)
    """
}

func parse(_ text: String, file: String = "test.yaml") throws -> StudySpec {
    try SpecParser.parse(text, file: file)
}

/// The error parsing `text` fails with; records a test failure when it parses.
func parseError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> SpecError? {
    do {
        let spec = try SpecParser.parse(text, file: "test.yaml")
        Issue.record("expected an error, parsed \(spec.name)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

extension JSONValue {
    static func s(_ text: String) -> JSONValue { .string(text) }
    static func n(_ x: Double) -> JSONValue { .number(x) }
}
