import LoomModel
import LoomStore
import LoomWire
import Testing

/// Configs and metrics read back exactly as written; what JSON cannot hold is refused, not mangled.
extension StoreContract {
    /// Configs a searcher can produce, and some it should not but a store must still keep intact.
    static let configs: [Config] = [
        [:],
        // Integers stay integers, at the edges of what a Double holds exactly.
        ["layers": .number(3), "zero": .number(0), "negative": .number(-42), "big": .number(9_007_199_254_740_992)],
        // Floats that need every digit, and the extremes.
        ["lr": .number(0.1), "tiny": .number(.leastNonzeroMagnitude), "huge": .number(.greatestFiniteMagnitude),
         "third": .number(1.0 / 3.0), "negative_zero": .number(-0.0)],
        // Unicode keys and values, escapes, slashes.
        ["optimiser": .string("adamw"), "name": .string("résumé β 🧪 \u{65}\u{301}"), "ключ": .string("значение"),
         "quote\"d": .string("tab\tnewline\nslash/back\\slash"), "": .string("")],
        // Nested objects and arrays, bools and null.
        ["schedule": .object(["kind": .string("cosine"), "warmup": .object(["steps": .number(500)]),
                              "milestones": .array([.number(10), .number(20), .array([]), .object([:])])]),
         "dropout": .null, "nesterov": .bool(true), "amsgrad": .bool(false)],
        // A conditional parameter that is inactive is absent, which is not the same as null.
        ["optimizer": .string("sgd"), "momentum": .number(0.9)],
        ["optimizer": .string("adam")],
    ]

    @Test(arguments: StoreKind.allCases)
    func configsAndMetricsRoundTripExactly(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            for (index, config) in Self.configs.enumerated() {
                var trial = Fixture.trial(index + 1, config: config)
                trial.metrics = .object(config)
                try store.insertTrial(trial)
            }
            let stored = try store.trials(study: Fixture.study)
            #expect(stored.map(\.config) == Self.configs)
            #expect(stored.map(\.metrics) == Self.configs.map { .object($0) })
            #expect(stored.last?.config["momentum"] == nil)
            #expect(stored[4].config["dropout"] == .null)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func absentMetricsDifferFromNullMetrics(kind: StoreKind) throws {
        try kind.withStore { store in
            try store.createStudy(Fixture.studyRecord())
            var withNull = Fixture.trial(2)
            withNull.metrics = .null
            try store.insertTrial(Fixture.trial(1))
            try store.insertTrial(withNull)
            #expect(try store.trials(study: Fixture.study).map(\.metrics) == [nil, .null])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func integersAreNotReadBackAsBools(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            try store.recordReport(Fixture.report(seq: 1, metrics: .array([.number(1), .number(0), .bool(true)])))
            #expect(try store.reports(study: Fixture.study, trial: 1).map(\.metrics)
                    == [.array([.number(1), .number(0), .bool(true)])])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func numbersJSONCannotHoldAreRefusedAndNothingIsWritten(kind: StoreKind) throws {
        try kind.withStore { store in
            try Fixture.seed(store)
            let infinite = Fixture.trial(2, config: ["lr": .number(.infinity)])
            #expect(throws: StoreError.database(
                "insertTrial(trial \(Fixture.study)/2): config holds a number JSON cannot store (NaN or infinity)")) {
                try store.insertTrial(infinite)
            }
            var nanMetrics = Fixture.trial(1)
            nanMetrics.metrics = .object(["loss": .number(.nan)])
            #expect(throws: StoreError.self) { try store.updateTrial(nanMetrics) }
            var nanValue = Fixture.trial(1, state: .complete)
            nanValue.value = .nan
            #expect(throws: StoreError.self) { try store.recordResult(trial: nanValue, attempt: nil) }
            #expect(throws: StoreError.self) {
                try store.recordReport(Fixture.report(seq: 1, metrics: .object(["loss": .number(-.infinity)])))
            }
            #expect(try store.trials(study: Fixture.study) == [Fixture.trial(1)])
            #expect(try store.reports(study: Fixture.study, trial: 1).isEmpty)
        }
    }
}
