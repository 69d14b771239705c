import LoomBroker
import LoomClient
import LoomOptimizer
import LoomStore
import LoomWire

/// The broker process (the real `BrokerStateMachine`, the feed journal as a simulated disk) and
/// the optimizer's slot.
extension Simulation {
    func startBroker() {
        brokerStarts += 1
        // A fresh epoch per start, as the service draws a random one, so leases never repeat;
        // kept under 2^20 (a random part and the start's number) so that every lease is exact
        // in the feed's JSON numbers, which the checker reads as doubles.
        let epoch = UInt32(random.int(0...4095)) << 8 | UInt32(brokerStarts & 0xFF)
        if leaseSecret == nil {
            // Its own stream from the seed: drawing it from `random` would shift every later draw.
            var stream = SimulationRandom(seed: config.seed ^ 0x6C65_6173_6500_0000)
            leaseSecret = (0..<LeaseSecret.size).map { _ in UInt8(truncatingIfNeeded: stream.next()) }
        }
        var results = PublishedResults()
        for event in journalJobEvents { results.replay(event) }
        broker = BrokerStateMachine(config: BrokerConfig(brokerID: "broker-\(brokerStarts)", leaseEpoch: epoch,
                                                         lastFeedSeq: journalSeq, leaseKey: leaseSecret!),
                                    results: results, now: instant)
        note("broker-\(brokerStarts) starts (epoch \(epoch), feed continues after seq \(journalSeq))")
        retryConnects()
        arm(.broker)
    }

    func deliverToBroker(from identity: Frame, peer: ProcessID, _ frames: [Frame]) {
        guard broker != nil, alive.contains(.broker) else { return }
        note("broker ← \(peer) \(TraceText.inbound(frames))")
        performBroker(broker!.receive(from: identity, frames: frames, now: instant))
        arm(.broker)
    }

    /// Carries out the broker's actions as `BrokerService.perform` does: a send to a connection
    /// that is gone reports the peer unreachable at once; every event is journaled before it is
    /// published.
    func performBroker(_ actions: [BrokerAction]) {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .send(let identity, let frames):
                if !routerSend(to: identity, frames) {
                    note("broker: \(String(decoding: identity, as: UTF8.self)) unreachable")
                    queue += broker!.peerUnreachable(identity, now: instant)
                }
            case .publish(let frames):
                guard let event = FeedEvent(frames: frames) else {
                    checker.fail("S5", "the broker published a message that is not a feed event", at: now)
                    continue
                }
                if event.seq != journalSeq + 1 {
                    checker.fail("S5", "feed seq \(event.seq) after \(journalSeq) (the journal refuses it)", at: now)
                }
                journalSeq = max(journalSeq, event.seq)
                if PublishedResults.reads(event.topic) {
                    journalJobEvents.append(event)
                }
                checker.published(event, at: now)
                if trace != nil, !event.topic.hasPrefix("log/") { note("feed #\(event.seq) \(event.topic) \(String(decoding: event.body, as: UTF8.self))") }
            }
        }
    }

    // MARK: - Optimizer

    /// The optimizer process: the real `OptimizerMachine`, rebuilt from its disk at every start.
    /// Its first start finds the study created (as `hyperloom submit` leaves it).
    func startOptimizer() {
        do {
            if try disk.store.study(Self.studyID) == nil {
                try disk.createStudy(trials: config.trials, concurrent: config.workers * config.slotsPerWorker,
                                     retries: config.maxRetries, now: Self.epoch)
            }
            var machine = try RealOptimizer(disk: disk, base: base, epoch: Self.epoch, now: instant)
            machine.onAcknowledge = { [unowned self] update in self.checker.acknowledgedByOptimizer(update, store: self.store, at: self.now) }
            if trace != nil { machine.onNote = { [unowned self] note in self.note("optimizer: \(note.message) \(note.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))") } }
            optimizer = machine
        } catch {
            checker.fail("setup", "the optimizer cannot start from its store: \(error)", at: now)
            return
        }
        note("optimizer starts (OptimizerMachine; \(store.order.count) trials in its store)")
        performClient(optimizer!.start(now: instant))
        arm(.optimizer)
    }

    /// The wall time (seconds since the Unix epoch) of simulated time zero, for the records.
    static let epoch = 1_800_000_000.0

    func performClient(_ actions: [ClientAction]) {
        if let failure = optimizer?.failure {
            checker.fail("S2", "the optimizer could not commit a turn: \(failure)", at: now)
        }
        for action in actions {
            switch action {
            case .connect: openSocket(for: .optimizer)
            case .send(let frames):
                note("optimizer → \(TraceText.inbound(frames))")
                send(from: .optimizer, frames)
            }
        }
    }
}
