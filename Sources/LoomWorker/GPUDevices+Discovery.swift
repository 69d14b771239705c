import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension GPUDevices {
    /// How long `nvidia-smi` may take: it answers in well under a second on a healthy machine,
    /// but can hang for minutes on a wedged driver, and a worker must start regardless.
    public static let discoveryTimeout: Duration = .seconds(5)

    /// The query whose output `parseIndexQuery` reads: one index per GPU, nothing else.
    static let indexQuery = ["--query-gpu=index", "--format=csv,noheader"]

    /// Resolves a `--gpus` argument to the devices the worker offers: parses it and, for `auto`,
    /// discovers them (running `nvidia-smi`, bounded by `discoveryTimeout`). Discovery never
    /// fails: finding nothing usable offers no GPU, and `note` says why. Throws only when the
    /// argument itself is malformed.
    public static func resolve(_ argument: String,
                               environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(GPUArgumentError) -> GPUResolution {
        switch try parse(argument) {
        case .auto:
            return discover(environment: environment)
        case .devices(let ids):
            guard let inherited = environment["CUDA_VISIBLE_DEVICES"] else { return GPUResolution(devices: ids) }
            let offered = ids.isEmpty ? "no GPU" : "GPUs " + ids.joined(separator: ", ")
            return GPUResolution(devices: ids, note: "offering \(offered): each trial's CUDA_VISIBLE_DEVICES replaces "
                + "the worker's own (\"\(excerpt(inherited))\"), so device ids are the machine's numbering")
        }
    }

    /// The devices of this machine: the worker's own `CUDA_VISIBLE_DEVICES` when it is set (an
    /// operator who restricted the worker meant it), otherwise the indexes `nvidia-smi` lists.
    /// Any failure offers no GPU; `note` always says what was found or why nothing was.
    public static func discover(environment: [String: String] = ProcessInfo.processInfo.environment,
                                timeout: Duration = discoveryTimeout) -> GPUResolution {
        discover(
            environment: environment,
            locate: { path in TrialLaunch.resolve(program: "nvidia-smi", path: path, isExecutable: TrialRunner.isExecutable) },
            query: { executable in
                ShortCommand.run(executable: executable, arguments: ["nvidia-smi"] + indexQuery,
                                 environment: environment.map { "\($0.key)=\($0.value)" }, timeout: timeout)
            })
    }

    /// `discover` with the two effects injected: finding `nvidia-smi` on a `PATH`, and running it.
    static func discover(environment: [String: String], locate: (String?) -> String?,
                         query: (String) -> CommandOutcome) -> GPUResolution {
        if let visible = environment["CUDA_VISIBLE_DEVICES"] {
            let shown = "CUDA_VISIBLE_DEVICES=\"\(excerpt(visible))\" in the worker's environment"
            do {
                let ids = try parseDeviceList(visible)
                return GPUResolution(devices: ids, note: ids.isEmpty
                    ? "\(shown): offering no GPU"
                    : "\(shown): offering GPUs \(ids.joined(separator: ", "))")
            } catch {
                return GPUResolution(devices: [], note: "\(shown) names no usable device (\(error.reason)): offering no GPU")
            }
        }
        guard let executable = locate(environment["PATH"]) else {
            return GPUResolution(devices: [], note: "nvidia-smi is not on PATH: offering no GPU")
        }
        return interpretIndexQuery(query(executable))
    }

    /// What an `nvidia-smi` index query came to, as the devices to offer and a note.
    static func interpretIndexQuery(_ outcome: CommandOutcome) -> GPUResolution {
        let failure: String
        switch outcome {
        case .exited(0, let stdout, _):
            do {
                let ids = try parseIndexQuery(stdout)
                return GPUResolution(devices: ids, note: ids.isEmpty
                    ? "nvidia-smi lists no GPU: offering none"
                    : "nvidia-smi lists \(ids.count) GPU\(ids.count == 1 ? "" : "s"): offering \(ids.joined(separator: ", "))")
            } catch {
                failure = "printed something other than device indexes (\(error.reason))"
            }
        case .exited(let code, let stdout, let stderr):
            // nvidia-smi prints its own errors ("couldn't communicate with the NVIDIA driver",
            // "No devices were found") on stdout; other tools use stderr.
            let message = firstLine(stderr) ?? firstLine(stdout)
            failure = "exited with code \(code)" + (message.map { " (\"\(excerpt($0))\")" } ?? "")
        case .signaled(let signal):
            failure = "was killed by signal \(signal)"
        case .timedOut(let limit):
            let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
            failure = "did not answer within \(TrialResult.seconds(seconds)) and was killed"
        case .failed(let reason):
            failure = "could not be run: \(reason)"
        }
        return GPUResolution(devices: [], note: "nvidia-smi \(failure): offering no GPU")
    }

    private static func firstLine(_ text: String) -> String? {
        text.split(whereSeparator: \.isNewline).map { trimmed(String($0)) }.first { !$0.isEmpty }
    }
}

/// What running a short helper command came to.
enum CommandOutcome: Equatable, Sendable {
    /// It exited by itself: its code and what it printed (each stream cut at the output limit).
    case exited(code: Int32, stdout: String, stderr: String)
    /// A signal ended it (not one the worker sent).
    case signaled(Int32)
    /// It ran past the limit; its process group was killed.
    case timedOut(Duration)
    /// It could not be started, or its end could not be observed: the reason.
    case failed(String)
}

/// Runs a helper command (such as `nvidia-smi`) to completion with a time limit, capturing its
/// output. Blocking: for start-up only, never from the agent's loop.
///
/// **Ownership.** The child runs in a process group of its own (as trials do), is reaped by its own
/// pid only, and is killed with its group when it outlives the limit.
enum ShortCommand {
    /// Bytes kept of each stream; the rest is read and dropped so the child never blocks on a pipe.
    static let outputLimit = 64 << 10

    static func run(executable: String, arguments: [String], environment: [String], timeout: Duration) -> CommandOutcome {
        let deadline = ContinuousClock.now + timeout
        let out: (read: Int32, write: Int32)
        let err: (read: Int32, write: Int32)
        do {
            out = try Spawn.makePipe()
            do {
                err = try Spawn.makePipe()
            } catch {
                Syscall.closeQuietly(out.read)
                Syscall.closeQuietly(out.write)
                throw error
            }
        } catch {
            return .failed("cannot create pipes: \(error)")
        }
        let pid: pid_t
        do {
            pid = try Spawn.spawn(executable: executable, arguments: arguments, environment: environment,
                                  directory: nil, stdout: out.write, stderr: err.write)
        } catch {
            for fd in [out.read, out.write, err.read, err.write] { Syscall.closeQuietly(fd) }
            return .failed(error.reason)
        }
        Syscall.closeQuietly(out.write)
        Syscall.closeQuietly(err.write)

        var captured: [Int32: [UInt8]] = [out.read: [], err.read: []]
        var open = [out.read, err.read]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 << 10, alignment: 16)
        defer {
            buffer.deallocate()
            for fd in open { Syscall.closeQuietly(fd) }
        }
        while !open.isEmpty {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return killGroup(pid, after: timeout) }
            var entries = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            do {
                try Syscall.call("poll") { poll(&entries, nfds_t(entries.count), milliseconds) }
            } catch {
                _ = killGroup(pid, after: timeout)
                return .failed("cannot wait for its output: \(error)")
            }
            for entry in entries where entry.revents != 0 {
                switch (try? Syscall.readChunk(entry.fd, into: buffer)) ?? .endOfFile {
                case .wouldBlock:
                    continue
                case .endOfFile:
                    Syscall.closeQuietly(entry.fd)
                    open.removeAll { $0 == entry.fd }
                case .bytes(let count):
                    let room = max(0, outputLimit - captured[entry.fd, default: []].count)
                    captured[entry.fd, default: []] += buffer.prefix(min(count, room))
                }
            }
        }
        // Both pipes closed: the child has exited or is about to.
        while true {
            var status: Int32 = 0
            let reaped: Int32?
            do {
                reaped = try Syscall.call("waitpid \(pid)") { waitpid(pid, &status, WNOHANG) }
            } catch {
                return .failed("its exit status was lost: \(error)")
            }
            if reaped == pid {
                // Anything it left running in its group ends with it.
                _ = try? Syscall.call("kill -\(pid)") { kill(-pid, SIGKILL) }
                let stdout = String(decoding: captured[out.read] ?? [], as: UTF8.self)
                let stderr = String(decoding: captured[err.read] ?? [], as: UTF8.self)
                switch TrialResult.Termination(waitStatus: status) {
                case .exited(let code): return .exited(code: code, stdout: stdout, stderr: stderr)
                case .signaled(let signal): return .signaled(signal)
                case .lost: return .failed("its exit status was lost")
                }
            }
            guard ContinuousClock.now < deadline else { return killGroup(pid, after: timeout) }
            usleep(5_000)
        }
    }

    /// Kills the child's group and reaps it (waiting at most a second: a process stuck in the
    /// kernel is left behind rather than holding the worker's start-up).
    private static func killGroup(_ pid: pid_t, after timeout: Duration) -> CommandOutcome {
        _ = try? Syscall.call("kill -\(pid)") { kill(-pid, SIGKILL) }
        let end = ContinuousClock.now + .seconds(1)
        var status: Int32 = 0
        while ContinuousClock.now < end {
            guard let reaped = try? Syscall.call("waitpid \(pid)", { waitpid(pid, &status, WNOHANG) }), reaped != pid else { break }
            usleep(5_000)
        }
        return .timedOut(timeout)
    }
}
