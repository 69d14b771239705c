@testable import LoomModel
import LoomWire
import Testing

@Suite struct DomainSpecTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let yaml: String
        let domain: Domain
        var testDescription: String { yaml }
    }

    static let cases: [Case] = [
        Case(yaml: "{uniform: [0.0, 0.99]}", domain: .uniform(low: 0, high: 0.99, q: nil)),
        Case(yaml: "{quniform: [-1, 1, 0.25]}", domain: .uniform(low: -1, high: 1, q: 0.25)),
        Case(yaml: "{loguniform: [1.0e-5, 0.1]}", domain: .logUniform(low: 1e-5, high: 0.1, q: nil)),
        Case(yaml: "{qloguniform: [1, 1000, 5]}", domain: .logUniform(low: 1, high: 1000, q: 5)),
        Case(yaml: "{randn: [0, 2.5]}", domain: .normal(mean: 0, sd: 2.5, q: nil)),
        Case(yaml: "{qrandn: [10, 3, 0.5]}", domain: .normal(mean: 10, sd: 3, q: 0.5)),
        Case(yaml: "{randint: [5, 11]}", domain: .randInt(low: 5, high: 11, q: nil)),
        Case(yaml: "{qrandint: [50, 500, 50]}", domain: .randInt(low: 50, high: 500, q: 50)),
        Case(yaml: "{lograndint: [1, 1024]}", domain: .logRandInt(low: 1, high: 1024)),
        Case(yaml: "{choice: [16, 32, 64]}", domain: .choice([.n(16), .n(32), .n(64)])),
        Case(yaml: "{choice: [relu, \"on\", true, null, [64, 64]]}",
             domain: .choice([.s("relu"), .s("on"), .bool(true), .null, .array([.n(64), .n(64)])])),
        Case(yaml: "{ordinal: [small, medium, large]}", domain: .ordinal([.s("small"), .s("medium"), .s("large")])),
        Case(yaml: "{constant: {layers: 2, act: tanh}}", domain: .constant(.object(["layers": .n(2), "act": .s("tanh")]))),
        Case(yaml: "{grid_search: [0.01, 0.1]}", domain: .grid([.n(0.01), .n(0.1)])),
        Case(yaml: "{grid: [a, b]}", domain: .grid([.s("a"), .s("b")])),
        Case(yaml: "7", domain: .constant(.n(7))),
        Case(yaml: "0.5", domain: .constant(.n(0.5))),
        Case(yaml: "adam", domain: .constant(.s("adam"))),
        Case(yaml: "\"42\"", domain: .constant(.s("42"))),
        Case(yaml: "yes", domain: .constant(.s("yes"))),
        Case(yaml: "false", domain: .constant(.bool(false))),
        Case(yaml: "1e-3", domain: .constant(.n(0.001))),
    ]

    @Test(arguments: cases)
    func eachDomainKindParsesToItsDomain(_ c: Case) throws {
        let spec = try parse(specText(space: "x: \(c.yaml)"))
        #expect(spec.space.parameters == [Parameter(name: "x", domain: c.domain)])
    }

    @Test(arguments: cases)
    func eachDomainRoundTripsThroughItsSpecDescription(_ c: Case) throws {
        let text = c.domain.specDescription
        let spec = try parse(specText(space: "x: \(text)"))
        #expect(spec.space.parameters.first?.domain == c.domain, "\(text)")
    }

    @Test func specDescriptionIsReadable() {
        #expect(Domain.logUniform(low: 0.001, high: 1, q: nil).specDescription == "{loguniform: [0.001, 1]}")
        #expect(Domain.randInt(low: 50, high: 500, q: 50).specDescription == "{qrandint: [50, 500, 50]}")
        #expect(Domain.choice([.s("sgd"), .n(2)]).specDescription == "{choice: [\"sgd\", 2]}")
        #expect(Domain.grid([.s("a")]).specKey == "grid_search")
    }

    @Test func integralFloatsAreAcceptedAsIntegerBounds() throws {
        let spec = try parse(specText(space: "x: {randint: [5.0, 11]}"))
        #expect(spec.space["x"]?.domain == .randInt(low: 5, high: 11, q: nil))
    }

    @Test func parametersKeepTheOrderWritten() throws {
        let spec = try parse(specText(space: "b: 1\na: 2\nc: {choice: [x]}"))
        #expect(spec.space.parameters.map(\.name) == ["b", "a", "c"])
    }
}
