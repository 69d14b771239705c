import LoomWire

/// Where an attempt's files live under the worker's work directory:
///
/// ```
/// <workDir>/<job dir>/checkpoint/            shared by the job's attempts on this worker
/// <workDir>/<job dir>/attempt-<n>/stdout.log
/// <workDir>/<job dir>/attempt-<n>/stderr.log
/// ```
public struct AttemptPaths: Equatable, Sendable {
    /// `<workDir>/<job dir>`.
    public var jobDir: String
    /// `<job dir>/attempt-<n>`: `HYPERLOOM_ATTEMPT_DIR`, made once per attempt.
    public var attemptDir: String
    /// `<job dir>/checkpoint`: `HYPERLOOM_CHECKPOINT_DIR`, shared by the job's attempts here (or
    /// `<shared dir>/<job dir>/checkpoint` in the shared-filesystem mode).
    public var checkpointDir: String
    /// `<job dir>/checkpoint.json`: which attempt and update wrote what `checkpointDir` holds
    /// (`CheckpointOrigin`), written by the worker when it snapshots or restores a checkpoint.
    public var checkpointOriginFile: String { jobDir + "/checkpoint.json" }
    /// Everything the trial wrote to stdout, metric lines included.
    public var stdoutLog: String { attemptDir + "/stdout.log" }
    /// Everything the trial wrote to stderr, and the worker's notes about the attempt.
    public var stderrLog: String { attemptDir + "/stderr.log" }

    /// The paths of `ref` under `workDir` (absolute when `workDir` is); the checkpoint directory
    /// under `sharedCheckpoints` instead when given (a directory every worker mounts).
    public init(workDir: String, ref: AttemptRef, sharedCheckpoints: String? = nil) {
        func trimmed(_ path: String) -> String { path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path }
        let name = Self.directoryName(forJob: ref.job)
        jobDir = trimmed(workDir) + "/" + name
        attemptDir = jobDir + "/attempt-\(ref.attempt)"
        checkpointDir = (sharedCheckpoints.map { trimmed($0) + "/" + name } ?? jobDir) + "/checkpoint"
    }

    /// Longest directory name produced: below every common file system's 255-byte name limit.
    static let maxNameBytes = 200

    /// The job id as one safe directory name: bytes outside `[A-Za-z0-9._-]` are percent-encoded
    /// (`"/"` becomes `"%2F"`), as is a leading `"."` (so no id names `.`, `..` or a hidden
    /// file). A name that would be longer than 200 bytes keeps its first bytes and ends with `~`
    /// and a hash of the whole id, so distinct ids keep distinct directories.
    public static func directoryName(forJob id: String) -> String {
        var out = ""
        for (i, byte) in id.utf8.enumerated() {
            let safe = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || (byte == UInt8(ascii: ".") && i > 0)
            if safe {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        guard out.utf8.count > maxNameBytes else { return out }
        // FNV-1a, 64 bit: stable across runs and platforms, unlike `Hasher`.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let suffix = "~" + String(hash, radix: 16).leftPadded(to: 16)
        return String(out.prefix(maxNameBytes - suffix.count)) + suffix
    }
}

/// The command line and environment of one attempt, made from its job spec. Pure: the runner
/// reads the worker's environment and the checkpoint directory, places the GPU share, and passes
/// them in.
struct TrialLaunch: Equatable, Sendable {
    var arguments: [String]
    /// `NAME=value` entries, sorted by name.
    var environment: [String]

    /// `gpuDevices` are the devices placed for the attempt (empty for a CPU trial), `gpuShare`
    /// the share they were placed for.
    init(spec: JobSpec, ref: AttemptRef, paths: AttemptPaths, workerID: String,
         baseEnvironment: [String: String], resume: Bool, resumedFrom: UInt32? = nil,
         gpuDevices: [String] = [], gpuShare: Double = 0) {
        var builtIns: [String: String] = [
            "trial_id": ref.job,
            "attempt": String(ref.attempt),
            "checkpoint_dir": paths.checkpointDir,
            "attempt_dir": paths.attemptDir,
            "worker_id": workerID,
        ]
        let budget = spec.budget.map { JSONValue.number($0).argument }
        if let budget { builtIns["budget"] = budget }
        // Built-ins win over config keys of the same name: they identify the attempt.
        let values = spec.config.mapValues(\.argument).merging(builtIns) { _, builtIn in builtIn }
        arguments = spec.command.map { Self.substitute($0, values) }
        var env = baseEnvironment
        // Always set, empty for a CPU trial: a process that inherits no CUDA_VISIBLE_DEVICES
        // sees every GPU of the machine, and a CPU trial whose framework initialises CUDA anyway
        // would take memory on a device another trial was given. The spec may override it.
        env["CUDA_VISIBLE_DEVICES"] = gpuDevices.joined(separator: ",")
        env.merge(spec.env) { _, spec in spec }
        env["HYPERLOOM_CONFIG"] = String(decoding: JSONCoding.encode(spec.config), as: UTF8.self)
        env["HYPERLOOM_TRIAL_ID"] = ref.job
        env["HYPERLOOM_ATTEMPT"] = String(ref.attempt)
        env["HYPERLOOM_LEASE"] = String(ref.lease)
        env["HYPERLOOM_WORKER_ID"] = workerID
        env["HYPERLOOM_CHECKPOINT_DIR"] = paths.checkpointDir
        env["HYPERLOOM_ATTEMPT_DIR"] = paths.attemptDir
        env["HYPERLOOM_RESUME"] = resume ? "1" : "0"
        if let budget { env["HYPERLOOM_BUDGET"] = budget }
        if resume, let resumedFrom { env["HYPERLOOM_RESUMED_FROM"] = String(resumedFrom) }
        // What the worker placed, whatever the spec did to CUDA_VISIBLE_DEVICES.
        env["HYPERLOOM_GPUS"] = gpuDevices.joined(separator: ",")
        env["HYPERLOOM_GPU_SHARE"] = gpuDevices.isEmpty ? "0" : JSONValue.number(gpuShare).argument
        environment = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// Replaces every `{name}` whose name is in `values`; any other brace text is left as it is,
    /// because shell snippets are full of braces.
    static func substitute(_ argument: String, _ values: [String: String]) -> String {
        guard argument.contains("{") else { return argument }
        var out = ""
        var rest = argument[...]
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            let afterOpen = rest.index(after: open)
            if let close = rest[afterOpen...].firstIndex(of: "}"),
               let value = values[String(rest[afterOpen..<close])] {
                out += value
                rest = rest[rest.index(after: close)...]
            } else {
                out += "{"
                rest = rest[afterOpen...]
            }
        }
        return out + rest
    }

    /// The program to execute: a name with a `/` as given (relative to the trial's working
    /// directory), otherwise the first executable file of that name on the trial's `PATH`.
    static func resolve(program: String, path: String?, isExecutable: (String) -> Bool) -> String? {
        if program.contains("/") { return program }
        let search = (path?.isEmpty == false ? path! : "/usr/local/bin:/usr/bin:/bin")
        for dir in search.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + program
            if isExecutable(candidate) { return candidate }
        }
        return nil
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
