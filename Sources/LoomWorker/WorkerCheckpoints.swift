import Foundation
import LoomCheckpoint
import LoomWire
import Logging

/// How a worker's checkpoints travel.
public struct CheckpointSettings: Sendable {
    /// A directory every worker mounts: checkpoints are written and read there and nothing
    /// travels. Nil: checkpoints are shipped to the optimizer through the broker.
    public var sharedDirectory: String?
    /// A checkpoint directory holding more is not shipped (the CHECKPOINT update says why).
    public var maxBytes: Int64
    /// Chunk size, window and retries of restores.
    public var transfer: ChunkTransfer.Config
    /// How long an attempt may wait for its checkpoint before it fails (and is retried).
    public var restoreTimeout: Duration
    /// How long to wait for the answer to a `latest` FETCH before asking again.
    public var manifestTimeout: Duration

    public init(sharedDirectory: String? = nil, maxBytes: Int64 = 1 << 30, transfer: ChunkTransfer.Config = ChunkTransfer.Config(),
                restoreTimeout: Duration = .seconds(120), manifestTimeout: Duration = .seconds(2)) {
        self.sharedDirectory = sharedDirectory
        self.maxBytes = maxBytes
        self.transfer = transfer
        self.restoreTimeout = restoreTimeout
        self.manifestTimeout = manifestTimeout
    }
}

/// The worker's end of checkpoints that travel: snapshots of what trials announce, answers to
/// the optimizer's FETCHes for their blobs, and restores before a retried attempt starts.
///
/// **Ownership.** Blobs live in `<work dir>/.blobs` (a `BlobDirectory`; no job directory starts
/// with a dot), wiped at start: the
/// snapshots they belong to died with the previous process. A snapshot's blobs are kept while its
/// CHECKPOINT update is unacknowledged (the optimizer may still fetch them) and, for the newest
/// snapshot of each job this worker holds an attempt of, after that too; `collectGarbage` drops
/// the rest.
/// **Restores.** An attempt with a number above 1, or whose spec names `restore_from`, first asks
/// the optimizer for the newest stored checkpoint (FETCH `latest`); when it is newer than what the
/// job's checkpoint directory holds here, the missing blobs are fetched (a `ChunkTransfer`), the
/// directory is rebuilt from them, and only then does the trial start.
/// **Threading.** Used from the agent's loop thread only.
final class WorkerCheckpoints {
    /// What the agent does next.
    enum Outcome: Equatable {
        /// Send a FETCH (or CHUNK) to the broker.
        case send(Transfer)
        /// The attempt's checkpoint directory is ready: start the trial.
        case launch(AttemptRef, payload: Frame)
        /// The checkpoint could not be restored: the attempt fails without starting.
        case fail(AttemptRef, error: String)
    }

    /// A snapshot: the CHECKPOINT update it belongs to and the blobs it references.
    struct Snapshot {
        var lease: UInt64
        var seq: UInt64
        var blobs: [String]
    }

    struct Restore {
        enum Phase {
            case manifest(request: UInt64, sentAt: ContinuousClock.Instant)
            case blobs(CheckpointManifest, ChunkTransfer, partials: [String: String])
        }
        var ref: AttemptRef
        var payload: Frame
        var source: String
        var deadline: ContinuousClock.Instant
        var phase: Phase
    }

    let settings: CheckpointSettings
    let workDir: String
    let blobs: BlobDirectory?
    let logger: Logger
    var restores: [UInt64: Restore] = [:]
    /// Per job, its retained snapshots, oldest first.
    var snapshots: [String: [Snapshot]] = [:]
    /// Per job, the stamps of its last snapshot's files (unchanged files are not read again).
    var stamps: [String: CheckpointSnapshot.Stamps] = [:]
    var nextRequest: UInt64 = 1

    init(workDir: String, settings: CheckpointSettings, logger: Logger) {
        self.workDir = workDir
        self.settings = settings
        self.logger = logger
        if settings.sharedDirectory == nil {
            let root = workDir + "/.blobs"
            try? FileManager.default.removeItem(atPath: root)
            do {
                blobs = try BlobDirectory(root: root)
            } catch {
                logger.error("cannot create the blob directory; checkpoints will not travel", metadata: ["error": "\(error)"])
                blobs = nil
            }
        } else {
            blobs = nil
        }
    }

