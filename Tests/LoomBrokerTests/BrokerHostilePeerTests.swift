import Foundation
import Testing
@testable import LoomBroker
import LoomWire

/// One message from a peer, however it is built, neither crashes the broker nor grows its
/// tables without bound (issue 16).
@Suite struct BrokerHostilePeers {
    @Test func readyWithOverflowingSlotsIsRefusedWithoutRegistering() {
        var h = BrokerHarness()
        let actions = h.ready("w", slots: 1 << 62)
        #expect(h.machine.workers.isEmpty)
        #expect(h.machine.counters.rejected["value"] == 1)
        #expect(actions.count == 1)
    }

    @Test func readyThenHelloOnOneConnectionKeepsTheFeedSequenceWithoutHoles() throws {
        var h = BrokerHarness()
        h.ready("x")
        h.hello("x", id: "c")
        h.submit("x", ["j1"])
        let seqs = BrokerHarness.feedEvents(h.log).map(\.seq)
        #expect(!seqs.isEmpty)
        #expect(seqs == Array(1...UInt64(seqs.count)))
        #expect(BrokerHarness.topics(h.log).contains("worker/x/left"))
    }

    @Test func workersBeyondTheLimitAreRefusedWithAnErrorNamingIt() {
        var h = BrokerHarness(maxWorkers: 2)
        h.ready("w1")
        h.ready("w2")
        let third = h.ready("w3")
        #expect(h.machine.workers.count == 2)
        #expect(h.machine.counters.refused["capacity"] == 1)
        let text = BrokerHarness.toWorker("w3", third).compactMap { if case .error(let t) = $0 { t } else { nil } }.first
        #expect(text?.contains("max_workers 2") == true)
        // A registered worker re-registering is not a new one.
        #expect(BrokerHarness.toWorker("w1", h.ready("w1")).contains { if case .welcome = $0 { true } else { false } })
    }

    @Test func clientsThatLeaveOwningNoJobAreForgottenAndTheTableIsBounded() {
        var h = BrokerHarness(maxClients: 3)
        for i in 0..<3 { h.hello("x\(i)", id: "c\(i)", live: false) }
        let refused = h.hello("x9", id: "c9", live: false)
        #expect(BrokerHarness.toClient("x9", refused).contains { if case .error(let t) = $0 { t.contains("max_clients 3") } else { false } })
        h.submit("x0", ["j"])
        for i in 0..<3 { h.client("x\(i)", .disconnect) }
        h.advance(to: .seconds(1))
        // c0 owns a job: its record (and the key it is bound to) stays; the others are gone.
        #expect(Set(h.machine.clients.keys) == ["c0"])
        h.hello("x9", id: "c9", live: false)
        #expect(h.machine.clients["c9"]?.identity != nil)
    }

    @Test func silentClientsAreForgottenAfterTheirLiveness() {
        var h = BrokerHarness()
        for i in 0..<100 { h.hello("x\(i)", id: "c\(i)", live: false) }
        #expect(h.machine.clients.count == 100)
        h.advance(to: .seconds(4))
        #expect(h.machine.clients.isEmpty)
    }
}

/// Leases are capabilities: a worker adopts after a restart only attempts it was given (issue 16).
@Suite struct BrokerLeaseCapabilities {
    /// The attack of issue 16: a worker key lists queued and not yet submitted jobs as running,
    /// then sends FINAL for them. Nothing is adopted, and the FINALs are stale.
    @Test func aWorkerCannotClaimQueuedOrUnsubmittedJobsAndReportResultsForThem() throws {
        var h = BrokerHarness()
        h.hello("c")
        h.submit("c", ["s/1", "s/2"])
        let queued = AttemptRef(job: "s/1", attempt: 1, lease: 99)
        let unsubmitted = AttemptRef(job: "s/9", attempt: 1, lease: 100)
        let actions = h.ready("evil", slots: 0, running: [queued, unsubmitted], forged: true)
        #expect(h.machine.counters.refused["lease"] == 2)
        #expect(h.machine.counters.reclaimed == 0)
        #expect(h.machine.jobs["s/9"] == nil)
        let cancels = BrokerHarness.toWorker("evil", actions).filter { if case .cancel(_, _, CancelReason.unverified) = $0 { true } else { false } }
        #expect(cancels.count == 2)
        h.update("evil", .final, queued, seq: 1)
        h.update("evil", .final, unsubmitted, seq: 1)
        #expect(h.machine.counters.finished == 0)
        #expect(BrokerHarness.toClient("c", h.log).allSatisfy { if case .update = $0 { false } else { true } })
    }

