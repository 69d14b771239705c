import Foundation
import LoomCheckpoint
import LoomClient
import LoomModel
import LoomOptimizer
import LoomStore
import LoomWire

/// The optimizer's machine (`OptimizerMachine`) driven by several peers: each step of the input
/// is a request from one of four clients (raw, or built from a template: submit, status, ask,
/// tell, report, heartbeat, cancel, …), a worker's event relayed by the broker (STARTED, ENDED,
/// REPORT, CHECKPOINT, FINAL, FAILED, FETCH) about a job the machine submitted, a CHUNK answering
/// one of its FETCHes, an outcome of one of its blob writes, a step of the clock or a restart
/// from the store. Every turn's writes are committed to an in-memory store, as the service does.
///
/// After each step: the store accepts the writes; the machine's tables hold
/// (`brokenInvariant()`); a finished trial stays finished with its result (in the store and in
/// the machine's mirror) and its result is written once; every ACK names an update that was
/// delivered, every RESPOND a request that was made, every SUBMIT a known study's jobs.
public enum OptimizerFuzz {
    /// The requesters: three keys of an authenticating broker, and one of a broker without keys.
    static let clients = ["a", "b", "o", "anon"]
    static let keys: [String?] = ["client/a", "client/b", "optimizer/o", nil]
    static let steps = 48
    static let settings = OptimizerMachine.Settings(keepsCheckpoints: true, keep: 2, maxBytes: 1 << 16,
                                                    transfer: ChunkTransfer.Config(chunkSize: 16, window: 2), workingDirectory: "/w")

    /// Small studies: FIFO with retries, ASHA (stops trials), Hyperband (pauses them), a
    /// wall-clock budget.
    static let specs: [String] = [
        spec(scheduler: "fifo", budget: "{max_trials: 3, max_concurrent: 2}"),
        spec(scheduler: "{type: asha, resource: epoch, max_t: 9, grace_period: 1, reduction_factor: 3}", budget: "{max_trials: 4, max_concurrent: 2}"),
        spec(scheduler: "{type: hyperband, resource: epoch, max_t: 4, grace_period: 1, reduction_factor: 2, brackets: 1}",
             budget: "{max_trials: 4, max_concurrent: 2}"),
        spec(scheduler: "fifo", budget: "{max_trials: 2, max_concurrent: 1, max_wallclock: 30s}"),
    ]

    static func spec(scheduler: String, budget: String) -> String {
        """
        name: f
        metric: loss
        mode: min
        space:
          x: {uniform: [0.0, 1.0]}
        searcher: {type: random, seed: 3}
        scheduler: \(scheduler)
        trial: {command: [t], max_retries: 1}
        budget: \(budget)
        """
    }

    /// Blobs the fuzzer's workers hold: a checkpoint names them, and CHUNKs answer from them.
    static let contents: [[UInt8]] = [Array("model weights, epoch one".utf8), Array("optimizer state".utf8), []]
    static let hashes = contents.map { BlobDirectory.hash($0) }
    static let values: [Double] = [0.5, 0.25, -1, 0, 1e308, -1e308, 3]
    static let templates = ["submit", "status", "ask", "tell", "report", "heartbeat", "cancel", "trials", "studies", "export"]

    /// Prints every step (`hyperloom-fuzz run optimizer FILE` with HYPERLOOM_FUZZ_TRACE=1).
    nonisolated(unsafe) public static var trace = false

    /// What one input reached: the unit tests check that the seeds go deep (a result, a kept
    /// checkpoint), so mutating them explores the machine, not its front door.
    struct Reach: Equatable {
        var studies = 0
        var results = 0
        var checkpoints = 0
    }

