import Foundation
import LoomWire

/// The metric lines and checkpoints of simulated trials, as the worker sends them.
enum SimulatedTrialOutput {
    struct Fields {
        var loss: Double?
        var step: Int?
        var error: String?
    }

    static func fields(_ payload: Frame) -> Fields {
        guard let object = (try? JSONValue(parsing: payload))?.object else { return Fields() }
        var fields = Fields()
        fields.loss = object["loss"]?.double
        fields.step = object["step"]?.double.map { Int($0) }
        if case .string(let text)? = object["error"] { fields.error = text }
        return fields
    }

    static func metrics(step: Int, loss: Double) -> Frame {
        var w = JSONObjectWriter()
        w.add("step", step)
        w.add("loss", loss)
        return w.finish()
    }

    /// The FINAL payload, as the worker agent builds it (`TrialResult`): the last metrics line
    /// this attempt's process printed and how many it printed. A process resumed from a
    /// checkpoint already at its last step prints nothing (issue 15, failure 2), as a real trial
    /// script that finds no step left to run does: the FINAL then names the checkpoint it resumed
    /// from (`resumed`, `CheckpointOrigin`) with its metrics when this worker snapshotted it.
    static func final(step: Int, loss: Double, reports: Int, resumed: SimulatedWorker.LocalCheckpoint?) -> Frame {
        var w = JSONObjectWriter()
        if reports > 0 {
            w.addRaw("metrics", json: metrics(step: step, loss: loss))
        } else if let resumed {
            w.addRaw("metrics", json: resumed.metrics ?? Array("{}".utf8))
            w.addRaw("resumed_checkpoint", json: Array("{\"attempt\":\(resumed.attempt),\"seq\":\(resumed.seq)}".utf8))
        } else {
            w.addRaw("metrics", json: Array("{}".utf8))
        }
        w.add("exit_code", 0)
        w.add("reports", reports)
        return w.finish()
    }

    static func failure(_ error: String) -> Frame {
        var w = JSONObjectWriter()
        w.add("error", error)
        return w.finish()
    }

    /// The checkpoint's one file: the step counter, `step` bytes long. Its blob's bytes are not
    /// modelled: its name is 64 hex digits drawn from (job, step), as a SHA-256 is, so the
    /// optimizer's manifest checks accept it.
    static func stepFile(job: String, step: Int) -> CheckpointFile {
        CheckpointFile(path: "step", sha256: blobName(job: job, step: step), size: Int64(step))
    }

    /// Four FNV-1a 64 hashes of "job/step/k", in hex.
    static func blobName(job: String, step: Int) -> String {
        (0..<4).map { k -> String in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in "\(job)/\(step)/\(k)".utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
            let hex = String(hash, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// The CHECKPOINT payload: the metrics and the checkpoint's manifest.
    static func checkpoint(step: Int, loss: Double, manifest: CheckpointManifest) -> Frame {
        var w = JSONObjectWriter()
        w.add("step", step)
        w.add("loss", loss)
        w.addRaw(CheckpointManifest.payloadKey, json: JSONCoding.encode(manifest))
        return w.finish()
    }

    static func manifest(_ payload: Frame) -> CheckpointManifest? {
        guard let object = (try? JSONValue(parsing: payload))?.object, let value = object[CheckpointManifest.payloadKey] else { return nil }
        return try? JSONDecoder().decode(CheckpointManifest.self, from: Data(JSONCoding.encode(value)))
    }

    static func step(of manifest: CheckpointManifest) -> Int? {
        manifest.files.first { $0.path == "step" }.map { Int($0.size) }
    }
}
