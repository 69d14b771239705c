@testable import LoomModel
import LoomWire
import Testing

/// Specs use YAML 1.2's core schema, so the YAML 1.1 surprises of PyYAML do not happen.
@Suite struct YAMLSchemaTests {
    @Test func yamlOneOneBooleansAndNumbersStayStrings() throws {
        let spec = try parse(specText(space: "flag: {choice: [on, off, yes, no, y, n]}\ntime: 1:30\nbig: 1_000\noct: 017"))
        #expect(spec.space["flag"]?.domain == .choice(["on", "off", "yes", "no", "y", "n"].map(JSONValue.string)))
        #expect(spec.space["time"]?.domain == .constant(.s("1:30")))
        #expect(spec.space["big"]?.domain == .constant(.s("1_000")))
        #expect(spec.space["oct"]?.domain == .constant(.n(17)))
    }

    @Test func numbersMayBeWrittenWithoutADecimalPoint() throws {
        let spec = try parse(specText(space: "lr: {loguniform: [1e-5, 1E-1]}\nx: {uniform: [.5, +2]}"))
        #expect(spec.space["lr"]?.domain == .logUniform(low: 1e-5, high: 0.1, q: nil))
        #expect(spec.space["x"]?.domain == .uniform(low: 0.5, high: 2, q: nil))
    }

    @Test func booleansAndNullsFollowTheCoreSchema() throws {
        let spec = try parse(specText(space: "a: {choice: [True, FALSE, ~]}\nb: {constant: null}"))
        #expect(spec.space["a"]?.domain == .choice([.bool(true), .bool(false), .null]))
        #expect(spec.space["b"]?.domain == .constant(.null))
        // `true` and `TRUE` are the same value.
        let error = try #require(parseError(specText(space: "a: {choice: [true, TRUE]}")))
        #expect(error.message.contains("duplicate value true"))
    }

    @Test func explicitTagsWin() throws {
        let spec = try parse(specText(space: "a: !!str 5\nb: {choice: [!!str true, true]}"))
        #expect(spec.space["a"]?.domain == .constant(.s("5")))
        #expect(spec.space["b"]?.domain == .choice([.s("true"), .bool(true)]))
    }

    @Test func anchorsAndAliasesAreResolved() throws {
        let spec = try parse(specText(space: "lr: &rate {loguniform: [0.001, 1]}\nlr2: *rate"))
        #expect(spec.space["lr2"]?.domain == .logUniform(low: 0.001, high: 1, q: nil))
    }

    @Test func mergeKeysAreNotSupported() throws {
        let error = try #require(parseError(specText(space: "base: &b {uniform: [0, 1]}\nx: {<<: *b}")))
        #expect(error.field == "space.x.<<")
        #expect(error.message.hasPrefix("unknown domain \"<<\""))
    }
}
