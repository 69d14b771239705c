import Foundation
import LoomCheckpoint
import LoomModel
import LoomStore
import LoomWire

/// The machine's edge to a `StudyStore` (SQLite or in-memory): reading what it is rebuilt from,
/// committing a turn's writes, and answering the read-only requests and FETCHes it leaves to the
/// service. Used by `OptimizerService` and by anything else that runs the machine (a simulator
/// with an in-memory store as its disk).
extension StoredState {
    /// What `store` holds that a machine is rebuilt from (see `StoredState`'s fields).
    public static func read(from store: any StudyStore, blobs: [String] = []) throws(StoreError) -> StoredState {
        var state = StoredState(studies: try store.studies(), blobs: blobs)
        for study in state.studies where study.state != .running {
            state.endedTrialCounts[study.id] = try store.trialCounts(study: study.id).values.reduce(0, +)
        }
        for study in state.studies where study.state == .running {
            let trials = try store.trials(study: study.id)
            state.trials += trials
            let scheduler = (try? SpecParser.parse(study.specText, file: "\(study.id).yaml"))?.scheduler
            let fifo = scheduler == nil || scheduler?.kind == .fifo
            // Asked trials are the scheduler's when it only stops trials (`StudyDriver+Asks`).
            let asksScheduled = scheduler?.onlyStops ?? false
            for trial in trials {
                let unfinished = !trial.state.isFinished
                if unfinished { state.attempts += try store.attempts(study: study.id, trial: trial.number) }
                if unfinished || (!fifo && (trial.source != "ask" || asksScheduled)) {
                    state.reports += try store.reports(study: study.id, trial: trial.number)
                }
            }
        }
        return state
    }
}

extension StoreWrite {
    /// Applies the write; returns the blobs a `keepCheckpoint` left unreferenced.
    public func apply(to store: any StudyStore) throws(StoreError) -> [String] {
        switch self {
        case .createStudy(let study): try store.createStudy(study)
        case .updateStudy(let study): try store.updateStudy(study)
        case .insertTrial(let trial): try store.insertTrial(trial)
        case .updateTrial(let trial): try store.updateTrial(trial)
        case .recordAttempt(let attempt): try store.recordAttempt(attempt)
        case .recordReport(let report): try store.recordReport(report)
        case .recordResult(let trial, let attempt): try store.recordResult(trial: trial, attempt: attempt)
        case .keepCheckpoint(let checkpoint, let report, let keep):
            guard let index = store as? any CheckpointIndex else {
                try store.recordReport(report)
                return []
            }
            return try index.keepCheckpoint(checkpoint, report: report, keep: keep)
        case .recordWorkerEvent(let event): try store.recordWorkerEvent(event)
        case .recordLogLines(let lines):
            guard let logs = store as? any TrialLogStore else { return [] }
            try logs.recordLogLines(lines)
        }
        return []
    }

    /// Applies `writes` in one `store.batch`: all commit together or none does. A best-effort
    /// write that fails is skipped (its error in `skipped`); any other failure rolls the batch
    /// back and is thrown.
    public static func commit(_ writes: [StoreWrite], to store: any StudyStore) throws -> (garbage: [String], skipped: [String]) {
        guard !writes.isEmpty else { return ([], []) }
        return try store.batch {
            var garbage: [String] = []
            var skipped: [String] = []
            for write in writes {
                do {
                    garbage += try write.apply(to: store)
                } catch where write.isBestEffort {
                    skipped.append("\(error)")
                }
            }
            return (garbage, skipped)
        }
    }
}

/// Answers to the read-only REQUESTs the machine leaves to the service (`ReadQuery`), built from
/// the committed store.
public enum OptimizerQueries {
    /// The REPLY body of `query`; `logFeedPosition` is stamped on a `logs` answer (everything the
    /// log subscription delivered up to it is stored).
    public static func answer(_ query: ReadQuery, store: any StudyStore, logFeedPosition: UInt64 = 0) -> Frame {
        do {
            return StudyDocuments.encode(try document(query.body, requester: query.requester, store: store, logFeedPosition: logFeedPosition))
        } catch let error as RequestError {
            return StudyDocuments.encode(.object(error.details.merging(["error": .string(error.description)]) { $1 }))
        } catch {
            return StudyDocuments.error("\(error)")
        }
    }

    static func document(_ r: OptimizerRequest, requester: String? = nil, store: any StudyStore, logFeedPosition: UInt64) throws -> JSONValue {
        switch r.op {
        case "studies":
            // The machine checked the key against any study a request names; a listing names
            // none, so it is narrowed here, from the records it lists.
            return try StudyDocuments.studies(store, visibleTo: requester)
        case "trials":
            return try StudyDocuments.trials(try study(r, store: store).id, store: store)
        case "export":
            return try StudyDocuments.trials(try study(r, store: store).id, store: store, reports: true)
        case "logs":
            guard case .object(var doc) = try StudyDocuments.logs(try r.logQuery(), store: store) else { return .null }
            doc["feed_position"] = .number(Double(logFeedPosition))
            return .object(doc)
        case "tell":
            // A tell of a study that ended: only a resend of the tell that finished its trial.
            let s = try study(r, store: store)
            let state = TrialState(rawValue: r.state ?? "complete") ?? .complete
            guard let number = r.trial, let trial = try store.trial(study: s.id, number: number),
                  OptimizerMachine.isResend(r, state: state, of: trial) else {
                throw RequestError(description: "tell: study \(s.id) is \(s.state.rawValue); it takes no more results",
                                   details: ["finished": .string(s.state.rawValue)])
            }
            return .object(["study": .string(s.id), "trial": StudyDocuments.trial(trial), "duplicate": .bool(true)])
        default:
            // `status` of a study the machine does not drive, and `cancel`'s answer.
            return try StudyDocuments.summary(try study(r, store: store), store: store)
        }
    }