    /// A real capability verifies after a restart with the same secret; under another worker's
    /// key, or for another attempt, it does not.
    @Test func aCapabilityIsBoundToItsAttemptAndItsKey() {
        var h = BrokerHarness()
        h.users = ["w1": "worker/a", "w2": "worker/b"]
        _ = h.machine.authorize(["worker/a", "worker/b", "client/c"], now: h.now)
        let ref = AttemptRef(job: "s/1", attempt: 3, lease: 77)
        let tokenA = BrokerStateMachine.leaseToken(ref, holder: "worker/a", key: h.machine.config.leaseKey)
        // w2 presents w1's capability.
        let stolen = ReadyInfo(worker: "w2", slots: 1, heartbeatMs: 1000, liveness: 3, host: "h", pid: 1, version: "t",
                               running: [RunningAttempt(ref, token: tokenA)])
        h.worker("w2", .ready(stolen))
        #expect(h.machine.counters.refused["lease"] == 1)
        // Another attempt under a real capability of attempt 3.
        let other = ReadyInfo(worker: "w1", slots: 1, heartbeatMs: 1000, liveness: 3, host: "h", pid: 1, version: "t",
                              running: [RunningAttempt(AttemptRef(job: "s/1", attempt: 4, lease: 77), token: tokenA)])
        h.worker("w1", .ready(other))
        #expect(h.machine.counters.refused["lease"] == 2)
        // The real one is adopted.
        let real = ReadyInfo(worker: "w1", slots: 1, heartbeatMs: 1000, liveness: 3, host: "h", pid: 1, version: "t",
                             running: [RunningAttempt(ref, token: tokenA)])
        h.worker("w1", .ready(real))
        #expect(h.machine.counters.reclaimed == 1)
        #expect(h.machine.counters.refused["lease"] == 2)
    }

    /// A READY that lists a lease this broker gave to another worker, or for another job, is
    /// refused and leaves that lease's attempt alone: its job still ends and is requeued when its
    /// own worker is lost (fuzz input `crash-foreign-lease-in-ready`: fencing the claim marked the
    /// other worker's attempt fenced, and its job then ran on with no lease at all).
    @Test func aForeignLeaseInReadyIsRefusedAndItsOwnAttemptRunsOn() throws {
        var h = BrokerHarness()
        h.ready("w0")
        h.hello("c")
        let ref = try #require(BrokerHarness.assigned("w0", h.submit("c", ["s/0"])).first)
        let underAnotherJob = AttemptRef(job: "s/1", attempt: 1, lease: ref.lease)
        let actions = h.ready("w1", running: [ref, underAnotherJob], forged: true)
        #expect(h.machine.counters.refused["lease"] == 2)
        #expect(BrokerHarness.toWorker("w1", actions).contains { if case .error(let t) = $0 { t.contains("belongs to another attempt") } else { false } })
        #expect(h.machine.leases[ref.lease]?.status == .active)
        #expect(h.machine.leases[ref.lease]?.worker == "w0")
        // w0 lists the other job under its own lease: it no longer holds s/0's attempt.
        let mixedUp = h.ready("w0", running: [underAnotherJob], forged: true)
        #expect(BrokerHarness.topics(mixedUp).contains("job/s/0/requeued"))
        #expect(h.machine.brokenInvariant() == nil)
    }

    /// ASSIGN carries the capability for the worker's key, and it verifies.
    @Test func assignCarriesAVerifiableCapability() throws {
        var h = BrokerHarness()
        h.ready("w")
        h.hello("c")
        let actions = h.submit("c", ["s/1"])
        let token = BrokerHarness.toWorker("w", actions).compactMap { if case .assign(_, _, let t) = $0 { t } else { nil } }.first
        let ref = try #require(BrokerHarness.assigned("w", actions).first)
        #expect(token == BrokerStateMachine.leaseToken(ref, holder: "worker-id:w", key: h.machine.config.leaseKey))
        #expect(h.machine.verifies(RunningAttempt(ref, token: token), worker: "w"))
    }
}