    func paths(_ ref: AttemptRef) -> AttemptPaths {
        AttemptPaths(workDir: workDir, ref: ref, sharedCheckpoints: settings.sharedDirectory)
    }

    // MARK: - Snapshots

    /// The trial announced a checkpoint that will be CHECKPOINT update `seq`: snapshot the
    /// directory and return the payload with its manifest (or with `checkpoint_error`).
    func checkpointed(_ ref: AttemptRef, payload: Frame, seq: UInt64) -> Frame {
        guard let blobs else { return payload }
        let paths = paths(ref)
        guard var object = (try? JSONValue(parsing: payload))?.object else { return payload }
        do {
            let started = ContinuousClock.now
            let files = try CheckpointSnapshot.take(directory: paths.checkpointDir, into: blobs, maxBytes: settings.maxBytes,
                                                    stamps: &stamps[ref.job, default: [:]])
            logger.debug("checkpoint snapshotted", metadata: [
                "trial.id": "\(ref.job)", "checkpoint.seq": "\(seq)", "checkpoint.files": "\(files.count)",
                "checkpoint.bytes": "\(files.reduce(0) { $0 + $1.size })", "checkpoint.duration": "\(started.duration(to: .now))",
            ])
            let manifest = CheckpointManifest(job: ref.job, attempt: ref.attempt, seq: seq, files: files)
            CheckpointOrigin(job: ref.job, attempt: ref.attempt, seq: seq).write(to: paths.checkpointOriginFile)
            snapshots[ref.job, default: []].append(Snapshot(lease: ref.lease, seq: seq, blobs: files.map(\.sha256)))
            object[CheckpointManifest.payloadKey] = (try? JSONValue(parsing: JSONCoding.encode(manifest)))
        } catch {
            logger.warning("checkpoint not shipped", metadata: ["trial.id": "\(ref.job)", "error": "\(error)"])
            object["checkpoint_error"] = .string(error.description)
        }
        return JSONCoding.encode(JSONValue.object(object))
    }

    /// Drops the snapshots no one needs: those of jobs this worker no longer holds an attempt
    /// of, and acknowledged ones that are not their job's newest; deletes the blobs that only
    /// they referenced. `unacknowledged(lease, seq)` says whether a CHECKPOINT still awaits its ACK.
    func collectGarbage(heldJobs: Set<String>, unacknowledged: (UInt64, UInt64) -> Bool) {
        var candidates: Set<String> = []
        for (job, list) in snapshots {
            guard heldJobs.contains(job) else {
                candidates.formUnion(list.flatMap(\.blobs))
                snapshots[job] = nil
                stamps[job] = nil
                continue
            }
            let kept = list.enumerated().filter { $0.offset == list.count - 1 || unacknowledged($0.element.lease, $0.element.seq) }.map(\.element)
            guard kept.count < list.count else { continue }
            candidates.formUnion(list.flatMap(\.blobs))
            snapshots[job] = kept
        }
        guard !candidates.isEmpty else { return }
        let live = Set(snapshots.values.joined().flatMap(\.blobs))
        for hash in candidates where !live.contains(hash) { blobs?.remove(hash) }
    }

    /// Every blob a retained snapshot references.
    var retainedBlobs: Set<String> { Set(snapshots.values.joined().flatMap(\.blobs)) }

    /// The answer to the optimizer's FETCH for a blob range.
    func serve(_ fetch: Transfer) -> Transfer {
        guard let body = try? JSONDecoder().decode(FetchBody.self, from: Data(fetch.body)) else {
            return fetch.answer(ChunkHeader(error: "FETCH body is not a FetchBody"))
        }
        guard body.op == FetchBody.blob, let sha = body.sha256, let offset = body.offset, let length = body.length else {
            return fetch.answer(ChunkHeader(error: "a worker answers only {\"op\": \"blob\", \"sha256\", \"offset\", \"length\"}"))
        }
        guard let blobs else { return fetch.answer(ChunkHeader(error: "this worker does not ship checkpoints")) }
        do {
            let data = try blobs.read(sha, offset: offset, length: min(length, 16 << 20))
            return fetch.answer(ChunkHeader(sha256: sha, offset: offset), data: data)
        } catch {
            return fetch.answer(ChunkHeader(error: error.description))
        }
    }
}
