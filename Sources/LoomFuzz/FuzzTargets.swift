import Foundation
import LoomCheckpoint
import LoomWire

/// The fuzz targets: each takes one input and throws `FuzzFailure` when an invariant breaks
/// (a crash, a trap or a sanitizer report is a failure too). They are plain functions, so the
/// seed corpus runs through them in the unit tests and `hyperloom-fuzz` drives them under
/// libFuzzer (Docs/security.md, "Fuzzing").
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The wire codec: every decoder on arbitrary frames; what decodes re-encodes to the same value.
    case wire
    /// The broker's state machine: a sequence of messages from several peers and clock steps,
    /// with the machine's invariants checked after each.
    case broker
    /// Checkpoint manifests: validation, totals, paths and the chunked transfer made from them.
    case manifest
    /// The feed's replay request and answers.
    case replay
    /// The study-spec parser (YAML).
    case spec
    /// The optimizer's machine: requests from several clients and workers' events relayed by
    /// the broker, with the clock and restarts, its invariants checked after each.
    case optimizer

    /// Runs one input.
    public func run(_ data: [UInt8]) throws(FuzzFailure) {
        switch self {
        case .wire: try WireFuzz.run(data)
        case .broker: try BrokerFuzz.run(data)
        case .manifest: try ManifestFuzz.run(data)
        case .replay: try ReplayFuzz.run(data)
        case .spec: SpecFuzz.run(data)
        case .optimizer: try OptimizerFuzz.run(data)
        }
    }

    /// Seed inputs: valid messages and documents the fuzzer mutates from.
    public var seeds: [[UInt8]] {
        switch self {
        case .wire: WireFuzz.seeds
        case .broker: BrokerFuzz.seeds
        case .manifest: ManifestFuzz.seeds
        case .replay: ReplayFuzz.seeds
        case .spec: SpecFuzz.seeds
        case .optimizer: OptimizerFuzz.seeds
        }
    }
}

/// The wire codec.
enum WireFuzz {
    static func run(_ data: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(data)
        let frames = input.frames()
        if let message = try? WireDecoder.inbound(frames) {
            let again: Inbound?
            switch message {
            case .worker(let m): again = try? WireDecoder.inbound(m.frames)
            case .client(let m): again = try? WireDecoder.inbound(m.frames)
            }
            guard again == message else { throw FuzzFailure("wire", "an inbound message does not survive re-encoding: \(message)") }
        }
        if let message = try? WireDecoder.brokerToWorker(frames) {
            guard (try? WireDecoder.brokerToWorker(message.frames)) == message else {
                throw FuzzFailure("wire", "a broker-to-worker message does not survive re-encoding")
            }
        }
        if let message = try? WireDecoder.brokerToClient(frames) {
            guard (try? WireDecoder.brokerToClient(message.frames)) == message else {
                throw FuzzFailure("wire", "a broker-to-client message does not survive re-encoding")
            }
        }
        if let body = frames.first { _ = try? JSONValue(parsing: body) }
    }

    static var seeds: [[UInt8]] {
        SeedMessages.all.map { frames in
            var w = FuzzInputWriter()
            w.frames(frames)
            return w.bytes
        }
    }
}

/// Checkpoint manifests.
enum ManifestFuzz {
    static func run(_ data: [UInt8]) throws(FuzzFailure) {
        guard let manifest = try? JSONDecoder().decode(CheckpointManifest.self, from: Data(data)) else { return }
        _ = manifest.bytes
        _ = manifest.blobs
        guard (try? manifest.validate()) != nil else { return }
        guard manifest.bytes >= 0, manifest.bytes <= Int64(CheckpointManifest.maxFiles) * CheckpointManifest.maxFileBytes else {
            throw FuzzFailure("manifest", "a valid manifest's total \(manifest.bytes) is out of range")
        }
        for file in manifest.files {
            let components = file.path.split(separator: "/", omittingEmptySubsequences: false)
            guard !file.path.hasPrefix("/"), !components.contains(".."), !file.path.utf8.contains(0),
                  CheckpointSnapshot.isSafe(file.path) else {
                throw FuzzFailure("manifest", "a valid manifest holds the unsafe path \(file.path.debugDescription)")
            }
        }
        try TransferFuzz.drive(manifest.blobs)
    }

