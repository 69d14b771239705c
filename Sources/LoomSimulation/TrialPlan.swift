/// What a simulated trial process does, drawn from the seed per trial: how many steps it runs,
/// how long each takes, and how each attempt misbehaves. Every step prints a metric line with a
/// checkpoint (the trial writes its step counter into its checkpoint directory first); the last
/// step exits 0 with `value`, the value this trial computes (invariant S1 compares with it).
/// Its checkpoint's snapshot and restore take `snapshotTime` and `restoreTime` on the worker's
/// background thread.
struct TrialPlan: Sendable {
    /// How one attempt's process behaves.
    enum Behaviour: Equatable, Sendable {
        case normal
        /// Each step takes four times as long.
        case slow
        /// Exits with code 1 after this many steps of the attempt.
        case crash(afterSteps: Int)
        /// Stops printing after this many steps for `for` (long enough to count as stalled).
        case hang(afterSteps: Int, for: Duration)
    }

    var job: String
    var steps: Int
    var stepTime: Duration
    var value: Double
    /// Behaviour of attempts 1, 2, …; attempts past the end behave normally.
    var attempts: [Behaviour]
    /// How long the worker's background thread takes to snapshot this trial's checkpoint
    /// directory, and to rebuild it from fetched blobs on a restore (its disk and its size).
    var snapshotTime: Duration = .milliseconds(1)
    var restoreTime: Duration = .milliseconds(1)

    /// The loss the trial prints at `step` (1…steps): `value` at its last step.
    func loss(atStep step: Int) -> Double { value + Double(steps - step) }

    /// Every loss the trial computes, its last step's first.
    var values: [Double] { (1...steps).reversed().map(loss(atStep:)) }

    func behaviour(attempt: UInt32) -> Behaviour {
        let i = Int(attempt) - 1
        return i >= 0 && i < attempts.count ? attempts[i] : .normal
    }

    static func draw(job: String, index: Int, random: inout SimulationRandom) -> TrialPlan {
        let steps = random.int(2...6)
        var attempts: [Behaviour] = []
        for _ in 0..<3 {
            let roll = random.int(0...99)
            let behaviour: Behaviour = switch roll {
            case 0..<8: .crash(afterSteps: random.int(0...steps - 1))
            case 8..<11: .hang(afterSteps: random.int(0...steps - 1), for: .seconds(12))
            case 11..<20: .slow
            default: .normal
            }
            attempts.append(behaviour)
        }
        let stepTime = random.duration(.milliseconds(50) ... .milliseconds(300))
        let value = Double(index) + Double(random.int(0...999)) / 1000
        return TrialPlan(job: job, steps: steps, stepTime: stepTime, value: value, attempts: attempts,
                         snapshotTime: drawDiskTime(&random), restoreTime: drawDiskTime(&random))
    }

    /// A snapshot's or a rebuild's duration: mostly milliseconds, sometimes longer than a step,
    /// and one in twenty longer than the workers' liveness window (3 s), as a checkpoint of
    /// gigabytes on a slow disk takes. Up to 6 s, longer than the jobs' 5 s stall timeout: a
    /// trial's FINAL waits for the snapshot in progress and the one queued behind it (up to 12 s
    /// after its last metric line), and the worker's HEARTBEAT listing the exited attempt keeps
    /// the broker from taking that silence for a stall (seed 126 broke S3 before it did).
    static func drawDiskTime(_ random: inout SimulationRandom) -> Duration {
        switch random.int(0...99) {
        case 0..<60: random.duration(.milliseconds(1) ... .milliseconds(20))
        case 60..<85: random.duration(.milliseconds(50) ... .milliseconds(500))
        case 85..<95: random.duration(.milliseconds(500) ... .milliseconds(2500))
        default: random.duration(.seconds(3) ... .seconds(6))
        }
    }
}
