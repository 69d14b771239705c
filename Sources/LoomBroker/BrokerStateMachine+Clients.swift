import Foundation
import LoomWire

/// Clients: HELLO, heartbeats, their requests, and the status document.
extension BrokerStateMachine {
    mutating func clientMessage(_ message: ClientMessage, from identity: Frame, now: ContinuousClock.Instant) -> [BrokerAction] {
        if case .hello(let info) = message { return hello(info, from: identity, now: now) }
        guard case .client(let id)? = peers[identity], clients[id]?.identity == identity else {
            counters.unregistered += 1
            if case .disconnect = message { return [] }
            // Unknown connection (this broker restarted, or forgot the client): say HELLO again.
            // A dropped SUBMIT is not lost: the client re-submits its outstanding jobs on WELCOME.
            return [.send(identity: identity, frames: BrokerToClient.disconnect(reason: DisconnectReason.reregister).frames)]
        }
        clients[id]?.lastHeard = now
        switch message {
        case .hello, .heartbeat: return []
        case .submit(let request, let jobs): return submit(jobs, request: request, client: id, now: now)
        case .cancel(let request, let jobs, let reason): return cancel(jobs, request: request, client: id, reason: reason, now: now)
        case .query(let request, let body): return query(body, request: request, client: id, now: now)
        case .request(let request, let service, let body):
            return forwardRequest(request, service: service, body: body, from: id, now: now)
        case .respond(let request, let to, let body):
            // Answers go to whichever connection said HELLO with that id last; a requester that
            // left meanwhile simply does not get it (it timed out).
            return sendIfConnected(toClient: to, BrokerToClient.reply(request: request, body: body).frames, now: now)
        case .ack(let job, let lease, let seq): return clientAck(job: job, lease: lease, seq: seq, now: now)
        case .transfer(let transfer): return relay(transfer, fromClient: id, now: now)
        case .disconnect:
            peers[identity] = nil
            clientLeft(id)
            return []
        }
    }

    /// The feed's endpoints, once bound: every WELCOME to a client announces them, so clients
    /// find the feed from the broker's endpoint alone.
    public mutating func announceFeed(feed: String, replay: String) {
        config.feedEndpoints = (feed, replay)
    }

    /// A client's connection is gone (DISCONNECT, silence, unreachable, revoked). Its record is
    /// kept while it owns jobs (their results wait for it) or provides a service (its id stays
    /// bound to its key); otherwise it is forgotten, so client records are bounded by the
    /// connected clients and the owners of live jobs, not by every HELLO ever said.
    mutating func clientLeft(_ id: String) {
        guard clients[id] != nil else { return }
        clients[id]?.identity = nil
        departed.append(id)
    }

    /// Forgets the departed clients that own no job and provide no service (once per sweep: one
    /// pass over the jobs, only when a client left).
    mutating func forgetDepartedClients() {
        guard !departed.isEmpty else { return }
        let owners = Set(jobs.values.compactMap(\.owner))
        let providers = Set(services.values.joined())
        for id in departed where clients[id]?.identity == nil && !owners.contains(id) && !providers.contains(id) {
            clients[id] = nil
        }
        departed.removeAll()
    }

