import Foundation
import LoomClient
import LoomWire

/// Carries out a `ChaosSchedule` on a `ChaosFabric` in real time: each fault strikes at its
/// offset (one timed on an upload right after the next `checkpoint` event of the feed), and each
/// is undone (restart, SIGCONT) when its duration has passed. While it waits it pumps the feed
/// and restarts any process that died on its own (noted by the fabric as a crash).
///
/// **Threading.** One thread; waits by polling the feed subscriber (20 ms at a time).
final class ChaosExecutor {
    private let fabric: ChaosFabric
    private let feed: FeedSubscriber
    private let say: (String) -> Void
    private var start = ContinuousClock.now
    /// Undo steps not yet due: when, and what.
    private var pending: [(at: ContinuousClock.Instant, target: ChaosTarget, kind: ChaosFault.Kind)] = []
    /// When the last `checkpoint` event arrived.
    private var lastCheckpoint: ContinuousClock.Instant?
    /// Processes signalled so far.
    private(set) var kills = 0

    init(fabric: ChaosFabric, feed: FeedSubscriber, say: @escaping (String) -> Void) {
        self.fabric = fabric
        self.feed = feed
        self.say = say
    }

    /// Runs every fault, then waits until every one of them is undone (the fabric healed).
    func carryOut(_ schedule: ChaosSchedule) throws {
        start = .now
        for fault in schedule.faults {
            try idle(until: start + .seconds(fault.at))
            if fault.duringUpload {
                let asked = ContinuousClock.now
                while ContinuousClock.now < asked + .seconds(ChaosSchedule.uploadWait) {
                    if let last = lastCheckpoint, last > asked { break }
                    try idle(for: 0.005)
                }
            }
            strike(fault)
        }
        while let last = pending.map(\.at).max() { try idle(until: last) }
        try fabric.restartCrashed()
        say("chaos: healed at \(offset())")
    }

    private func strike(_ fault: ChaosFault) {
        var note = ""
        if fault.duringUpload {
            note = lastCheckpoint.map { " (\(Int(($0.duration(to: .now) / .milliseconds(1)).rounded())) ms after a checkpoint event)" }
                ?? " (no checkpoint event yet)"
        }
        say("chaos: struck at \(offset()): \(fault)\(note)")
        for target in fault.targets {
            switch fault.kind {
            case .kill: fabric.kill(target)
            case .freeze: fabric.signal(target, SIGSTOP)
            }
            kills += 1
            pending.append((ContinuousClock.now + .seconds(fault.duration), target, fault.kind))
        }
    }

    /// Polls the feed and undoes due faults until `deadline`.
    func idle(until deadline: ContinuousClock.Instant) throws {
        repeat { try turn() } while ContinuousClock.now < deadline
    }

    func idle(for seconds: Double) throws { try idle(until: .now + .seconds(seconds)) }

    private func turn() throws {
        if let event = try? feed.next(timeout: .milliseconds(5)), event.topic.hasSuffix("/checkpoint") { lastCheckpoint = .now }
        let now = ContinuousClock.now
        for step in pending where step.at <= now {
            switch step.kind {
            case .kill: try fabric.start(step.target)
            case .freeze: fabric.signal(step.target, SIGCONT)
            }
        }
        pending.removeAll { $0.at <= now }
        try fabric.restartCrashed()
    }

    /// Waits until the logger's file holds the feed's last event (as far as this subscriber
    /// has seen), at most `timeout` seconds.
    func awaitLogger(_ path: String, timeout: Double) {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            try? turn()
            let head = max(feed.position, feed.publisherHead)
            if head > 0, let last = try? ChaosFeedEvent.read(path).last, last.seq >= head { return }
        }
        say("chaos: the logger's file did not reach the feed's head (\(max(feed.position, feed.publisherHead))) within \(Int(timeout)) s")
    }

    private func offset() -> String {
        let elapsed = start.duration(to: .now)
        return ChaosFault.seconds(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
