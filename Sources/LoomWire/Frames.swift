/// One ZeroMQ message part. The wire protocol is defined over frames, never over sockets.
public typealias Frame = [UInt8]

/// Protocol identifiers and limits shared by every peer.
///
/// Every message a peer sends to the broker starts with a protocol frame: four ASCII bytes naming
/// the peer's role and the protocol version ("HLW1" for workers, "HLC1" for clients). A peer whose
/// frame names another version receives an `ERROR` that says which version the broker speaks.
public enum Wire {
    /// The protocol version this build speaks.
    public static let version: UInt8 = 1
    /// Protocol frame of worker peers, `"HLW1"`.
    public static let workerHeader: Frame = Array("HLW1".utf8)
    /// Protocol frame of client peers (optimizer, CLI, libraries), `"HLC1"`.
    public static let clientHeader: Frame = Array("HLC1".utf8)
    /// Longest job id in bytes of UTF-8. Job ids appear in every header and every feed topic.
    public static let maxJobIDBytes = 512
    /// Longest peer id (worker id, client id) in bytes of UTF-8.
    public static let maxPeerIDBytes = 256
    /// Most jobs one SUBMIT or CANCEL may carry; larger batches are split by the client.
    public static let maxBatch = 10_000
    /// Longest reason a CANCEL_JOBS may carry, in bytes of UTF-8 (it is shown, not parsed).
    public static let maxReasonLength = 1024
    /// Most job slots one worker may offer in READY: far above any machine, and small enough that
    /// capacity in thousandths (`slots × 1000`) never comes near overflowing.
    public static let maxSlots = 65_536
    /// Most GPUs one worker may offer in READY.
    public static let maxGPUs = 4_096
    /// Longest heartbeat interval a worker may propose, in milliseconds (the broker clamps it to
    /// its own range anyway; this bounds the arithmetic).
    public static let maxHeartbeatMs = 3_600_000
    /// Most missed heartbeats a worker may ask for before it is declared dead: a larger liveness
    /// would let a silent worker hold its jobs for days.
    public static let maxLiveness = 100
    /// Most running attempts one READY may list (a worker holds at most one per slot; this bounds
    /// what one message can make the broker reconcile).
    public static let maxRunningPerReady = 10_000
    /// Longest free-text field of READY and HELLO (`host`, `version`, `name`, a service name), in
    /// bytes of UTF-8: they are shown in logs and `status`, never parsed.
    public static let maxLabelBytes = 256
    /// Most services one HELLO may offer.
    public static let maxServices = 16
    /// Most labels one worker may carry in READY, and one job may require (`worker_labels`).
    public static let maxWorkerLabels = 32
    /// Longest label, in bytes of UTF-8.
    public static let maxWorkerLabelBytes = 64
    /// Highest attempt number a peer may name (in headers, READY and SUBMIT's `first_attempt`):
    /// far beyond any retry budget, and far enough below `UInt32.max` that the broker's "next
    /// attempt" counters never overflow.
    public static let maxAttemptNumber: UInt32 = 1 << 30
}

/// Big-endian fixed-width integers, as every integer field on the wire is encoded.
public enum BigEndian {
    /// Encodes `value` as 4 bytes, most significant first.
    @inlinable
    public static func frame(_ value: UInt32) -> Frame {
        [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    /// Encodes `value` as 8 bytes, most significant first.
    @inlinable
    public static func frame(_ value: UInt64) -> Frame {
        var out = Frame(repeating: 0, count: 8)
        for i in 0..<8 { out[i] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(i))) }
        return out
    }

    /// Decodes a 4-byte frame; `nil` when the frame has another size.
    @inlinable
    public static func uint32(_ frame: Frame) -> UInt32? {
        guard frame.count == 4 else { return nil }
        return frame.withUnsafeBufferPointer { p in
            UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
        }
    }

    /// Decodes an 8-byte frame; `nil` when the frame has another size.
    @inlinable
    public static func uint64(_ frame: Frame) -> UInt64? {
        guard frame.count == 8 else { return nil }
        return frame.withUnsafeBufferPointer { p in
            var v: UInt64 = 0
            for i in 0..<8 { v = v << 8 | UInt64(p[i]) }
            return v
        }
    }
}
