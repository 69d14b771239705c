import Foundation
import LoomBench
import LoomModel
import LoomStore
import LoomWire

/// The learning-curve task of `MultiFidelitySimulation` run through the real fabric: each method
/// is a study run by `hyperloom run` (embedded broker, optimizer, `slots` local worker slots),
/// whose trials are real processes (`hyperloom bench curve-trial`) that train one epoch per
/// `epochTime`, report it, checkpoint at the end of their budget and resume from it when promoted.
/// The study is interrupted once `totalEpochs` epochs were trained; the figures are computed from
/// the store exactly as the simulation computes them, with the report rows in the order they were
/// recorded standing in for simulated time.
struct MultiFidelityFabric {
    /// A run that could not give figures (`hyperloom run` failed before the budget was spent).
    struct RunFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// One study's figures.
    struct Run {
        var points: [MultiFidelitySimulation.Point]
        var trials: Int
        var epochs: Int
        var seconds: Double
    }

    var maxT: Int
    var slots: Int
    var epochTime: Double
    var executable = ChildProcess.currentExecutable

    /// No epoch trained for this long: the study hung.
    static let stallLimit: Duration = .seconds(60)

    func run(searcherYAML: String, schedulerYAML: String, seed: UInt64, totalEpochs: Int, maxTrials: Int,
             checkpoints: [Int]) throws -> Run {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-mf-\(getpid())-\(seed)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Kept when the run failed, for inspection.
        var keep = false
        defer { if !keep { try? FileManager.default.removeItem(at: directory) } }
        let counter = directory.appendingPathComponent("epochs")
        FileManager.default.createFile(atPath: counter.path, contents: nil)
        let spec = directory.appendingPathComponent("study.yaml")
        try """
            name: multifidelity-fabric
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
              y: {uniform: [0.0, 1.0]}
            searcher: \(searcherYAML)
            scheduler: \(schedulerYAML)
            trial:
              command: ["\(executable)", "bench", "curve-trial", "--seed", "\(seed)", "--x", "{x}", "--y", "{y}",
                        "--max-t", "\(maxT)", "--epoch-time", "\(epochTime)", "--count", "\(counter.path)"]
            budget: {max_trials: \(maxTrials), max_concurrent: \(slots)}
            """.write(to: spec, atomically: true, encoding: .utf8)
        let store = directory.appendingPathComponent("study.db").path
        let started = ContinuousClock.now
        let run = try ChildProcess("run", executable: executable,
                                   arguments: ["run", spec.path, "--workers", "\(slots)", "--store", store,
                                               "--work-dir", directory.appendingPathComponent("work").path],
                                   log: directory.appendingPathComponent("run.log"))
        // Each epoch a trial trains appends 2 bytes to the counter: once the budget is spent,
        // wait (at most 30 s) for the store to record as many epochs, then interrupt the study.
        // A study that trains no epoch for `stallLimit` has hung: it is interrupted and reported.
        var interrupted = false
        var spent: ContinuousClock.Instant?
        var progress = (size: 0, at: ContinuousClock.now)
        while run.isRunning {
            let size = (try? FileManager.default.attributesOfItem(atPath: counter.path)[.size] as? Int) ?? 0
            if size != progress.size { progress = (size, .now) }
            if spent == nil, progress.at.duration(to: .now) > Self.stallLimit {
                run.signal(SIGINT)
                run.waitForExit(timeout: .seconds(30))
                keep = true
                throw RunFailure(description: "the study hung: no epoch trained for \(Self.stallLimit) after \(size / 2) epochs "
                                 + "(hyperloom run interrupted; its data is kept in \(directory.path))")
            }
            if spent == nil, size / 2 >= totalEpochs { spent = .now }
            if let spent, spent.duration(to: .now) > .seconds(30) || (try? Self.recordedEpochs(store)) ?? 0 >= totalEpochs {
                run.signal(SIGINT)
                interrupted = true
                break
            }
            Thread.sleep(forTimeInterval: spent == nil ? 0.05 : 0.5)
        }
        if !run.waitForExit(timeout: .seconds(60)) { run.stop() }
        let seconds = Double(started.duration(to: .now).components.seconds)
        if !interrupted, run.exitStatus != 0 {
            keep = true
            throw RunFailure(description: "hyperloom run exited \(run.exitStatus ?? -1) (data kept in \(directory.path)): "
                             + run.output.split(separator: "\n").suffix(3).joined(separator: " | "))
        }
        let db = try SQLiteStore(path: store, readOnly: true)
        guard let study = try db.studies().first else { throw RunFailure(description: "no study in \(store)") }
        let trials = try db.trials(study: study.id)
        var rows: [(time: Double, trial: Int, epoch: Int, loss: Double)] = []
        for trial in trials {
            for report in try db.reports(study: study.id, trial: trial.number) where report.kind == "report" {
                guard let metrics = report.metrics.object, let epoch = metrics["epoch"]?.double, let loss = metrics["loss"]?.double else { continue }
                rows.append((report.time, trial.number, Int(epoch), loss))
            }
        }
        rows.sort { ($0.time, $0.trial, $0.epoch) < ($1.time, $1.trial, $1.epoch) }
        let configs = Dictionary(uniqueKeysWithValues: trials.map { ($0.number, $0.config) })
        var best: (value: Double, regret: Double)?
        var points: [MultiFidelitySimulation.Point] = []
        var pending = checkpoints.sorted()
        for (consumed, row) in rows.enumerated() {
            if row.epoch == maxT, best == nil || row.loss < best!.value, let config = configs[row.trial] {
                best = (row.loss, LearningCurveTask.final(config["x"]?.double ?? 0, config["y"]?.double ?? 0))
            }
            while let next = pending.first, consumed + 1 >= next {
                points.append(.init(epochs: next, regret: best?.regret))
                pending.removeFirst()
            }
        }
        for next in pending { points.append(.init(epochs: next, regret: best?.regret)) }
        return Run(points: points, trials: trials.count, epochs: rows.count, seconds: seconds)
    }

    /// Epoch reports recorded so far in the store of a running study.
    static func recordedEpochs(_ path: String) throws -> Int {
        let db = try SQLiteStore(path: path, readOnly: true)
        guard let study = try db.studies().first else { return 0 }
        return try db.trials(study: study.id).reduce(0) { sum, trial in
            sum + (try db.reports(study: study.id, trial: trial.number)).filter { $0.kind == "report" }.count
        }
    }
}
