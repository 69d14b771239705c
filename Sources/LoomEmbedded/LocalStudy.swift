import Foundation
import LoomClient
import LoomModel
import LoomOptimizer
import LoomStore
import LoomWire
import LoomWorker

/// What a local study ended with.
public struct LocalStudyResult: Sendable {
    public var study: String
    public var state: StudyState
    public var reason: String?
    /// Every trial, in order.
    public var trials: [TrialRecord]
    /// The best complete trial.
    public var best: TrialRecord?
    /// Wall-clock seconds from submission to the study's end.
    public var elapsed: Double
}

/// Runs a study against a Swift closure (Optuna's `optimize`, UltraOpt's serial strategy), with
/// the same searchers, optimizer and store as every other study, through an embedded broker on
/// loopback and one in-process worker with `slots` slots.
///
/// ```swift
/// let result = try LocalStudy.optimize(specText: yaml, slots: 4) { trial in
///     let x = trial.config["x"]?.double ?? 0
///     trial.report(["step": .number(1), "loss": .number(x * x)])
///     return x * x
/// }
/// ```
///
/// The spec's `trial.command` is not run (write e.g. `command: [in-process]`); its resources,
/// timeout and retries apply.
public enum LocalStudy {
    public static func optimize(specText: String, file: String = "study.yaml", slots: Int = 4,
                                store: any StudyStore = InMemoryStore(), workDir: String? = nil,
                                objective: @escaping @Sendable (InProcessTrial) throws -> Double) throws -> LocalStudyResult {
        let spec = try SpecParser.parse(specText, file: file)
        let metric = spec.metric
        return try optimize(specText: specText, file: file, slots: slots, store: store, workDir: workDir) { trial in
            [metric: .number(try objective(trial))]
        }
    }

    /// As above, with an objective that returns every final metric (the study's among them).
    public static func optimize(specText: String, file: String = "study.yaml", slots: Int = 4,
                                store: any StudyStore = InMemoryStore(), workDir: String? = nil,
                                metrics objective: @escaping InProcessObjective) throws -> LocalStudyResult {
        let directory = workDir ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("hyperloom-local-\(getpid())-\(UUID().uuidString.prefix(8))").path
        return try run(specText: specText, file: file, slots: slots, store: store, workDir: directory,
                       executor: InProcessExecutor(workDir: directory, objective: objective))
    }

    /// Runs a study to its end on a local fabric whose worker runs trials with `executor`, or
    /// as child processes (the spec's `trial.command`, as `hyperloom run` does) when it is nil.
    /// Returns once the study is over; `elapsed` runs from submission to the end.
    public static func run(specText: String, file: String = "study.yaml", slots: Int, store: any StudyStore,
                           workDir: String, executor: sending (any TrialExecutor)?) throws -> LocalStudyResult {
        _ = try SpecParser.parse(specText, file: file)
        let workerID = executor == nil ? "local" : "in-process"
        let fabric = try LocalFabric(store: store, optimizerID: "optimizer-local", workerID: workerID, slots: slots,
                                     workDir: workDir, executor: executor, version: "embedded")
        defer { fabric.stop() }
        let client = try BrokerClient(endpoint: fabric.endpoint, name: "local study", context: fabric.context)
        let studyID: String
        let started = Date().timeIntervalSince1970
        do {
            defer { client.close() }
            try client.connect()
            let answer = try client.request(service: ServiceName.optimizer, body: OptimizerRequest(
                op: "submit", spec: specText, file: file, baseDirectory: FileManager.default.currentDirectoryPath).body)
            guard let id = (try? JSONValue(parsing: answer))?.object?["study"]?.argument else {
                throw ClientError.service("the optimizer did not name the study")
            }
            studyID = id
            // A status document reads the whole study from the store on the optimizer's thread:
            // asked 20 times a second, it costs the study little and bounds the end's error at 50 ms.
            while true {
                let status = try client.request(service: ServiceName.optimizer, body: OptimizerRequest(op: "status", study: id).body)
                let state = (try? JSONValue(parsing: status))?.object?["state"]?.argument
                if state != StudyState.running.rawValue { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let elapsed = Date().timeIntervalSince1970 - started
        // The optimizer's thread owns the store until it stops: read it afterwards.
        fabric.stop()
        let study = try store.study(studyID)
        let trials = try store.trials(study: studyID)
        return LocalStudyResult(study: studyID, state: study?.state ?? .running, reason: study?.reason, trials: trials,
                                best: StudyDocuments.best(trials, mode: try SpecParser.parse(specText, file: file).mode),
                                elapsed: elapsed)
    }
}
