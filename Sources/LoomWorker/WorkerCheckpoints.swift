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
    /// How long a `restore_from` attempt (a PBT exploit) keeps asking when the other job has no
    /// stored checkpoint yet (its upload may still run) before it starts from its own directory.
    public var donorWait: Duration

    public init(sharedDirectory: String? = nil, maxBytes: Int64 = 1 << 30, transfer: ChunkTransfer.Config = ChunkTransfer.Config(),
                restoreTimeout: Duration = .seconds(120), manifestTimeout: Duration = .seconds(2), donorWait: Duration = .seconds(30)) {
        self.sharedDirectory = sharedDirectory
        self.maxBytes = maxBytes
        self.transfer = transfer
        self.restoreTimeout = restoreTimeout
        self.manifestTimeout = manifestTimeout
        self.donorWait = donorWait
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
/// job's checkpoint directory holds here, the missing blobs are fetched (a `ChunkTransfer`), then
/// verified and the directory rebuilt from them off the loop thread (`restoreJob`), and only then
/// does the trial start.
/// **Threading.** Used from the agent's loop thread only, except the jobs `snapshotJob` hands out,
/// which run on the agent's `BackgroundWork` thread and touch only the blob directory.
final class WorkerCheckpoints {
    /// What the agent does next.
    enum Outcome: Equatable {
        /// Send a FETCH (or CHUNK) to the broker.
        case send(Transfer)
        /// The attempt's checkpoint directory is ready: start the trial.
        case launch(AttemptRef, payload: Frame)
        /// The checkpoint could not be restored: the attempt fails without starting.
        case fail(AttemptRef, error: String)
        /// Every blob arrived: run `restoreJob(lease:)` off the loop thread (verify and commit the
        /// received blobs, rebuild the checkpoint directory) and hand its result to `restoreFinished`.
        case rebuild(AttemptRef)
    }

    /// Takes a snapshot of a checkpoint directory into the blob directory, off the loop thread:
    /// `CheckpointSnapshot.take`, or a stand-in in tests.
    typealias Snapshotter = @Sendable (_ directory: String, _ blobs: BlobDirectory, _ maxBytes: Int64,
                                       _ stamps: inout CheckpointSnapshot.Stamps) throws(CheckpointError) -> [CheckpointFile]

    /// What a snapshot job hands back to the loop thread.
    struct SnapshotResult: Sendable {
        var ref: AttemptRef
        /// The metric line that announced the checkpoint.
        var metrics: Frame
        var outcome: Result<[CheckpointFile], CheckpointError>
        /// The stamps of the files read (the next snapshot of the job skips unchanged ones).
        var stamps: CheckpointSnapshot.Stamps
        var duration: Duration
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
            /// Every blob arrived; the directory is being rebuilt off the loop thread.
            case rebuilding(CheckpointManifest, partials: [String: String])
        }
        var ref: AttemptRef
        var payload: Frame
        var source: String
        var deadline: ContinuousClock.Instant
        var phase: Phase
        /// When the restore began.
        var started: ContinuousClock.Instant
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
    let snapshotter: Snapshotter
    /// Snapshot jobs handed out by `snapshotJob` and not yet finished.
    private(set) var snapshotsInFlight = 0
    /// Rebuild jobs handed out by `restoreJob` and not yet finished.
    var rebuildsInFlight = 0

    init(workDir: String, settings: CheckpointSettings, logger: Logger,
         snapshotter: @escaping Snapshotter = { directory, blobs, maxBytes, stamps throws(CheckpointError) in
             try CheckpointSnapshot.take(directory: directory, into: blobs, maxBytes: maxBytes, stamps: &stamps)
         }) {
        self.workDir = workDir
        self.settings = settings
        self.logger = logger
        self.snapshotter = snapshotter
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

    /// The job that snapshots the attempt's checkpoint directory, to run off the loop thread
    /// (`BackgroundWork`); nil when checkpoints do not travel (the CHECKPOINT carries the
    /// metrics alone). The job touches only the directory, the blob directory and the stamps it
    /// was given; `snapshotFinished` takes its result back on the loop thread.
    func snapshotJob(_ ref: AttemptRef, metrics: Frame) -> (@Sendable () -> SnapshotResult)? {
        guard let blobs else { return nil }
        let directory = paths(ref).checkpointDir
        let maxBytes = settings.maxBytes
        let snapshotter = self.snapshotter
        // The stamps go with the job and come back with its result; none are lost to a job that
        // overlaps (two attempts of one job): it only reads every file again.
        let previous = stamps.removeValue(forKey: ref.job) ?? [:]
        snapshotsInFlight += 1
        return {
            let started = ContinuousClock.now
            var stamps = previous
            let outcome: Result<[CheckpointFile], CheckpointError>
            do throws(CheckpointError) {
                outcome = .success(try snapshotter(directory, blobs, maxBytes, &stamps))
            } catch {
                outcome = .failure(error)
            }
            return SnapshotResult(ref: ref, metrics: metrics, outcome: outcome, stamps: stamps, duration: started.duration(to: .now))
        }
    }

    /// Takes back a finished snapshot (loop thread): records it for garbage collection and the
    /// attempt's origin file, and returns the CHECKPOINT payload, which will be update `seq` — the
    /// metrics with the manifest, or with `checkpoint_error`.
    func snapshotFinished(_ result: SnapshotResult, seq: UInt64?) -> Frame {
        snapshotsInFlight -= 1
        let ref = result.ref
        guard var object = (try? JSONValue(parsing: result.metrics))?.object else { return result.metrics }
        switch result.outcome {
        case .success(let files):
            stamps[ref.job] = result.stamps
            guard let seq else { return result.metrics }
            logger.debug("checkpoint snapshotted", metadata: [
                "trial.id": "\(ref.job)", "checkpoint.seq": "\(seq)", "checkpoint.files": "\(files.count)",
                "checkpoint.bytes": "\(files.reduce(0) { $0 + $1.size })", "checkpoint.duration": "\(result.duration)",
            ])
            let manifest = CheckpointManifest(job: ref.job, attempt: ref.attempt, seq: seq, files: files)
            var label = object
            label[CheckpointManifest.payloadKey] = nil
            CheckpointOrigin(job: ref.job, attempt: ref.attempt, seq: seq, metrics: .object(label))
                .write(to: paths(ref).checkpointOriginFile)
            snapshots[ref.job, default: []].append(Snapshot(lease: ref.lease, seq: seq, blobs: files.map(\.sha256)))
            object[CheckpointManifest.payloadKey] = (try? JSONValue(parsing: JSONCoding.encode(manifest)))
        case .failure(let error):
            logger.warning("checkpoint not shipped", metadata: ["trial.id": "\(ref.job)", "error": "\(error)"])
            object["checkpoint_error"] = .string(error.description)
        }
        return JSONCoding.encode(JSONValue.object(object))
    }

    /// Drops the snapshots no one needs: those of jobs this worker no longer holds an attempt
    /// of, and acknowledged ones that are not their job's newest; deletes the blobs that only
    /// they referenced. `unacknowledged(lease, seq)` says whether a CHECKPOINT still awaits its ACK.
    /// Does nothing while a snapshot is being taken or a directory rebuilt: either may be using a
    /// blob it found present.
    func collectGarbage(heldJobs: Set<String>, unacknowledged: (UInt64, UInt64) -> Bool) {
        guard snapshotsInFlight == 0, rebuildsInFlight == 0 else { return }
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