    @discardableResult
    static func run(_ data: [UInt8]) throws(FuzzFailure) -> Reach {
        var input = FuzzInput(data)
        var world = World()
        try world.apply(world.machine.start(now: world.now), step: "start")
        for _ in 0..<steps where !input.isAtEnd {
            let op = input.byte()
            let peer = Int(op >> 3) % clients.count
            let step: String
            let actions: OptimizerActions
            switch op & 7 {
            case 0:
                let body = input.frame()
                step = "raw request from \(clients[peer]): \(String(decoding: body.prefix(120), as: UTF8.self))"
                actions = world.request(body, peer: peer)
            case 1:
                let request = world.template(&input)
                step = "request from \(clients[peer]): \(String(decoding: request.body.prefix(160), as: UTF8.self))"
                actions = world.request(request.body, peer: peer)
            case 2:
                guard let event = world.workerEvent(&input, peer: peer) else { continue }
                if case .update(let update) = event { world.delivered.insert("\(update.attempt.job)|\(update.attempt.lease)|\(update.seq)") }
                step = "worker event \(event)".prefix(240).description
                actions = world.machine.handle(event, now: world.now)
            case 3:
                guard let chunk = world.chunk(&input) else { continue }
                step = "chunk \(chunk.job) request \(chunk.request): \(String(decoding: chunk.body, as: UTF8.self)) + \(chunk.data.count) bytes"
                actions = world.machine.handle(.transfer(chunk), now: world.now)
            case 4:
                world.seconds += Double(input.u16()) / 100
                step = "tick at \(world.seconds) s"
                actions = world.machine.tick(now: world.now)
            case 5:
                guard !world.commits.isEmpty else { continue }
                let commit = world.commits.remove(at: Int(input.byte()) % world.commits.count)
                let ok = input.byte() & 1 == 0
                guard case .commitBlob(let upload, _, let sha) = commit else { continue }
                if ok { world.blobs.insert(sha) }
                step = "blob \(sha.prefix(8)) of \(upload.job) \(ok ? "committed" : "failed")"
                actions = world.machine.diskDone([ok ? .committed(upload: upload, sha256: sha) : .failed(upload: upload, reason: "disk full")], now: world.now)
            case 6:
                step = "restart"
                try world.restart()
                actions = world.machine.start(now: world.now)
            default:
                let event: ClientEvent
                switch input.byte() % 4 {
                case 0: event = .connected(WelcomeInfo(broker: "b", heartbeatMs: 500, liveness: 3), resynced: 0)
                case 1: event = .error("refused")
                case 2: event = .cancelled(request: UInt64(input.byte()), count: 1)
                default: event = .submitted(request: UInt64(input.byte()), accepted: 1)
                }
                step = "event \(event)"
                actions = world.machine.handle(event, now: world.now)
            }
            if trace { print(step) }
            try world.apply(actions, step: step)
        }
        return world.reach
    }

    /// The machine, its store and what the fuzzer's peers know.
    struct World {
        let store = InMemoryStore()
        var machine = OptimizerMachine(settings: settings)
        let t0 = ContinuousClock.now
        var seconds = 0.0
        /// Job ids the machine submitted, in order.
        var jobs: [String] = []
        var submitted: Set<String> = []
        /// FETCHes the machine sent (the newest 16), and its blob writes waiting for an outcome.
        var fetches: [Transfer] = []
        var commits: [DiskAction] = []
        /// Blobs committed to the (imaginary) blob directory.
        var blobs: Set<String> = []
        /// Updates delivered, as `job|lease|seq`, and requests made, as `request|client`.
        var delivered: Set<String> = []
        var requests: Set<String> = []
        var nextRequest: UInt64 = 0
        /// Finished trials (by job id) with the state and value their result was written with.
        var results: [String: (state: TrialState, value: Double?)] = [:]
        var reach = Reach()

        var now: OptimizerMachine.Now {
            OptimizerMachine.Now(instant: t0 + .milliseconds(Int(seconds * 1000)), wall: 1_000 + seconds)
        }

        mutating func request(_ body: Frame, peer: Int) -> OptimizerActions {
            nextRequest += 1
            requests.insert("\(nextRequest)|\(clients[peer])")
            return machine.handle(.request(request: nextRequest, from: clients[peer], body: body, key: keys[peer]), now: now)
        }

