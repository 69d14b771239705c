import Foundation
import Testing
@testable import LoomWire

/// The fast writer gives byte for byte the text of Foundation's sorted-keys encoder, so stored
/// configs and job payloads do not change with it; the hand-written ASSIGN decoder names what is
/// wrong.
@Suite struct JSONWriting {
    /// Foundation's text, as `JSONCoding.encode` made it before the writer.
    static func foundation(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    static let samples: [JSONValue] = [
        .null, .bool(true), .bool(false), .number(0), .number(-0.0), .number(1), .number(-3), .number(0.1), .number(1.0 / 3),
        .number(1e15), .number(1e16), .number(1e20), .number(1e-7), .number(2.5e-5), .number(.leastNonzeroMagnitude),
        .number(1.7976931348623157e308), .number(12345.678), .number(123456789012345680),
        .string(""), .string("a/b \"quoted\" back\\slash"), .string("\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é 😀 \u{2028}"),
        .array([]), .array([.number(1), .string("x"), .null, .array([.bool(true)])]),
        .object([:]),
        .object(["b": .number(1), "a": .number(2), "B": .number(3), "é": .number(4), "e\u{301}x": .number(5), "f": .number(6),
                 "a10": .number(7), "a9": .number(8), "a_": .number(9), "lr": .object(["z": .null, "y": .array([])])]),
    ]

    @Test(arguments: samples) func theWriterGivesFoundationsText(value: JSONValue) throws {
        let written = try #require(value.jsonBytes)
        #expect(String(decoding: written, as: UTF8.self) == Self.foundation(value))
        #expect(try JSONValue(parsing: written) == value, "reads back equal")
    }

    @Test func nonFiniteNumbersAreRefused() {
        #expect(JSONValue.number(.nan).jsonBytes == nil)
        #expect(JSONValue.array([.number(.infinity)]).jsonBytes == nil)
        #expect(JSONValue.object(["x": .number(-.infinity)]).jsonBytes == nil)
        #expect(JSONCoding.encode(JSONValue.number(.nan)) == Array("{}".utf8), "as Foundation's encoder failing did")
    }

    @Test func jobPayloadsAreFoundationsText() throws {
        let specs = [
            JobSpec(command: ["t"]),
            JobSpec(command: ["python3", "train.py", "--lr={lr}"], config: ["lr": .number(0.01), "opt": .string("sgd")],
                    env: ["A": "1", "PATH": "/bin"], cwd: "/work/a b", timeoutS: 60, gpu: 0.5, budget: 9, restoreFrom: "s-1/4"),
        ]
        for spec in specs {
            #expect(String(decoding: spec.payload, as: UTF8.self) == Self.foundation(spec))
            #expect(try JobSpec.decode(spec.payload) == spec)
        }
    }

    @Test func assignDecodingNamesWhatIsWrong() throws {
        func reason(_ text: String) -> String {
            do {
                _ = try JobSpec.decode(Array(text.utf8))
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(reason("[1]").contains("expected an object at top level"))
        #expect(reason("{").contains("invalid JSON at byte"))
        #expect(reason(#"{"config":{}}"#).contains(#"missing key "command""#))
        #expect(reason(#"{"command":["t", 1]}"#).contains("expected an array of strings at command"))
        #expect(reason(#"{"command":["t"],"env":{"A":1}}"#).contains("expected a string at env.A"))
        #expect(reason(#"{"command":["t"],"timeout_s":"5"}"#).contains("expected a number at timeout_s"))
        #expect(reason(#"{"command":["t"],"cwd":3}"#).contains("expected a string at cwd"))
        let nulls = try JobSpec.decode(Array(#"{"command":["t"],"config":null,"cwd":null,"budget":null}"#.utf8))
        #expect(nulls == JobSpec(command: ["t"]), "null is absent, as Foundation's decodeIfPresent reads it")
    }
}