    /// HELLO: the client id now routes to this connection; undelivered results are sent again.
    mutating func hello(_ info: HelloInfo, from identity: Frame, now: ContinuousClock.Instant) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        if case .worker(let workerID)? = peers[identity] {
            // A connection that was a worker's now speaks as a client: the worker is gone. Its
            // actions (the feed events, with their sequence numbers, and the requeues) must all be
            // carried out: a feed event dropped here leaves a hole in the journal's sequence.
            actions += removeWorker(workerID, reason: "left", now: now)
            actions += dispatch(now: now)
        }
        if clients[info.client] == nil && clients.count >= config.maxClients {
            let text = "HELLO refused: this broker holds \(clients.count) clients, its limit (max_clients \(config.maxClients))"
            refuse("capacity", from: identity, message: "HELLO", detail: text, now: now)
            return [.send(identity: identity, frames: BrokerToClient.error(text).frames)]
        }
        if let old = clients[info.client]?.identity, old != identity { peers[old] = nil }
        clients[info.client] = ClientRecord(id: info.client, name: info.name, identity: identity, lastHeard: now, lastSent: now)
        peers[identity] = .client(info.client)
        for service in info.services ?? [] where !(services[service] ?? []).contains(info.client) {
            services[service, default: []].append(info.client)
        }
        let welcome = WelcomeInfo(broker: config.brokerID, heartbeatMs: Int(config.clientHeartbeat.milliseconds),
                                  liveness: config.liveness, feed: config.feedEndpoints?.feed, replay: config.feedEndpoints?.replay)
        actions.append(send(toClient: info.client, BrokerToClient.welcome(welcome).frames, now: now))
        // In job order, so what the broker sends never depends on dictionary order (a seed of
        // the simulation replays exactly).
        // Jobs adopted from returning workers before their client said HELLO are claimed by the
        // client that submitted them (the feed journal names it).
        for (id, job) in jobs where job.owner == nil && results.entry(of: id)?.owner == info.client {
            jobs[id]?.owner = info.client
        }
        for job in jobs.values.filter({ $0.owner == info.client }).sorted(by: { $0.id < $1.id }) {
            if case .delivering(let update) = job.state { actions += deliver(update, to: info.client, now: now) }
        }
        return actions
    }

    /// Heartbeats to clients; a silent client loses its connection (not its jobs).
    mutating func sweepClients(now: ContinuousClock.Instant) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        for id in clients.keys.sorted() {
            guard let client = clients[id], let identity = client.identity else { continue }
            if now >= client.lastHeard + config.clientHeartbeat * config.liveness {
                peers[identity] = nil
                clientLeft(id)
            } else if now >= client.lastSent + config.clientHeartbeat {
                actions.append(send(toClient: id, BrokerToClient.heartbeat.frames, now: now))
            }
        }
        forgetDepartedClients()
        return actions
    }

    mutating func send(toClient id: String, _ frames: [Frame], now: ContinuousClock.Instant) -> BrokerAction {
        clients[id]?.lastSent = now
        return .send(identity: clients[id]?.identity ?? [], frames: frames)
    }

    /// Sends to a client when it is connected; nothing otherwise (workers resend).
    mutating func sendIfConnected(toClient id: String, _ frames: [Frame], now: ContinuousClock.Instant) -> [BrokerAction] {
        guard clients[id]?.identity != nil else { return [] }
        return [send(toClient: id, frames, now: now)]
    }

    /// ENDED to the owner of `lease`'s job: that attempt ended without a result of its own
    /// (`EndedReason`). Not kept for a client that is away: its next attempt's STARTED, or the
    /// job's result, tells it as much.
    mutating func attemptEnded(_ lease: Lease, id: UInt64, reason: String, detail: String,
                               now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let owner = jobs[lease.job]?.owner else { return [] }
        let ref = AttemptRef(job: lease.job, attempt: lease.attempt, lease: id)
        return sendIfConnected(toClient: owner, BrokerToClient.ended(ref, reason: reason, detail: detail).frames, now: now)
    }

    /// REQUEST: forwarded to a connected provider of `service` (the one that said HELLO last),
    /// or answered at once with a REPLY whose body is `{"error": …, "unavailable": true}`.
    mutating func forwardRequest(_ request: UInt64, service: String, body: Frame, from client: String,
                                 now: ContinuousClock.Instant) -> [BrokerAction] {
        guard let provider = services[service]?.last(where: { clients[$0]?.identity != nil }) else {
            var error = JSONObjectWriter()
            error.add("error", "no \(service) is connected to this broker")
            error.add("unavailable", true)
            return [send(toClient: client, BrokerToClient.reply(request: request, body: error.finish()).frames, now: now)]
        }
        // The provider learns the requester's key, so it can authorise per study (Docs/security.md).
        let key = clients[client]?.userID
        return [send(toClient: provider, BrokerToClient.request(request: request, from: client, body: body, key: key).frames, now: now)]
    }

    // MARK: - Queries

    /// QUERY bodies: `{"what":"status"}` or `{"what":"jobs","ids":[…]}`.
    struct QueryBody: Decodable {
        var what: String
        var ids: [String]?
    }

    mutating func query(_ body: Frame, request: UInt64, client: String, now: ContinuousClock.Instant) -> [BrokerAction] {
        let reply: Frame
        do {
            let q = try JSONDecoder().decode(QueryBody.self, from: Data(body))
            switch q.what {
            case "status": reply = statusDocument(now: now)
            case "jobs": reply = jobsDocument(q.ids ?? [])
            default:
                return [send(toClient: client, BrokerToClient.error("QUERY: unknown \"what\": \"\(q.what)\"; expected \"status\" or \"jobs\"").frames, now: now)]
            }
        } catch {
            return [send(toClient: client, BrokerToClient.error("QUERY: body is not {\"what\": …}: \(JSONCoding.describe(error))").frames, now: now)]
        }
        return [send(toClient: client, BrokerToClient.reply(request: request, body: reply).frames, now: now)]
    }

    /// The name of a job's state in status documents.
    static func stateName(_ state: JobRecord.State) -> String {
        switch state {
        case .held: "held"
        case .queued: "queued"
        case .running(let started): started ? "running" : "assigned"
        case .orphaned: "orphaned"
        case .delivering(let update): update.kind == .final ? "finished" : "failed"
        case .awaitingSpec: "awaiting_spec"
        }
    }

    func statusDocument(now: ContinuousClock.Instant) -> Frame {
        var byState: [String: Int] = [:]
        for job in jobs.values { byState[Self.stateName(job.state), default: 0] += 1 }
        var w = JSONObjectWriter()
        w.add("broker", config.brokerID)
        w.add("version", Int(Wire.version))
        w.add("software", config.softwareVersion)
        w.add("uptime_s", Double(startedAt.duration(to: now).milliseconds) / 1000)
        w.add("queued", (byState["queued"] ?? 0) + (byState["held"] ?? 0))
        w.add("running", (byState["running"] ?? 0) + (byState["assigned"] ?? 0) + (byState["orphaned"] ?? 0))
        w.add("delivering", (byState["finished"] ?? 0) + (byState["failed"] ?? 0))
        w.add("stopping", stopping)
        var states = JSONObjectWriter()
        for key in byState.keys.sorted() { states.add(key, byState[key]!) }
        w.addRaw("jobs", json: states.finish())
        var list: Frame = [UInt8(ascii: "[")]
        for (i, id) in workerOrder.enumerated() {
            guard let worker = workers[id] else { continue }
            if i > 0 { list.append(UInt8(ascii: ",")) }
            var o = JSONObjectWriter()
            o.add("id", id)
            o.add("host", worker.info.host)
            o.add("pid", worker.info.pid)
            o.add("slots", worker.info.slots)
            o.add("gpus", worker.info.gpus)
            o.add("used", Double(worker.cpuUsed) / 1000)
            o.add("used_gpu", Double(worker.gpuUsed) / 1000)
            o.add("heartbeat_ms", Int(worker.heartbeat.milliseconds))
            o.add("last_heard_ms", Int(worker.lastHeard.duration(to: now).milliseconds))
            o.add("slow", worker.slow)
            if !worker.labels.isEmpty { o.addRaw("labels", json: JSONCoding.encode(worker.labels.sorted())) }
            if let isolation = worker.info.isolation { o.add("isolation", isolation) }
            o.add("lateness_ms", Int((worker.lateness * 1000).rounded()))
            let running = worker.leases.sorted().compactMap { leases[$0] }.map { lease in
                lease.status == .active ? "\(lease.job)#\(lease.attempt)" : "\(lease.job)#\(lease.attempt)(\(lease.status))"
            }
            o.addRaw("running", json: JSONCoding.encode(running))
            list += o.finish()
        }
        list.append(UInt8(ascii: "]"))
        w.addRaw("workers", json: list)
        w.add("clients", clients.values.filter { $0.identity != nil }.count)
        w.addRaw("unsatisfiable", json: unsatisfiableDocument())
        w.addRaw("stragglers", json: stragglersDocument(now: now))
        w.addRaw("counters", json: countersDocument())
        return w.finish()
    }

    /// Jobs waiting for a worker that no connected worker could ever hold (their CPU or GPU share
    /// exceeds every worker's capacity), so `status` says so instead of the job waiting silently.
    /// Empty while no worker is connected: then every job simply waits for one.
    func unsatisfiableDocument() -> Frame {
        var out: Frame = [UInt8(ascii: "[")]
        guard !workers.isEmpty else { return out + [UInt8(ascii: "]")] }
        var first = true
        let largestCPU = workers.values.map(\.cpuCapacity).max() ?? 0
        let largestGPU = workers.values.map(\.gpuCapacity).max() ?? 0
        for id in Set(queue).sorted() where jobs[id]?.state == .queued {
            guard let job = jobs[id],
                  !workers.values.contains(where: { $0.couldHold(job.requirements) && job.labels.isSubset(of: $0.labels) }) else { continue }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            var o = JSONObjectWriter()
            o.add("job", id)
            o.add("cpu", Double(job.requirements.cpuMilli) / 1000)
            o.add("gpu", Double(job.requirements.gpuMilli) / 1000)
            o.add("reason", "needs cpu \(Double(job.requirements.cpuMilli) / 1000), gpu \(Double(job.requirements.gpuMilli) / 1000); "
                + "the largest connected worker has cpu \(Double(largestCPU) / 1000), gpu \(Double(largestGPU) / 1000)")
            out += o.finish()
        }
        return out + [UInt8(ascii: "]")]
    }

    func countersDocument() -> Frame {
        var c = JSONObjectWriter()
        var rejected = JSONObjectWriter()
        for key in counters.rejected.keys.sorted() { rejected.add(key, counters.rejected[key]!) }
        c.addRaw("rejected", json: rejected.finish())
        c.add("received", counters.received)
        c.add("unregistered", counters.unregistered)
        c.add("assigned", counters.assigned)
        c.add("finished", counters.finished)
        c.add("failed", counters.failed)
        c.add("requeued", counters.requeued)
        c.add("stale", counters.stale)
        c.add("fenced", counters.fenced)
        c.add("reclaimed", counters.reclaimed)
        c.add("workers_lost", counters.workersLost)
        c.add("unmatched_acks", counters.unmatchedAcks)
        c.add("unrouted_transfers", counters.unroutedTransfers)
        c.add("log_lines", counters.logLines)
        var refused = JSONObjectWriter()
        for key in counters.refused.keys.sorted() { refused.add(key, counters.refused[key]!) }
        c.addRaw("refused", json: refused.finish())
        c.add("stalled", counters.stalled)
        c.add("speculated", counters.speculated)
        c.add("superseded", counters.superseded)
        c.add("copies_lost", counters.copiesLost)
        c.add("slow_workers", counters.slowWorkers)
        c.add("heartbeats_missed", counters.heartbeatsMissed)
        return c.finish()
    }

    func jobsDocument(_ ids: [String]) -> Frame {
        var out: Frame = [UInt8(ascii: "[")]
        for (i, id) in ids.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            var o = JSONObjectWriter()
            o.add("job", id)
            if let job = jobs[id] {
                o.add("state", Self.stateName(job.state))
                o.add("attempt", job.attempt)
                if let worker = job.worker { o.add("worker", worker) }
            } else {
                o.add("state", tombstones.contains(id) ? "done" : "unknown")
            }
            out += o.finish()
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}
