import Foundation
import LoomWire
import Testing

@Suite struct JSONParsing {
    /// Every document Foundation's decoder reads, ours reads to the same value.
    @Test(arguments: [
        #"{"loss": 0.25, "epoch": 3, "checkpoint": true, "tags": ["a", "b"], "none": null}"#,
        #"[1, -2.5e-3, 0, -0, 1E+2, 12345678901234567890]"#,
        #"  "plain"  "#,
        #"{"nested": {"deeper": [{"x": [[], {}]}]}}"#,
        #""escapes: \" \\ \/ \b \f \n \r \t \u00e9 \u20AC \ud83d\ude00""#,
        #"{"unicode": "héllo wörld ✓"}"#,
        "true", "false", "null", "0.1", "-7",
    ])
    func readsWhatFoundationReads(text: String) throws {
        let ours = try JSONValue(parsing: text)
        let theirs = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == theirs)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try JSONValue(parsing: #""a\u00e9\ud83d\ude00\n""#) == .string("aé😀\n"))
    }

    /// Each malformed text fails with a message that says what and where.
    @Test(arguments: [
        ("", "expected a value"),
        ("{", "expected a member name"),
        (#"{"a" 1}"#, "expected ':'"),
        (#"{"a": 1,}"#, "expected a member name"),
        ("[1 2]", "expected ',' or ']'"),
        ("[1,]", "unexpected character ']'"),
        ("01", "unexpected text after"),
        ("1.", "expected a digit after '.'"),
        ("1e", "expected a digit in the exponent"),
        ("-", "expected a digit"),
        ("1e999", "out of range"),
        (#""abc"#, "unterminated string"),
        ("\"a\u{01}b\"", "control character"),
        (#""\x""#, "invalid escape"),
        (#""\u12G4""#, "four hex digits"),
        (#""\ud83d""#, "high surrogate"),
        (#""\ude00""#, "lone low surrogate"),
        ("tru", "expected true"),
        ("nul", "expected null"),
        ("{} {}", "unexpected text after"),
        ("'single'", "unexpected character"),
    ])
    func rejectsMalformedText(text: String, expected: String) {
        do {
            let value = try JSONValue(parsing: text)
            Issue.record("parsed \(text) as \(value)")
        } catch {
            #expect(error.description.contains(expected), "\(text): \(error.description)")
        }
    }

    @Test func rejectsInvalidUTF8InStrings() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func refusesNestingDeeperThanTheLimitWithoutCrashing() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: deep) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(try JSONValue(parsing: fine) != .null)
    }

    @Test func theLastOfDuplicateMembersWins() throws {
        #expect(try JSONValue(parsing: #"{"a": 1, "a": 2}"#) == .object(["a": .number(2)]))
    }
}
