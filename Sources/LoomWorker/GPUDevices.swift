/// Which GPUs a worker offers, as its `--gpus` argument selects them.
public enum GPUSelection: Equatable, Sendable {
    /// Find them at start-up (`GPUDevices.discover`): the worker's `CUDA_VISIBLE_DEVICES` when it
    /// is set, otherwise what `nvidia-smi` lists.
    case auto
    /// Exactly these device ids, in this order; empty: no GPU.
    case devices([String])
}

/// A `--gpus` argument (or a device list) that names no GPU selection.
public struct GPUArgumentError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text as given.
    public var argument: String
    /// What is wrong with it.
    public var reason: String

    public init(argument: String, reason: String) {
        self.argument = argument
        self.reason = reason
    }

    public var description: String {
        "\"\(argument)\" is not a GPU selection: \(reason); expected a count (2), device ids (0,2 or GPU-<uuid>), auto or none"
    }
}

/// What a worker offers after resolving its `--gpus` argument.
public struct GPUResolution: Equatable, Sendable {
    /// The device ids handed to trials through `CUDA_VISIBLE_DEVICES`; their count is the `gpus`
    /// the worker advertises in READY.
    public var devices: [String]
    /// A sentence for the worker's log when the devices were discovered (what was found, or why
    /// none was) or when the selection overrides the worker's own `CUDA_VISIBLE_DEVICES`.
    public var note: String?

    public init(devices: [String], note: String? = nil) {
        self.devices = devices
        self.note = note
    }
}

/// The GPU devices a worker hands out: parsing `--gpus`, device lists and `nvidia-smi` output
/// (pure, here), and discovery by running `nvidia-smi` (`GPUDevices+Discovery.swift`).
///
/// **Device ids** are what `CUDA_VISIBLE_DEVICES` accepts in a process that has none set: a
/// decimal index (`2`) or a device UUID (`GPU-…`, `MIG-…`). Each trial's `CUDA_VISIBLE_DEVICES`
/// *replaces* the worker's, so ids are always in the machine's own numbering.
public enum GPUDevices {
    /// Most devices one worker offers: more than any machine has, so a larger count is a typo.
    public static let maxCount = 256

    /// Parses a `--gpus` argument:
    ///
    /// | argument | selection |
    /// |---|---|
    /// | `auto` | discover (`CUDA_VISIBLE_DEVICES` of the worker, else `nvidia-smi`) |
    /// | `none`, `0` | no GPU |
    /// | `N` (a count) | devices `0` … `N-1` |
    /// | `0,2`, `GPU-8f…` | those ids; a single index needs a trailing comma (`2,`), as `2` is a count |
    public static func parse(_ argument: String) throws(GPUArgumentError) -> GPUSelection {
        let text = trimmed(argument)
        switch text.lowercased() {
        case "auto": return .auto
        case "none": return .devices([])
        default: break
        }
        guard !text.isEmpty else { throw GPUArgumentError(argument: argument, reason: "it is empty") }
        if !text.contains(","), isDecimal(text) {
            let digits = text.drop { $0 == "0" }
            guard digits.count <= 3, let count = Int(digits.isEmpty ? "0" : String(digits)), count <= maxCount else {
                throw GPUArgumentError(argument: argument, reason: "a count above \(maxCount)")
            }
            return .devices(ids(count: count))
        }
        return .devices(try parseList(text, original: argument))
    }

    /// The ids `0` … `count-1`: the devices of a worker configured by a count alone.
    public static func ids(count: Int) -> [String] {
        (0..<max(0, count)).map(String.init)
    }

    /// Parses a comma-separated device list (`CUDA_VISIBLE_DEVICES` syntax; here a lone `2` is
    /// device 2). Blank: no device. Indexes are normalised (`01` is `1`); duplicates are refused.
    public static func parseDeviceList(_ text: String) throws(GPUArgumentError) -> [String] {
        let body = trimmed(text)
        return body.isEmpty ? [] : try parseList(body, original: text)
    }

    private static func parseList(_ text: String, original: String) throws(GPUArgumentError) -> [String] {
        var elements = text.split(separator: ",", omittingEmptySubsequences: false).map { trimmed(String($0)) }
        // One trailing comma is allowed: `--gpus 2,` is how a single index is told from a count.
        if elements.count > 1, elements.last == "" { elements.removeLast() }
        var ids: [String] = []
        for element in elements {
            guard let id = deviceID(element) else {
                let reason = element.isEmpty ? "an empty device id" : "\"\(element)\" is neither a device index nor a GPU-/MIG- UUID"
                throw GPUArgumentError(argument: original, reason: reason)
            }
            guard !ids.contains(id) else { throw GPUArgumentError(argument: original, reason: "device \(id) is listed twice") }
            ids.append(id)
        }
        guard ids.count <= maxCount else {
            throw GPUArgumentError(argument: original, reason: "more than \(maxCount) devices")
        }
        return ids
    }

    /// A decimal index (normalised) or a `GPU-`/`MIG-` UUID; nil for anything else.
    static func deviceID(_ text: String) -> String? {
        if isDecimal(text) {
            let digits = text.drop { $0 == "0" }
            guard digits.count <= 6 else { return nil }
            return digits.isEmpty ? "0" : String(digits)
        }
        let uuidCharacters = text.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_/:.".unicodeScalars.contains($0))
        }
        guard uuidCharacters, text.hasPrefix("GPU-") || text.hasPrefix("MIG-"), text.count > 4 else { return nil }
        return text
    }

    // MARK: - nvidia-smi output

    /// Why discovery found no usable device list.
    struct DiscoveryFailure: Error, Equatable {
        var reason: String
    }

    /// Parses the output of `nvidia-smi --query-gpu=index --format=csv,noheader`: one decimal
    /// index per line (blank lines and `\r` tolerated). Any other line means the output is not
    /// what was asked for (a driver message, a changed format), and nothing of it is trusted.
    static func parseIndexQuery(_ output: String) throws(DiscoveryFailure) -> [String] {
        var ids: [String] = []
        let lines = output.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        for (number, raw) in lines.enumerated() {
            let line = trimmed(String(raw))
            if line.isEmpty { continue }
            guard isDecimal(line), let id = deviceID(line) else {
                throw DiscoveryFailure(reason: "line \(number + 1) is not a device index: \"\(excerpt(line))\"")
            }
            guard !ids.contains(id) else { throw DiscoveryFailure(reason: "device \(id) is listed twice") }
            ids.append(id)
        }
        guard ids.count <= maxCount else { throw DiscoveryFailure(reason: "more than \(maxCount) devices") }
        return ids
    }

    // MARK: - Text helpers

    static func isDecimal(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) }
    }

    static func trimmed(_ text: String) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(text.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }

    /// At most 120 characters of `text`, for a log line.
    static func excerpt(_ text: String) -> String {
        text.count <= 120 ? text : String(text.prefix(117)) + "..."
    }
}