    static var seeds: [[UInt8]] {
        let sha = String(repeating: "ab", count: 32)
        let manifests = [
            CheckpointManifest(job: "s/1", attempt: 1, seq: 1, files: [CheckpointFile(path: "model.pt", sha256: sha, size: 1 << 20)]),
            CheckpointManifest(job: "s/1", attempt: 2, seq: 7, files: [
                CheckpointFile(path: "a/b", sha256: sha, size: 10, executable: true),
                CheckpointFile(path: "c", sha256: String(repeating: "0", count: 64), size: 0),
            ]),
        ]
        return manifests.map { JSONCoding.encode($0) }
            + [Array(#"{"job":"j","attempt":1,"seq":1,"files":[{"path":"x","sha256":"\#(sha)","size":-5}]}"#.utf8)]
    }
}

/// The chunked transfer made from a manifest's blobs.
enum TransferFuzz {
    static let config = ChunkTransfer.Config(chunkSize: 256 << 10, window: 8)

    /// Starts a transfer of `blobs` and answers its requests for a while: it never has more
    /// than a window of requests outstanding, and never asks outside a blob.
    static func drive(_ blobs: [String: Int64]) throws(FuzzFailure) {
        let now = ContinuousClock.now
        var transfer = ChunkTransfer(blobs: blobs, config: config, firstRequest: 1)
        var pending = transfer.start(now: now)
        var steps = 0
        while steps < 256, !pending.isEmpty {
            steps += 1
            let action = pending.removeFirst()
            guard transfer.outstandingCount <= config.window else {
                throw FuzzFailure("manifest", "\(transfer.outstandingCount) requests outstanding; the window is \(config.window)")
            }
            guard case .fetch(let request, let blob, let offset, let length) = action else { continue }
            guard let size = blobs[blob], offset >= 0, length > 0, offset + Int64(length) <= size else {
                throw FuzzFailure("manifest", "asked for \(length) bytes at \(offset) of blob \(blob)")
            }
            pending += transfer.received(request: request, blob: blob, offset: offset, count: length, now: now).actions
        }
    }
}

/// The feed's replay request.
enum ReplayFuzz {
    static func run(_ data: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(data)
        let frames = input.frames()
        if let request = FeedReplay.Request(frames: frames) {
            guard request.prefixes.count <= FeedReplay.maxPrefixes,
                  request.prefixes.allSatisfy({ $0.utf8.count <= FeedReplay.maxPrefixBytes }) else {
                throw FuzzFailure("replay", "a request with \(request.prefixes.count) prefixes was accepted")
            }
            guard FeedReplay.Request(frames: request.frames) == request else {
                throw FuzzFailure("replay", "a request does not survive re-encoding")
            }
            _ = FeedReplay.matches("job/s/1/assigned", prefixes: request.prefixes)
        }
        if let answer = FeedReplay.Answer(frames: frames), case .end(let end) = answer {
            guard FeedReplay.Answer(frames: end.frames) == answer else { throw FuzzFailure("replay", "an END does not survive re-encoding") }
        }
        if let event = FeedEvent(frames: frames) { _ = FeedHeartbeat(event) }
    }

    static var seeds: [[UInt8]] {
        let answers: [[Frame]] = [
            FeedReplay.Request(after: 0).frames,
            FeedReplay.Request(after: 42, limit: 10, prefixes: ["job/", "worker/w1/"]).frames,
            FeedReplay.End(through: 5, head: 9, journal: 0xABCD).frames,
            FeedHeartbeat(lastSeq: 3, journal: 7, replayPort: 5557).frames(time: 1),
        ]
        return answers.map { frames in
            var w = FuzzInputWriter()
            w.frames(frames)
            return w.bytes
        }
    }
}
