import LoomWire

/// Valid messages of every command, each direction: the wire fuzzer's seeds.
enum SeedMessages {
    static var all: [[Frame]] {
        let ref = AttemptRef(job: "study-1/7", attempt: 2, lease: 0x1_0000_0001)
        let update = Update(kind: .report, attempt: ref, seq: 3, payload: Array(#"{"loss":0.25,"step":3}"#.utf8))
        let fetch = Transfer.fetch(job: ref.job, lease: ref.lease, request: 5, FetchBody(op: FetchBody.blob, sha256: String(repeating: "a", count: 64), offset: 0, length: 16))
        let worker: [WorkerMessage] = [
            .ready(ReadyInfo(worker: "w-1", slots: 4, gpus: 1, heartbeatMs: 1000, liveness: 3, host: "node", pid: 9, version: "1",
                             running: [RunningAttempt(ref, token: Array(repeating: 1, count: LeaseToken.size))])),
            .heartbeat, .started(ref), .update(update),
            .update(Update(kind: .checkpoint, attempt: ref, seq: 4, payload: Array(#"{"checkpoint_manifest":{"job":"j","attempt":1,"seq":1,"files":[]}}"#.utf8))),
            .update(Update(kind: .final, attempt: ref, seq: 5, payload: [])),
            .transfer(fetch), .transfer(fetch.answer(ChunkHeader(sha256: String(repeating: "a", count: 64), offset: 0), data: [1, 2, 3])),
            .log(LogBatch(attempt: ref, stream: .stderr, firstLine: 1, lines: ["epoch 1", "loss 0.5"])), .disconnect,
        ]
        let client: [ClientMessage] = [
            .hello(HelloInfo(client: "opt", name: "optimizer", services: ["optimizer"])), .heartbeat,
            .submit(request: 1, jobs: [JobSubmission(id: "s/1", requirements: Requirements(cpuMilli: 500, maxAttempts: 3), payload: JobSpec(command: ["true"]).payload)]),
            .cancel(request: 2, jobs: ["s/1", "s/2"], reason: "pruned"), .query(request: 3, body: Array(#"{"what":"status"}"#.utf8)),
            .request(request: 4, service: "optimizer", body: Array(#"{"op":"status"}"#.utf8)),
            .respond(request: 4, to: "cli", body: Array("{}".utf8)), .ack(job: "s/1", lease: 9, seq: 1), .disconnect,
        ]
        let toWorker: [BrokerToWorker] = [
            .welcome(WelcomeInfo(broker: "b", heartbeatMs: 500, liveness: 3)),
            .assign(ref, payload: JobSpec(command: ["true"]).payload, token: Array(repeating: 2, count: LeaseToken.size)),
            .ack(job: ref.job, lease: ref.lease, seq: 1), .cancel(job: ref.job, lease: ref.lease, reason: CancelReason.fenced), .error("x"),
        ]
        let toClient: [BrokerToClient] = [
            .submitted(request: 1, accepted: 1), .cancelled(request: 2, count: 1), .reply(request: 3, body: Array("{}".utf8)),
            .started(ref, worker: "w-1", backup: true), .ended(ref, reason: EndedReason.lost, detail: "gone"), .update(update),
        ]
        // Appended last, so the seeds before keep their numbers: a HEARTBEAT listing exited
        // attempts, and a WELCOME that says the broker reads it.
        let exited: [[Frame]] = [WorkerMessage.exited([ref.lease, 7]).frames,
                                 BrokerToWorker.welcome(WelcomeInfo(broker: "b", heartbeatMs: 500, liveness: 3, exited: true)).frames]
        return worker.map(\.frames) + client.map(\.frames) + toWorker.map(\.frames) + toClient.map(\.frames) + exited
    }
}
