@testable import LoomModel
import LoomWire
import Testing

@Suite struct ConditionalSpaceTests {
    @Test func whenMakesAParameterDependOnAnEarlierChoice() throws {
        let spec = try parse(specText(space: """
            optimizer: {choice: [sgd, adam, rmsprop]}
            momentum: {uniform: [0.0, 0.99], when: {optimizer: sgd}}
            eps: {loguniform: [1.0e-8, 1.0e-4], when: {optimizer: [adam, rmsprop]}}
            """))
        #expect(spec.space.parameters == [
            Parameter(name: "optimizer", domain: .choice([.s("sgd"), .s("adam"), .s("rmsprop")])),
            Parameter(name: "momentum", domain: .uniform(low: 0, high: 0.99, q: nil),
                      condition: Condition(parent: "optimizer", values: [.s("sgd")])),
            Parameter(name: "eps", domain: .logUniform(low: 1e-8, high: 1e-4, q: nil),
                      condition: Condition(parent: "optimizer", values: [.s("adam"), .s("rmsprop")])),
        ])
    }

    @Test func conditionValuesMatchNumbersAndBooleansByValue() throws {
        let spec = try parse(specText(space: """
            layers: {choice: [1, 2, 3]}
            width2: {randint: [8, 65], when: {layers: [2, 3]}}
            bn: {choice: [true, false]}
            bn_momentum: {uniform: [0.9, 0.999], when: {bn: true}}
            """))
        #expect(spec.space["width2"]?.condition == Condition(parent: "layers", values: [.n(2), .n(3)]))
        #expect(spec.space["bn_momentum"]?.condition == Condition(parent: "bn", values: [.bool(true)]))
    }

    @Test func nestedChoiceBecomesAChoiceFollowedByPrefixedConditionalParameters() throws {
        let spec = try parse(specText(space: """
            classifier: {choice: {svm: {C: {loguniform: [0.01, 100]}, kernel: {choice: [rbf, linear]}}, knn: {n_neighbors: {randint: [1, 50]}}, dummy: {}}}
            """))
        #expect(spec.space.parameters == [
            Parameter(name: "classifier", domain: .choice([.s("svm"), .s("knn"), .s("dummy")])),
            Parameter(name: "svm.C", domain: .logUniform(low: 0.01, high: 100, q: nil),
                      condition: Condition(parent: "classifier", values: [.s("svm")])),
            Parameter(name: "svm.kernel", domain: .choice([.s("rbf"), .s("linear")]),
                      condition: Condition(parent: "classifier", values: [.s("svm")])),
            Parameter(name: "knn.n_neighbors", domain: .randInt(low: 1, high: 50, q: nil),
                      condition: Condition(parent: "classifier", values: [.s("knn")])),
        ])
    }

    @Test func nestedChoicesRecurseAndPrefixEachLevel() throws {
        let spec = try parse(specText(space: """
            model:
              choice:
                svm:
                  kernel:
                    choice:
                      rbf: {gamma: {loguniform: [1.0e-4, 1]}}
                      poly: {degree: {randint: [2, 6]}}
                      linear: ~
                tree: {depth: {randint: [1, 10]}}
            """))
        #expect(spec.space.parameters.map(\.name) == ["model", "svm.kernel", "svm.rbf.gamma", "svm.poly.degree", "tree.depth"])
        #expect(spec.space["svm.kernel"]?.condition == Condition(parent: "model", values: [.s("svm")]))
        #expect(spec.space["svm.rbf.gamma"]?.condition == Condition(parent: "svm.kernel", values: [.s("rbf")]))
        #expect(spec.space["svm.poly.degree"]?.condition == Condition(parent: "svm.kernel", values: [.s("poly")]))
        // Activity is transitive: an inactive parent is absent, so its children are inactive.
        let gamma = try #require(spec.space["svm.rbf.gamma"])
        #expect(!spec.space.isActive(gamma, in: ["model": .s("tree"), "tree.depth": .n(3)]))
    }

    @Test func whenInsideAnOptionNamesASiblingOfThatOption() throws {
        let spec = try parse(specText(space: """
            classifier:
              choice:
                svm:
                  kernel: {choice: [rbf, linear]}
                  gamma: {loguniform: [1.0e-4, 1.0], when: {kernel: rbf}}
                knn: {k: {randint: [1, 9]}}
            """))
        #expect(spec.space["svm.gamma"]?.condition == Condition(parent: "svm.kernel", values: [.s("rbf")]))
    }

    @Test func nestedGridSearchEnumeratesItsOptions() throws {
        let spec = try parse(specText(space: "model: {grid_search: {a: {x: {uniform: [0, 1]}}, b: ~}}", searcher: "grid"))
        #expect(spec.space["model"]?.domain == .grid([.s("a"), .s("b")]))
        #expect(spec.space["a.x"]?.condition == Condition(parent: "model", values: [.s("a")]))
        #expect(SpecParser.gridSize(of: spec.space) == 2)
    }

    @Test func gridCrossesGridSearchValuesAndSamplesTheRest() throws {
        let space = try parse(specText(space: """
            lr: {grid_search: [0.01, 0.1, 1]}
            optimizer: {grid_search: [sgd, adam]}
            momentum: {grid_search: [0.9, 0.99], when: {optimizer: sgd}}
            batch: {choice: [16, 32]}
            width: {grid_search: [64, 128], when: {batch: 32}}
            l2: {loguniform: [1.0e-5, 1]}
            """, searcher: "grid")).space
        // 3 learning rates × (adam + sgd × 2 momenta); batch and l2 are sampled, and width
        // depends on a sampled parameter, so it is sampled too.
        #expect(SpecParser.gridSize(of: space) == 9)
    }

    @Test func pointsToEvaluateMayLeaveOutConstantsAndInactiveParameters() throws {
        let spec = try parse(specText(space: """
            optimizer: {choice: [sgd, adam]}
            momentum: {uniform: [0, 1], when: {optimizer: sgd}}
            seed: 7
            """, extra: """
            points_to_evaluate:
              - {optimizer: adam}
              - {optimizer: sgd, momentum: 0.9, seed: 7}
            """))
        #expect(spec.pointsToEvaluate == [
            ["optimizer": .s("adam"), "seed": .n(7)],
            ["optimizer": .s("sgd"), "momentum": .n(0.9), "seed": .n(7)],
        ])
    }

    @Test func violationAgreesWithValidate() throws {
        let space = try parse(specText(space: """
            optimizer: {choice: [sgd, adam]}
            momentum: {uniform: [0, 1], when: {optimizer: sgd}}
            """)).space
        let configs: [Config] = [
            ["optimizer": .s("sgd"), "momentum": .n(0.5)],
            ["optimizer": .s("sgd")],
            ["optimizer": .s("sgd"), "momentum": .n(2)],
            ["optimizer": .s("adam"), "momentum": .n(0.5)],
            ["optimizer": .s("adam"), "lr": .n(0.5)],
            ["optimizer": .s("nadam")],
        ]
        for config in configs {
            #expect(space.violation(in: config)?.description == space.validate(config), "\(config)")
        }
        #expect(space.violation(in: ["optimizer": .s("adam"), "momentum": .n(0.5)]) == .inactive(parameter: "momentum"))
    }
}
