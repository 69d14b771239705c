import Foundation
@testable import LoomModel
import LoomWire
import Testing

@Suite struct ExampleSpecTests {
    static let examples: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examplesDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    @Test func theExamplesDirectoryHoldsEveryDocumentedExample() {
        for name in ["logreg.yaml", "logreg-grid.yaml", "logreg-quasirandom.yaml", "conditional.yaml", "conditional-tpe.yaml",
                     "automl-nested.yaml", "asha.yaml"] {
            #expect(Self.examples.contains(name), "missing \(name)")
        }
    }

    @Test(arguments: examples)
    func everyExampleParses(_ name: String) throws {
        let spec = try SpecParser.parse(contentsOf: examplesDirectory.appendingPathComponent(name).path)
        #expect(!spec.space.parameters.isEmpty)
        #expect(!spec.trial.command.isEmpty)
    }

    @Test func theTPEExampleUsesTheModelOptions() throws {
        let spec = try SpecParser.parse(contentsOf: examplesDirectory.appendingPathComponent("conditional-tpe.yaml").path)
        #expect(spec.searcher == SearcherSpec(kind: .tpe, seed: 11, options: SearcherOptions(nStartupTrials: 8, multivariate: true)))
    }

    @Test func mainExampleRunsTrainPyFortyTimesFourAtATime() throws {
        let spec = try SpecParser.parse(contentsOf: examplesDirectory.appendingPathComponent("logreg.yaml").path)
        #expect(spec.name == "logreg-sgd")
        #expect(spec.metric == "loss")
        #expect(spec.mode == .min)
        #expect(spec.space.parameters.map(\.name) == ["lr", "l2", "epochs", "batch_size", "seed"])
        #expect(spec.searcher == SearcherSpec(kind: .random, seed: 1))
        #expect(spec.trial.command == ["python3", "train.py"])
        #expect(spec.trial.cwd == ".")
        #expect(spec.trial.env == ["OMP_NUM_THREADS": "1"])
        #expect(spec.trial.timeoutSeconds == 120)
        #expect(spec.trial.maxRetries == 2)
        #expect(spec.trial.checkpointing)
        #expect(spec.budget.maxTrials == 40)
        #expect(spec.budget.maxConcurrent == 4)
        #expect(spec.pointsToEvaluate == [["lr": .n(0.1), "l2": .n(0.0001), "epochs": .n(10), "batch_size": .n(32), "seed": .n(7)]])
        #expect(FileManager.default.fileExists(atPath: examplesDirectory.appendingPathComponent("train.py").path))
    }

    @Test func gridExampleCrossesSixPointsTwice() throws {
        let spec = try SpecParser.parse(contentsOf: examplesDirectory.appendingPathComponent("logreg-grid.yaml").path)
        #expect(spec.searcher.kind == .grid)
        #expect(SpecParser.gridSize(of: spec.space) == 6)
        #expect(spec.budget.maxTrials == 2)
    }

    @Test func nestedExampleFlattensIntoConditionalParameters() throws {
        let spec = try SpecParser.parse(contentsOf: examplesDirectory.appendingPathComponent("automl-nested.yaml").path)
        #expect(spec.space.parameters.map(\.name) == [
            "classifier", "svm.C", "svm.kernel", "svm.gamma", "knn.n_neighbors", "knn.weights",
            "random_forest.n_estimators", "random_forest.max_depth", "scaler",
        ])
        #expect(spec.space["svm.gamma"]?.condition == Condition(parent: "svm.kernel", values: [.s("rbf")]))
        #expect(spec.space["knn.weights"]?.condition == Condition(parent: "classifier", values: [.s("knn")]))
        #expect(spec.space["scaler"]?.condition == nil)
    }
}
