import Foundation
import LoomWire
import Yams

extension SpecParser {
    static let trialKeys = ["command", "env", "cwd", "resources", "timeout", "stall_timeout", "max_retries", "checkpointing",
                            "quarantine_after", "worker_labels"]
    static let resourceKeys = ["cpu", "gpu"]

    /// The `trial` section. `command` (absent: an ask-only study) is a list (program and arguments, run without a shell) or a
    /// string (a script run by `/bin/sh -c`).
    static func parseTrial(_ reader: SpecReader, _ node: Node, owner: Node?) throws(SpecError) -> TrialSpec {
        let entries = try reader.entries(node, "trial", expected: "a mapping (command, env, cwd, resources, …)", owner: owner)
        try reader.checkKeys(entries, allowed: trialKeys, in: "in trial")
        // Without `command` the study is ask-only: its trials are evaluated by ask/tell clients.
        var trial = TrialSpec(command: try entries["command"].map { entry throws(SpecError) in
            try parseCommand(reader, entry.value)
        } ?? [])

        if let env = entries["env"] {
            let variables = try reader.entries(env.value, "trial.env", expected: "a mapping of variable names to values")
            for variable in variables.list {
                let field = "trial.env.\(variable.key)"
                guard isEnvironmentName(variable.key) else {
                    throw reader.error(variable.keyNode, field, "expected a variable name (letters, digits and \"_\", not starting with a digit), found \(quoteYAML(variable.key))")
                }
                guard !variable.key.hasPrefix("HYPERLOOM_") else {
                    throw reader.error(variable.keyNode, field, "HYPERLOOM_* variables are set by the worker for each attempt (see Docs/trial-protocol.md)")
                }
                trial.env[variable.key] = try reader.text(variable.value, field, expected: "a string, number or boolean")
            }
        }
        if let cwd = entries["cwd"] {
            let path = try reader.text(cwd.value, "trial.cwd", expected: "a directory path")
            guard !path.isEmpty else { throw reader.error(cwd.value, "trial.cwd", "expected a directory path, found an empty string") }
            trial.cwd = path
        }
        if let resources = entries["resources"] {
            try parseResources(reader, resources.value, owner: resources.keyNode, into: &trial)
        }
        if let timeout = entries["timeout"] {
            trial.timeoutSeconds = try reader.duration(timeout.value, "trial.timeout")
        }
        if let stall = entries["stall_timeout"] {
            trial.stallTimeoutSeconds = try reader.duration(stall.value, "trial.stall_timeout")
        }
        if let retries = entries["max_retries"] {
            let n = try reader.integer(retries.value, "trial.max_retries", expected: "a non-negative integer")
            guard (0...maxRetries).contains(n) else {
                throw reader.error(retries.value, "trial.max_retries", "expected an integer from 0 to \(maxRetries), found \(n)")
            }
            trial.maxRetries = n
        }
        if let checkpointing = entries["checkpointing"] {
            trial.checkpointing = try reader.bool(checkpointing.value, "trial.checkpointing")
        }
        if let labels = entries["worker_labels"] {
            guard case .sequence(let items) = labels.value else {
                throw reader.error(labels.value, "trial.worker_labels", "expected a list of labels, e.g. [trusted]")
            }
            guard items.count <= Wire.maxWorkerLabels else {
                throw reader.error(labels.value, "trial.worker_labels", "expected at most \(Wire.maxWorkerLabels) labels, found \(items.count)")
            }
            for item in items {
                let label = try reader.text(item, "trial.worker_labels", expected: "a label")
                guard !label.isEmpty, label.utf8.count <= Wire.maxWorkerLabelBytes, !label.contains(",") else {
                    throw reader.error(item, "trial.worker_labels", "expected a label of 1 to \(Wire.maxWorkerLabelBytes) bytes without a comma, found \(quoteYAML(label))")
                }
                trial.workerLabels.append(label)
            }
        }
        if let quarantine = entries["quarantine_after"] {
            let n = try reader.integer(quarantine.value, "trial.quarantine_after", expected: "a non-negative integer")
            guard (0...255).contains(n) else {
                throw reader.error(quarantine.value, "trial.quarantine_after", "expected an integer from 0 (never) to 255, found \(n)")
            }
            trial.quarantineAfter = n
        }
        return trial
    }

