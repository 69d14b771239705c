/// What a simulated trial process does, drawn from the seed per trial: how many steps it runs,
/// how long each takes, and how each attempt misbehaves. Every step prints a metric line with a
/// checkpoint (the trial writes its step counter into its checkpoint directory first); the last
/// step exits 0 with `value`, the value this trial computes (invariant S1 compares with it).
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
            case 8..<11: .hang(afterSteps: random.int(0...steps - 1), for: .seconds(8))
            case 11..<20: .slow
            default: .normal
            }
            attempts.append(behaviour)
        }
        return TrialPlan(job: job, steps: steps, stepTime: random.duration(.milliseconds(50) ... .milliseconds(300)),
                         value: Double(index) + Double(random.int(0...999)) / 1000, attempts: attempts)
    }
}
