import Foundation
import LoomModel
import LoomOptimizer
import LoomStore
import LoomWire

/// The synthetic learning-curve task of `hyperloom bench multifidelity` (Docs/benchmarks.md):
///
///     f(x, y, t) = final(x, y) + a(y)·exp(−b(y)·t) + ε,    x, y uniform in [0, 1], t = 1 … max_t
///     final(x, y) = (x − 0.3)² + 0.5·(y − 0.6)²     (minimum 0 at x = 0.3, y = 0.6)
///     a(y) = 0.3 + 0.4·y,   b(y) = 0.2 + 0.3·(1 − y),   ε ~ N(0, 0.01²) per (seed, trial, t)
///
/// Small `y` learns fast and looks good at the first epochs but ends worse than `y` near 0.6:
/// the curves cross (y = 0 and y = 0.6 at x = 0.3 swap places between epochs 1 and 3), so a
/// scheduler that judges too early is misled.
struct LearningCurveTask {
    var seed: UInt64

    static func final(_ x: Double, _ y: Double) -> Double { (x - 0.3) * (x - 0.3) + 0.5 * (y - 0.6) * (y - 0.6) }

    func value(_ config: LoomModel.Config, trial: Int, epoch: Int) -> Double {
        let (x, y) = (config["x"]?.double ?? 0, config["y"]?.double ?? 0)
        let decay = (0.3 + 0.4 * y) * exp(-(0.2 + 0.3 * (1 - y)) * Double(epoch))
        return Self.final(x, y) + decay + 0.01 * noise(trial: trial, epoch: epoch)
    }

    /// A standard normal from a hash of (seed, trial, epoch) (SplitMix64, then Box–Muller).
    func noise(trial: Int, epoch: Int) -> Double {
        func mix(_ z: UInt64) -> UInt64 {
            var z = z &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let a = mix(seed ^ mix(UInt64(trial) << 24 ^ UInt64(epoch)))
        let b = mix(a)
        let u1 = (Double(a >> 11) + 0.5) / 9_007_199_254_740_992
        let u2 = Double(b >> 11) / 9_007_199_254_740_992
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// One study of the task run by the real `StudyDriver` (searcher, scheduler, slots, pauses and
/// promotions) in simulated time: every running trial trains one epoch per tick and reports it;
/// a resumed trial continues from the epoch it paused at (its checkpoint).
struct MultiFidelitySimulation {
    /// The incumbent after `epochs` epochs: the trial with the best value reported at `max_t`.
    struct Point: Equatable {
        var epochs: Int
        /// `final(config)` of the incumbent (its noiseless value at convergence); nil before
        /// any trial reached `max_t`.
        var regret: Double?
    }

    var schedulerYAML: String
    var searcherYAML: String
    var maxT: Int
    var workers: Int
    var seed: UInt64

    /// Runs until `totalEpochs` epochs are consumed; returns the incumbent at each checkpoint
    /// and the number of trials started.
    func run(totalEpochs: Int, checkpoints: [Int]) throws -> (points: [Point], trials: Int) {
        let specText = """
            name: sim
            metric: loss
            mode: min
            space:
              x: {uniform: [0.0, 1.0]}
              y: {uniform: [0.0, 1.0]}
            searcher: \(searcherYAML)
            scheduler: \(schedulerYAML)
            trial: {command: [simulated]}
            budget: {max_trials: 100000, max_concurrent: \(workers)}
            """
        let spec = try SpecParser.parse(specText, file: "multifidelity.yaml")
        let task = LearningCurveTask(seed: seed)
        var driver = StudyDriver(studyID: "sim-1", spec: spec, createdAt: 0, trials: [])
        var epochReached: [Int: Int] = [:]
        var running: Set<Int> = []
        var consumed = 0
        var tick = 0.0
        var best: (value: Double, regret: Double)?
        var points: [Point] = []
        var pending = checkpoints.sorted()
        while consumed < totalEpochs {
            let plan = driver.fillSlots(now: tick)
            for var trial in plan.created + plan.resumed {
                trial.state = .running
                trial.attempts += 1
                driver.update(trial)
                running.insert(trial.number)
            }
            guard !running.isEmpty else { break }
            tick += 1
            for number in running.sorted() {
                guard var trial = driver.trial(number) else { continue }
                let epoch = (epochReached[number] ?? 0) + 1
                epochReached[number] = epoch
                consumed += 1
                let value = task.value(trial.config, trial: number, epoch: epoch)
                if epoch == maxT, best == nil || value < best!.value {
                    let (x, y) = (trial.config["x"]?.double ?? 0, trial.config["y"]?.double ?? 0)
                    best = (value, LearningCurveTask.final(x, y))
                }
                let metrics = JSONValue.object(["epoch": .number(Double(epoch)), "loss": .number(value)])
                if let verdict = driver.report(trial: number, attempt: trial.attempts, metrics: metrics, now: tick) {
                    driver.update(verdict.trial)
                    running.remove(number)
                } else if Double(epoch) >= (trial.budget ?? Double(maxT)) {
                    running.remove(number)
                    if let verdict = driver.attemptEnded(trial: number, value: value, metrics: metrics, now: tick) {
                        driver.update(verdict.trial)
                    } else {
                        trial.state = .complete
                        trial.value = value
                        driver.update(trial)
                    }
                }
                while let next = pending.first, consumed >= next {
                    points.append(Point(epochs: next, regret: best?.regret))
                    pending.removeFirst()
                }
            }
        }
        for next in pending { points.append(Point(epochs: next, regret: best?.regret)) }
        return (points, driver.trials.count)
    }
}