    static func parseCommand(_ reader: SpecReader, _ node: Node) throws(SpecError) -> [String] {
        let field = "trial.command"
        switch node {
        case .sequence(let sequence):
            guard !sequence.isEmpty else {
                throw reader.error(node, field, "expected the program and its arguments, found an empty list")
            }
            var command: [String] = []
            for (i, element) in sequence.enumerated() {
                command.append(try reader.text(element, "\(field)[\(i)]", expected: "a string argument"))
            }
            guard !command[0].trimmingCharacters(in: .whitespaces).isEmpty else {
                throw reader.error(sequence[0], "\(field)[0]", "expected a program name, found an empty string")
            }
            return command
        case .scalar:
            let script = try reader.text(node, field, expected: "a list of strings or a shell command line")
            guard !script.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw reader.error(node, field, "expected a shell command line, found an empty string")
            }
            return ["/bin/sh", "-c", script]
        default:
            throw reader.error(node, field, "expected a list of strings (program and arguments) or a shell command line, found \(reader.found(node))")
        }
    }

    static func parseResources(_ reader: SpecReader, _ node: Node, owner: Node, into trial: inout TrialSpec) throws(SpecError) {
        let entries = try reader.entries(node, "trial.resources", expected: "a mapping such as {cpu: 1, gpu: 0.5}")
        try reader.checkKeys(entries, allowed: resourceKeys, in: "in trial.resources")
        func share(_ key: String) throws(SpecError) -> Double? {
            guard let entry = entries[key] else { return nil }
            let field = "trial.resources.\(key)"
            let x = try reader.number(entry.value, field, expected: "a number ≥ 0 (fractions allowed)")
            guard x >= 0 else { throw reader.error(entry.value, field, "expected a number ≥ 0 (fractions allowed), found \(formatNumber(x))") }
            // Shares travel in thousandths: a smaller non-zero share would silently become 0.
            guard x == 0 || x >= 0.001 else {
                throw reader.error(entry.value, field, "expected 0 or at least 0.001 (shares are counted in thousandths), found \(formatNumber(x))")
            }
            guard x <= maxResourceShare else {
                throw reader.error(entry.value, field, "expected at most \(formatNumber(maxResourceShare)), found \(formatNumber(x))")
            }
            return x
        }
        if let cpu = try share("cpu") { trial.cpu = cpu }
        if let gpu = try share("gpu") { trial.gpu = gpu }
        guard trial.cpu > 0 || trial.gpu > 0 else {
            throw reader.error(owner, "trial.resources", "expected cpu > 0 or gpu > 0: a trial that needs nothing would never leave a worker's capacity")
        }
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    // MARK: Durations

    static let durationUnits: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]

    /// Seconds in a duration written `500ms`, `30s`, `1.5s`, `10m`, `1h`, `2d`, a sum such as
    /// `1h30m`, or a plain number of seconds (`90`, `0.5`); nil when it is none of these.
    public static func parseDuration(_ text: String) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(text), seconds.isFinite, seconds >= 0, text.first != "+" { return seconds }
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            guard let scale = durationUnits.first(where: { $0.suffix == unit })?.seconds else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        return total.isFinite ? total : nil
    }

    /// A duration as people write it and `parseDuration` reads it back: `500ms`, `1.5s`, `10m`,
    /// `1h30m`, `2d3h`.
    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds > 0 else { return seconds == 0 ? "0s" : "\(seconds)s" }
        if seconds < 1 { return "\(formatNumber((seconds * 1000 * 1000).rounded() / 1000))ms" }
        var rest = seconds
        var parts: [String] = []
        for (suffix, scale) in durationUnits.reversed() where scale >= 60 {
            let whole = (rest / scale).rounded(.down)
            if whole >= 1 {
                parts.append("\(formatNumber(whole))\(suffix)")
                rest -= whole * scale
            }
        }
        rest = (rest * 1000).rounded() / 1000
        if rest > 0 { parts.append("\(formatNumber(rest))s") }
        return parts.joined()
    }
}