        /// A request built from a template, with fields the input chooses (a study the machine
        /// knows, or one it does not).
        func template(_ input: inout FuzzInput) -> OptimizerRequest {
            let op = templates[Int(input.byte()) % templates.count]
            let known = machine.studyRecords.map(\.id)
            let pick = Int(input.byte())
            let study = pick == 255 || known.isEmpty ? "f-9" : known[pick % known.count]
            let trial = Int(Int8(bitPattern: input.byte()))
            let value = values[Int(input.byte()) % values.count]
            let attempt = Int(input.byte()) % 4
            let states = ["complete", "failed", "pruned", "running"]
            var r = OptimizerRequest(op: op, study: study, trial: trial, value: value, attempt: attempt == 0 ? nil : attempt)
            switch op {
            case "submit": r.spec = specs[Int(input.byte()) % specs.count]
            case "tell": r.state = states[Int(input.byte()) % states.count]
            case "ask": r.leaseSeconds = [1.0, 30, 0, -5][Int(input.byte()) % 4]
            case "heartbeat":
                r.trials = try? JSONDecoder().decode([OptimizerRequest.HeldTrial].self,
                                                     from: Data(#"[{"trial":\#(trial),"attempt":\#(max(1, attempt))}]"#.utf8))
            case "report": r.step = Double(input.byte() % 10)
            default: break
            }
            return r
        }

        /// A worker's event about one of the submitted jobs (or a job the machine never
        /// submitted), as the broker relays it.
        func workerEvent(_ input: inout FuzzInput, peer: Int) -> ClientEvent? {
            let pick = Int(input.byte())
            let job = jobs.isEmpty || pick == 255 ? "f-1/\(pick % 4)" : jobs[pick % jobs.count]
            let attempt = UInt32(input.byte() % 4 + 1)
            let leaseBits = input.byte()
            let lease = UInt64(attempt) * 10 + UInt64(leaseBits & 1)
            let ref = AttemptRef(job: job, attempt: attempt, lease: lease)
            let seq = UInt64(input.byte() % 16)
            let value = values[Int(input.byte()) % values.count]
            func update(_ kind: UpdateKind, _ payload: JSONValue) -> ClientEvent {
                .update(Update(kind: kind, attempt: ref, seq: seq, payload: JSONCoding.encode(payload)))
            }
            switch input.byte() % 8 {
            case 0: return .started(ref, worker: "w\(peer)", backup: leaseBits & 2 != 0)
            case 1: return .ended(ref, reason: ["lost", "stalled", "superseded", "failed", "other"][Int(leaseBits >> 1) % 5], detail: "")
            case 2: return update(.report, .object(["loss": .number(value), "epoch": .number(Double(seq))]))
            case 3: return update(.final, .object(["metrics": .object(["loss": .number(value)]), "reports": .number(Double(leaseBits % 3))]))
            case 4: return update(.failed, .object(["error": .string("exit code 1"), "quarantined": .bool(leaseBits & 2 != 0)]))
            case 5:
                // A manifest of the blobs the workers hold; the input may give a size a lie.
                var files: [JSONValue] = []
                let shape = input.byte()
                for (i, sha) in hashes.enumerated() where shape >> i & 1 == 1 {
                    let lie: [Int64] = [Int64(contents[i].count), Int64(contents[i].count), 1 << 40, -5, 1 << 62]
                    files.append(.object(["path": .string(["model.pt", "opt/state", "empty"][i]), "sha256": .string(sha),
                                          "size": .number(Double(lie[Int(shape >> 4) % lie.count]))]))
                }
                let manifest: JSONValue = .object(["job": .string(job), "attempt": .number(Double(attempt)), "seq": .number(Double(seq)),
                                                   "files": .array(files)])
                return update(.checkpoint, .object(["loss": .number(value), "epoch": .number(Double(seq)),
                                                    CheckpointManifest.payloadKey: manifest]))
            case 6:
                let kinds: [UpdateKind] = [.report, .checkpoint, .final, .failed]
                return .update(Update(kind: kinds[Int(leaseBits) % kinds.count], attempt: ref, seq: seq, payload: input.frame()))
            default:
                let source = jobs.isEmpty ? job : jobs[Int(input.byte()) % jobs.count]
                let body = leaseBits & 2 == 0 ? FetchBody(op: FetchBody.latest, job: source)
                    : FetchBody(op: FetchBody.blob, sha256: hashes[0], offset: 0, length: 8)
                return .transfer(.fetch(job: job, lease: lease, request: UInt64(input.byte()), body))
            }
        }

        /// A CHUNK answering one of the machine's FETCHes: the bytes asked for, wrong bytes, an
        /// error or `none`.
        func chunk(_ input: inout FuzzInput) -> Transfer? {
            guard !fetches.isEmpty else { return nil }
            let fetch = fetches[Int(input.byte()) % fetches.count]
            guard let body = try? JSONDecoder().decode(FetchBody.self, from: Data(fetch.body)) else { return nil }
            switch input.byte() % 4 {
            case 0:
                guard let sha = body.sha256, let i = hashes.firstIndex(of: sha), let offset = body.offset, let length = body.length,
                      offset >= 0, offset <= Int64(contents[i].count), length >= 0 else { return nil }
                let end = min(contents[i].count, Int(offset) + length)
                return fetch.answer(ChunkHeader(sha256: sha, offset: offset), data: Array(contents[i][Int(offset)..<end]))
            case 1: return fetch.answer(ChunkHeader(sha256: body.sha256, offset: body.offset), data: input.frame())
            case 2: return fetch.answer(ChunkHeader(error: "no such blob"))
            default: return fetch.answer(ChunkHeader(none: true))
            }
        }

        /// A machine rebuilt from the store, as after a crash: what the last turn did not commit
        /// is gone, and so are the blob writes in flight.
        mutating func restart() throws(FuzzFailure) {
            do {
                machine = OptimizerMachine(settings: settings, restoring: try StoredState.read(from: store, blobs: blobs.sorted()))
            } catch {
                throw FuzzFailure("optimizer", "the store cannot be read back: \(error)")
            }
            commits = []
            fetches = []
        }

        /// Commits the writes (as the service does), notes what the machine sent, then checks
        /// the invariants.
        mutating func apply(_ actions: OptimizerActions, step: String) throws(FuzzFailure) {
            func fail(_ text: String) -> FuzzFailure { FuzzFailure("optimizer", "\(text) (step: \(step))") }
            let garbage: [String]
            do {
                garbage = try StoreWrite.commit(actions.writes, to: store).garbage
            } catch {
                throw fail("the store refused the turn's writes: \(error)")
            }
            for write in actions.writes {
                switch write {
                case .recordResult(let trial, _):
                    guard trial.state.isFinished else { throw fail("trial \(trial.jobID)'s result has state \(trial.state.rawValue)") }
                    if let earlier = results[trial.jobID] {
                        throw fail("trial \(trial.jobID)'s result is written again (\(earlier.state.rawValue), then \(trial.state.rawValue))")
                    }
                    results[trial.jobID] = (trial.state, trial.value)
                    reach.results += 1
                case .createStudy:
                    reach.studies += 1
                case .keepCheckpoint:
                    reach.checkpoints += 1
                case .insertTrial(let trial), .updateTrial(let trial):
                    if let earlier = results[trial.jobID] {
                        throw fail("finished trial \(trial.jobID) (\(earlier.state.rawValue)) is written again as \(trial.state.rawValue)")
                    }
                default: break
                }
            }
            for message in actions.messages {
                switch message {
                case .acknowledge(let update):
                    let id = "\(update.attempt.job)|\(update.attempt.lease)|\(update.seq)"
                    guard delivered.contains(id) else { throw fail("ACK of an update never delivered: \(id)") }
                case .respond(let request, let to, let body):
                    guard requests.contains("\(request)|\(to)") else { throw fail("RESPOND to request \(request) of \(to), which was not made") }
                    guard (try? JSONValue(parsing: body))?.object != nil else { throw fail("RESPOND to \(request) is not a JSON object") }
                case .submit(let submissions):
                    guard !submissions.isEmpty else { throw fail("an empty SUBMIT") }
                    for job in submissions {
                        guard let (study, _) = OptimizerMachine.parseJobID(job.id),
                              machine.studyRecords.contains(where: { $0.id == study && $0.state == .running }) else {
                            throw fail("SUBMIT of \(job.id), which belongs to no running study")
                        }
                        if results[job.id] != nil { throw fail("SUBMIT of finished trial \(job.id)") }
                        guard (try? JobSpec.decode(job.payload)) != nil else { throw fail("SUBMIT of \(job.id) with a spec that does not decode") }
                        if submitted.insert(job.id).inserted { jobs.append(job.id) }
                    }
                case .cancel(let cancelled, _):
                    guard !cancelled.isEmpty else { throw fail("an empty CANCEL_JOBS") }
                case .follow(let followed):
                    guard !followed.isEmpty else { throw fail("an empty follow") }
                case .transfer(let transfer):
                    guard transfer.kind == .fetch, (try? JSONDecoder().decode(FetchBody.self, from: Data(transfer.body))) != nil else {
                        throw fail("the optimizer sent a transfer that is not a FETCH it can read")
                    }
                    fetches.append(transfer)
                    if fetches.count > 16 { fetches.removeFirst() }
                }
            }
            for query in actions.queries where !requests.contains("\(query.request)|\(query.from)") {
                throw fail("a read query for request \(query.request) of \(query.from), which was not made")
            }
            commits += actions.disk.filter { if case .commitBlob = $0 { true } else { false } }
            if !garbage.isEmpty { try apply(machine.unreferenced(garbage), step: step) }
            if let broken = machine.brokenInvariant() { throw fail(broken) }
            for (job, result) in results {
                guard let (study, number) = OptimizerMachine.parseJobID(job) else { continue }
                if let mirrored = machine.driver(study)?.trial(number), mirrored.state != result.state || mirrored.value != result.value {
                    throw fail("finished trial \(job) (\(result.state.rawValue)) is \(mirrored.state.rawValue) in the machine")
                }
                let stored: TrialRecord?
                do { stored = try store.trial(study: study, number: number) } catch { throw fail("the store cannot read \(job): \(error)") }
                if let stored, stored.state != result.state || stored.value != result.value {
                    throw fail("finished trial \(job) (\(result.state.rawValue)) is stored as \(stored.state.rawValue)")
                }
            }
        }
    }

    /// Studies' lives as seeds, one per spec: submitted by one key, its first job started,
    /// reported on, checkpointed (every FETCH answered, every blob committed), finished; an
    /// asked trial told; another key's status and cancel; a restart; the clock; the owner's
    /// cancel.
    static var seeds: [[UInt8]] {
        specs.indices.map { spec in
            var w = FuzzInputWriter()
            func bytes(_ values: UInt8...) { for v in values { w.byte(v) } }
            bytes(1, 0, 0, 0, 0, 0, UInt8(spec))            // submit (client a)
            bytes(2, 0, 0, 0, 0, 0, 0)                       // STARTED job 0, attempt 1
            bytes(2, 0, 0, 0, 1, 1, 2)                       // REPORT seq 1
            bytes(2, 0, 0, 0, 2, 0, 5, 0b011)                // CHECKPOINT of two blobs, seq 2
            for i: UInt8 in 0..<6 { bytes(3, i, 0) }         // CHUNKs answering its FETCHes
            bytes(5, 0, 0, 5, 0, 0)                          // both blobs committed
            bytes(2, 1, 0, 0, 0, 0, 0)                       // STARTED job 1
            bytes(2, 1, 0, 0, 1, 3, 2)                       // REPORT of job 1
            bytes(2, 0, 0, 0, 3, 1, 3)                       // FINAL of job 0
            bytes(2, 1, 0, 0, 2, 0, 4)                       // FAILED of job 1 (retried)
            bytes(1, 2, 0, 0, 0, 0, 1)                       // ask (lease 30 s)
            bytes(1, 4, 0, 4, 0, 0, 3)                       // report of the asked trial
            bytes(1, 3, 0, 4, 1, 0, 0)                       // tell it complete
            bytes(1 | 1 << 3, 1, 0, 0, 0, 0)                 // status from client b (refused)
            bytes(1 | 1 << 3, 6, 0, 0, 0, 0)                 // cancel from client b (refused)
            bytes(2, 2, 0, 0, 0, 0, 7, 0, 9)                 // a worker's FETCH latest
            bytes(6)                                         // restart from the store
            bytes(4, 0x0B, 0xB8)                             // 30 s pass
            bytes(1 | 2 << 3, 1, 0, 0, 0, 0)                 // status from the optimizer key (admin)
            bytes(1, 6, 0, 0, 0, 0)                          // the owner cancels
            return w.bytes
        }
    }
}