    static func study(_ r: OptimizerRequest, store: any StudyStore) throws -> StudyRecord {
        guard let id = r.study else { throw RequestError(description: "\(r.op): no \"study\" given") }
        guard let study = try store.study(id) else { throw RequestError(description: "no study \"\(id)\"") }
        return study
    }
}

/// Answers workers' FETCHes (restores) from the checkpoint index and the blob directory.
public enum CheckpointServer {
    /// The CHUNK answering `fetch`: the newest checkpoint of a job whose blobs are all present,
    /// or a blob range.
    public static func answer(_ fetch: Transfer, index: (any CheckpointIndex)?, blobs: (any CheckpointBlobs)?) -> Transfer {
        guard let body = try? JSONDecoder().decode(FetchBody.self, from: Data(fetch.body)) else {
            return fetch.answer(ChunkHeader(error: "FETCH body is not {\"op\": …}"))
        }
        switch body.op {
        case FetchBody.latest:
            let job = body.job ?? fetch.job
            guard let blobs, let index, let (study, number) = OptimizerMachine.parseJobID(job) else {
                return fetch.answer(ChunkHeader(none: true))
            }
            do {
                guard let newest = try index.checkpoints(study: study, trial: number).first(where: { record in
                    record.files.allSatisfy { blobs.contains($0.sha256) }
                }) else { return fetch.answer(ChunkHeader(none: true)) }
                return fetch.answer(ChunkHeader(checkpoint: CheckpointManifest(job: job, attempt: UInt32(newest.attempt), seq: newest.seq,
                                                                               files: newest.files)))
            } catch {
                return fetch.answer(ChunkHeader(error: "cannot read the checkpoint index: \(error)"))
            }
        case FetchBody.blob:
            guard let blobs else { return fetch.answer(ChunkHeader(error: "this optimizer keeps no checkpoints")) }
            guard let sha = body.sha256, let offset = body.offset, let length = body.length else {
                return fetch.answer(ChunkHeader(error: "FETCH blob needs sha256, offset and length"))
            }
            do {
                let data = try blobs.read(sha, offset: offset, length: min(length, 16 << 20))
                return fetch.answer(ChunkHeader(sha256: sha, offset: offset), data: data)
            } catch {
                return fetch.answer(ChunkHeader(error: error.description))
            }
        default:
            return fetch.answer(ChunkHeader(error: "unknown FETCH op \"\(body.op)\"; expected \"latest\" or \"blob\""))
        }
    }
}

/// Where the optimizer's checkpoint blobs live: a `BlobDirectory` on disk, or a simulator's disk.
/// Partial files are named by the machine (`DiskAction`).
public protocol CheckpointBlobs: AnyObject {
    func contains(_ sha256: String) -> Bool
    func read(_ sha256: String, offset: Int64, length: Int) throws(CheckpointError) -> [UInt8]
    /// Writes `bytes` at `offset` of the partial `name`, creating it if needed.
    func write(_ bytes: [UInt8], at offset: Int64, intoPartialNamed name: String) throws(CheckpointError)
    /// Verifies that the partial `name` (empty if never written) hashes to `sha256` and makes it
    /// that blob.
    func commit(partialNamed name: String, sha256: String) throws(CheckpointError)
    func discard(partialNamed name: String)
    func remove(_ sha256: String)
    /// Every stored blob's hash (what a restarted machine starts from).
    func allBlobs() -> [String]
}

extension BlobDirectory: CheckpointBlobs {
    public func commit(partialNamed name: String, sha256: String) throws(CheckpointError) {
        try write([], at: 0, intoPartialNamed: name)
        try commit(partial: partial(named: name), sha256: sha256)
    }

    public func discard(partialNamed name: String) { discard(partial: partial(named: name)) }
}

/// Performs the machine's blob writes.
extension DiskAction {
    /// Performs the action; returns what the machine must hear of it.
    public func perform(on blobs: any CheckpointBlobs) -> DiskOutcome? {
        switch self {
        case .writeChunk(let upload, let partial, let offset, let bytes):
            do {
                try blobs.write(bytes, at: offset, intoPartialNamed: partial)
                return nil
            } catch {
                return .failed(upload: upload, reason: "\(error)")
            }
        case .commitBlob(let upload, let partial, let sha):
            do {
                try blobs.commit(partialNamed: partial, sha256: sha)
                return .committed(upload: upload, sha256: sha)
            } catch {
                return .failed(upload: upload, reason: "\(error)")
            }
        case .discardPartial(let partial):
            blobs.discard(partialNamed: partial)
            return nil
        case .deleteBlobs(let shas):
            for sha in shas { blobs.remove(sha) }
            return nil
        }
    }
}