/// The lease secret survives a restart in a file only its owner can read.
@Suite struct LeaseSecretFile {
    @Test func theSecretIsCreatedOwnerOnlyAndReadBackAfterARestart() throws {
        let path = NSTemporaryDirectory() + "lease-\(UUID().uuidString).secret"
        defer { unlink(path) }
        let first = try LeaseSecret.load(path: path)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try LeaseSecret.load(path: path) == first)
        #expect(first.count == LeaseSecret.size)
        chmod(path, 0o644)
        #expect(throws: LeaseSecret.Failure.self) { try LeaseSecret.load(path: path) }
    }
}

/// A worker reads only the checkpoints of the jobs it runs (issue 16).
@Suite struct BrokerFetchAuthorization {
    /// A worker running `a/1` (of study a), and study b's job `b/1` queued, both owned by the
    /// checkpoint-keeping client `o`.
    func setUp(restoreFrom: String? = nil) throws -> (BrokerHarness, AttemptRef) {
        var h = BrokerHarness()
        h.client("o", .hello(HelloInfo(client: "o", name: "opt", services: [ServiceName.checkpoints])))
        h.liveClients.append("o")
        h.ready("w")
        let actions = h.submit("o", ["a/1"], spec: JobSpec(command: ["true"], restoreFrom: restoreFrom).payload)
        h.submit("o", ["b/1"])
        return (h, try #require(BrokerHarness.assigned("w", actions).first))
    }

    func answerError(_ actions: [BrokerAction]) -> String? {
        for case .transfer(let t) in BrokerHarness.toWorker("w", actions) {
            return (try? JSONDecoder().decode(ChunkHeader.self, from: Data(t.body)))?.error
        }
        return nil
    }

    func forwarded(_ actions: [BrokerAction]) -> Bool {
        BrokerHarness.toClient("o", actions).contains { if case .transfer = $0 { true } else { false } }
    }

    @Test func fetchingAnotherStudysLatestCheckpointIsRefused() throws {
        var (h, ref) = try setUp()
        let own = h.worker("w", .transfer(.fetch(job: ref.job, lease: ref.lease, request: 1, FetchBody(op: FetchBody.latest))))
        #expect(forwarded(own))
        let other = h.worker("w", .transfer(.fetch(job: ref.job, lease: ref.lease, request: 2, FetchBody(op: FetchBody.latest, job: "b/1"))))
        #expect(!forwarded(other))
        #expect(answerError(other)?.contains("refused") == true)
        #expect(h.machine.counters.refused["fetch"] == 1)
    }

    @Test func theDeclaredRestoreFromMayBeFetched() throws {
        var (h, ref) = try setUp(restoreFrom: "a/0")
        let donor = h.worker("w", .transfer(.fetch(job: ref.job, lease: ref.lease, request: 1, FetchBody(op: FetchBody.latest, job: "a/0"))))
        #expect(forwarded(donor))
    }

    @Test func onlyBlobsOfAManifestSentToTheLeaseMayBeFetched() throws {
        var (h, ref) = try setUp()
        let sha = String(repeating: "c", count: 64)
        let blob = FetchBody(op: FetchBody.blob, sha256: sha, offset: 0, length: 10)
        let early = h.worker("w", .transfer(.fetch(job: ref.job, lease: ref.lease, request: 1, blob)))
        #expect(!forwarded(early))
        #expect(answerError(early)?.contains("not in a checkpoint sent to this attempt") == true)
        let manifest = CheckpointManifest(job: ref.job, attempt: 1, seq: 1, files: [CheckpointFile(path: "m", sha256: sha, size: 10)])
        let latest = Transfer.fetch(job: ref.job, lease: ref.lease, request: 2, FetchBody(op: FetchBody.latest))
        h.client("o", .transfer(latest.answer(ChunkHeader(checkpoint: manifest))))
        let later = h.worker("w", .transfer(.fetch(job: ref.job, lease: ref.lease, request: 3, blob)))
        #expect(forwarded(later))
    }

    @Test func aLeaseOfOneJobDoesNotRouteTransfersAboutAnother() throws {
        var (h, ref) = try setUp()
        let actions = h.worker("w", .transfer(.fetch(job: "b/1", lease: ref.lease, request: 1, FetchBody(op: FetchBody.latest))))
        #expect(!forwarded(actions))
        #expect(h.machine.counters.unroutedTransfers == 1)
    }
}

/// Found by the broker fuzzer: a stale FINAL naming another job under a lease the worker holds.
@Suite struct BrokerFuzzRegressions {
    @Test func aStaleFinalAboutAnotherJobDoesNotFreeTheLeaseOfTheJobThatRuns() throws {
        var h = BrokerHarness()
        h.hello("c")
        h.ready("w", slots: 1)
        let ref = try #require(BrokerHarness.assigned("w", h.submit("c", ["s/0"])).first)
        h.update("w", .final, AttemptRef(job: "s/1", attempt: 1, lease: ref.lease), seq: 2)
        #expect(h.machine.brokenInvariant() == nil)
        #expect(h.machine.workers["w"]?.cpuUsed == 1000)
        // The real result still counts.
        h.update("w", .final, ref, seq: 1)
        #expect(h.machine.counters.finished == 1)
    }

