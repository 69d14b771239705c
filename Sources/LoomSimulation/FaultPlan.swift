/// The faults of one schedule, drawn from its seed: which process or link, when, for how long.
/// Several may overlap or start at the same instant.
struct Fault: Sendable, CustomStringConvertible {
    enum Kind: Sendable {
        /// SIGKILL, then a restart after `duration`.
        case crash(ProcessID)
        /// SIGSTOP, SIGCONT after `duration`.
        case freeze(ProcessID)
        /// No traffic between the broker and the process for `duration` (held by TCP, delivered
        /// after the partition heals, in order).
        case partition(ProcessID)
        /// Every message takes 20–200 ms more for `duration`.
        case slowNetwork
    }

    var kind: Kind
    var start: SimTime
    var duration: Duration

    var end: SimTime { start + SimTime.of(duration) }

    var description: String {
        let what = switch kind {
        case .crash(let p): "crash \(p)"
        case .freeze(let p): "freeze \(p)"
        case .partition(let p): "partition broker<->\(p)"
        case .slowNetwork: "slow network"
        }
        return "\(what) at \(Double(start) / 1e9)s for \(duration.seconds)s"
    }

    static func draw(count: Int, workers: Int, window: Duration, random: inout SimulationRandom) -> [Fault] {
        var faults: [Fault] = []
        var previous: SimTime = 0
        for _ in 0..<count {
            let process: ProcessID = switch random.int(0...3) {
            case 0: .broker
            case 1: .optimizer
            default: .worker(random.int(0...workers - 1))
            }
            // One in four faults starts with the one before it: several faults at once.
            let start = random.chance(0.25) && !faults.isEmpty ? previous : SimTime.of(random.duration(.milliseconds(500) ... window))
            previous = start
            let fault: Fault = switch random.int(0...9) {
            case 0...4: Fault(kind: .crash(process), start: start, duration: random.duration(.milliseconds(100) ... .seconds(3)))
            case 5...6: Fault(kind: .freeze(process), start: start, duration: random.duration(.milliseconds(500) ... .seconds(10)))
            case 7...8: Fault(kind: .partition(process == .broker ? .optimizer : process), start: start,
                              duration: random.duration(.milliseconds(200) ... .seconds(8)))
            default: Fault(kind: .slowNetwork, start: start, duration: random.duration(.seconds(1) ... .seconds(5)))
            }
            faults.append(fault)
        }
        return faults.sorted { $0.start < $1.start }
    }
}