    @Test func aConnectionThatRegistersASecondWorkerIdEndsTheFirst() throws {
        var h = BrokerHarness()
        h.hello("c")
        h.ready("x", id: "w0")
        let ref = try #require(BrokerHarness.assigned("x", h.submit("c", ["s/1"])).first)
        let again = h.ready("x", id: "w5")
        #expect(h.machine.brokenInvariant() == nil)
        #expect(h.machine.workers["w0"] == nil)
        #expect(BrokerHarness.topics(again).contains("worker/w0/left"))
        // Its attempt is requeued, and given to the worker the connection now is.
        #expect(BrokerHarness.assigned("x", again).map(\.attempt) == [ref.attempt + 1])
    }
}

/// A client key cancels, and takes over by re-submitting, only jobs of its own key.
@Suite struct BrokerJobOwnership {
    func secured() -> BrokerHarness {
        var h = BrokerHarness()
        h.users = ["a": "client/alice", "b": "client/bob", "a2": "client/alice", "w": "worker/w"]
        _ = h.machine.authorize(["client/alice", "client/bob", "worker/w"], now: h.now)
        return h
    }

    @Test func anotherKeyCannotCancelOrTakeOverAJob() {
        var h = secured()
        h.hello("a", id: "alice")
        h.hello("b", id: "bob")
        h.submit("a", ["s/1"])
        let cancel = h.client("b", .cancel(request: 2, jobs: ["s/1"]))
        #expect(BrokerHarness.toClient("b", cancel).contains(.cancelled(request: 2, count: 0)))
        #expect(h.machine.jobs["s/1"] != nil)
        let takeOver = h.submit("b", ["s/1"])
        #expect(BrokerHarness.toClient("b", takeOver).contains(.submitted(request: 1, accepted: 0)))
        #expect(h.machine.jobs["s/1"]?.owner == "alice")
        #expect(h.machine.counters.refused["owner"] == 2)
    }

    /// The optimizer authorises per study by the key the broker forwards with each REQUEST.
    @Test func aRequestReachesTheOptimizerWithTheRequestersKey() {
        var h = secured()
        h.users["o"] = "optimizer/opt"
        _ = h.machine.authorize(["client/alice", "client/bob", "worker/w", "optimizer/opt"], now: h.now)
        h.client("o", .hello(HelloInfo(client: "opt", name: "optimizer", services: [ServiceName.optimizer])))
        h.hello("b", id: "bob")
        let forwarded = h.client("b", .request(request: 3, service: ServiceName.optimizer, body: Array(#"{"op":"status"}"#.utf8)))
        #expect(BrokerHarness.toClient("o", forwarded) == [.request(request: 3, from: "bob", body: Array(#"{"op":"status"}"#.utf8), key: "client/bob")])
    }

    @Test func anotherClientOfTheSameKeyMayCancel() {
        var h = secured()
        h.hello("a", id: "alice")
        h.hello("a2", id: "alice-2")
        h.submit("a", ["s/1"])
        let cancel = h.client("a2", .cancel(request: 2, jobs: ["s/1"]))
        #expect(BrokerHarness.toClient("a2", cancel).contains(.cancelled(request: 2, count: 1)))
    }
}

/// Worker pools: a job that requires labels runs only on workers carrying them all.
@Suite struct BrokerWorkerPools {
    func ready(_ h: inout BrokerHarness, _ id: String, labels: [String]?) {
        h.worker(id, .ready(ReadyInfo(worker: id, slots: 2, heartbeatMs: 1000, liveness: 3, host: "h", pid: 1, version: "t",
                                      labels: labels)))
    }

    @Test func aTrustedStudysJobsRunOnlyOnTrustedWorkers() {
        var h = BrokerHarness()
        h.hello("c")
        ready(&h, "untrusted", labels: nil)
        ready(&h, "other", labels: ["gpu"])
        let spec = JobSpec(command: ["true"], workerLabels: ["trusted"]).payload
        let waiting = h.submit("c", ["t/1", "t/2"], spec: spec)
        #expect(BrokerHarness.assigned("untrusted", waiting).isEmpty && BrokerHarness.assigned("other", waiting).isEmpty)
        #expect(String(decoding: h.machine.unsatisfiableDocument(), as: UTF8.self).contains("t/1"))
        ready(&h, "trusted", labels: ["trusted", "gpu"])
        #expect(BrokerHarness.assigned("trusted", h.log).map(\.job).sorted() == ["t/1", "t/2"])
        // Jobs without labels still run anywhere.
        let open = h.submit("c", ["o/1"])
        #expect(!BrokerHarness.assigned("untrusted", open).isEmpty || !BrokerHarness.assigned("other", open).isEmpty)
    }
}

/// Every refusal is counted by reason and logged, a few lines per reason per interval, naming
/// the peer's key, the message and the reason (issue 16: refusals are visible).
@Suite struct BrokerRefusalLines {
    @Test func aRefusedReadyIsLoggedWithTheKeyTheMessageAndTheReason() {
        var h = BrokerHarness(maxWorkers: 1)
        h.users["x2"] = "worker/gpu-02"
        h.ready("x1", id: "w1")
        h.ready("x2", id: "w2")
        let lines = h.machine.takeRefusalLines()
        #expect(lines.count == 1)
        #expect(lines.first?.refusal.peer == "worker/gpu-02")
        #expect(lines.first?.refusal.message == "READY")
        #expect(lines.first?.refusal.reason == "capacity")
        #expect(lines.first?.refusal.detail.contains("max_workers 1") == true)
        #expect(h.machine.takeRefusalLines().isEmpty)
    }

    @Test func aFloodOfMalformedMessagesIsCountedInFullAndLoggedInAFewLines() {
        var h = BrokerHarness()
        for _ in 0..<1_000 { h.ready("x", id: "w", slots: 1 << 62) }
        #expect(h.machine.counters.rejected["value"] == 1_000)
        let lines = h.machine.takeRefusalLines()
        #expect(lines.count == RefusalLog().burst)
        #expect(lines.allSatisfy { $0.refusal.message == "READY" && $0.refusal.reason == "value" && $0.refusal.peer == "connection 78" })
        // Ten seconds on, the next one says how many were held back.
        h.advance(to: .seconds(10))
        h.ready("x", id: "w", slots: 1 << 62)
        #expect(h.machine.takeRefusalLines().map(\.suppressed) == [1_000 - RefusalLog().burst])
    }

    @Test func aRoleRefusalNamesTheKey() {
        var h = BrokerHarness()
        _ = h.machine.authorize(["worker/w", "client/alice"], now: h.now)
        h.users["x"] = "worker/w"
        h.client("x", .query(request: 1, body: Array(#"{"what":"status"}"#.utf8)))
        let line = h.machine.takeRefusalLines().first
        #expect(line?.refusal.peer == "worker/w")
        #expect(line?.refusal.message == "QUERY")
        #expect(line?.refusal.reason == "role")
        #expect(h.machine.counters.refused["role"] == 1)
    }
}
