import Foundation
import Testing
@testable import LoomWorker
import LoomWire
#if canImport(Glibc)
import Glibc
#endif

/// GPU placement by the runner, with real /bin/sh trials on a worker with fake devices.
extension TrialRunnerBehaviour {
    /// A trial that reports what it was given, then waits until `<workDir>/go` exists.
    func gpuReporter(gpu: Double?, env: [String: String] = [:]) -> Frame {
        let script = #"echo "@hyperloom {\"cuda\": \"${CUDA_VISIBLE_DEVICES-unset}\", \"gpus\": \"$HYPERLOOM_GPUS\", \"share\": \"$HYPERLOOM_GPU_SHARE\"}"; "#
            + #"while [ ! -e "$GO" ]; do sleep 0.02; done"#
        return JobSpec(command: ["/bin/sh", "-c", script], env: env.merging(["GO": workDir + "/go"]) { a, _ in a }, gpu: gpu).payload
    }

    func release() { _ = FileManager.default.createFile(atPath: workDir + "/go", contents: nil) }

    /// Polls the runner until `count` events match, or three seconds pass.
    func drive(_ runner: TrialRunner, until count: Int, of isWanted: (TrialEvent) -> Bool) -> [TrialEvent] {
        var events: [TrialEvent] = []
        let deadline = ContinuousClock.now + .seconds(3)
        while events.filter(isWanted).count < count && ContinuousClock.now < deadline {
            var fds = runner.fileDescriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), 20)
            for entry in fds where entry.revents != 0 { events += runner.readable(fd: entry.fd, now: .now) }
            events += runner.reap(now: .now)
        }
        return events
    }

    /// Each attempt's metric payload, by lease.
    func reported(_ events: [TrialEvent]) -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        for case .metrics(let ref, let payload, _) in events { out[ref.lease] = String(decoding: payload, as: UTF8.self) }
        return out
    }

    @Test func gpuTrialsSeeTheirOwnDevicesAndACPUTrialSeesNone() {
        let r = TrialRunner(workDir: workDir, workerID: "w-test", killGrace: .seconds(1), gpuDevices: ["0", "1"])
        let jobs: [(UInt64, Double?)] = [(1, 0.5), (2, 0.5), (3, 1), (4, nil)]
        for (lease, gpu) in jobs {
            let events = r.start(ref("job-\(lease)", lease: lease), payload: gpuReporter(gpu: gpu), now: .now)
            #expect(events.count == 1 && !events.contains(where: \.isExit), "job \(lease): \(events)")
        }
        #expect(r.gpus.free == [0, 0])
        let lines = reported(drive(r, until: 4) { if case .metrics = $0 { true } else { false } })
        #expect(lines[1] == #"{"cuda":"0","gpus":"0","share":"0.5"}"#)
        #expect(lines[2] == #"{"cuda":"0","gpus":"0","share":"0.5"}"#, "two halves share device 0")
        #expect(lines[3] == #"{"cuda":"1","gpus":"1","share":"1"}"#)
        #expect(lines[4] == #"{"cuda":"","gpus":"","share":"0"}"#, "set and empty: the CPU trial sees no GPU")
        release()
        let exits = drive(r, until: 4, of: \.isExit)
        #expect(exits.filter(\.isExit).count == 4)
        #expect(r.gpus.leases.isEmpty && r.gpus.free == [1000, 1000])
    }

    @Test func aGPUJobOnAWorkerWithoutGPUsFailsAtOnceSayingWhy() {
        let r = runner()
        let events = r.start(ref(), payload: gpuReporter(gpu: 0.5), now: .now)
        #expect(events.count == 1 && r.runningCount == 0, "no .started, no process")
        let message = "this worker offers no GPU, but the job asks for gpu 0.5 (the broker should not have assigned it here)"
        let result = exit(events)
        #expect(result?.kind == .failed)
        #expect(result?.body["error"] == .string(message))
        #expect(result?.body["exit_code"] == .null)
        #expect(file(AttemptPaths(workDir: workDir, ref: ref()).stderrLog) == "hyperloom: \(message)\n")
    }

    @Test func aShareThatCannotBePlacedFailsAtOnceAndFitsOnceADeviceIsFree() {
        let r = TrialRunner(workDir: workDir, workerID: "w-test", killGrace: .seconds(1), gpuDevices: ["0", "1"])
        _ = r.start(ref("a", lease: 1), payload: gpuReporter(gpu: 0.6), now: .now)
        _ = r.start(ref("b", lease: 2), payload: gpuReporter(gpu: 0.6), now: .now)
        let refused = exit(r.start(ref("c", lease: 3), payload: gpuReporter(gpu: 0.6), now: .now))
        #expect(refused?.kind == .failed)
        #expect(refused?.body["error"]?.argument.hasPrefix("cannot place gpu 0.6: free per device 0.4, 0.4 (devices 0, 1); ") == true)
        #expect(r.runningCount == 2 && r.gpus.leases == [1, 2])
        release()
        #expect(drive(r, until: 2, of: \.isExit).filter(\.isExit).count == 2)
        let retried = r.start(ref("c", attempt: 2, lease: 4), payload: gpuReporter(gpu: 0.6), now: .now)
        #expect(retried.contains { if case .started = $0 { true } else { false } })
        #expect(reported(drive(r, until: 1, of: \.isExit))[4] == #"{"cuda":"0","gpus":"0","share":"0.6"}"#)
    }

    @Test func devicesAreGivenBackWhenTheAttemptCannotStartAfterAll() {
        let r = TrialRunner(workDir: workDir, workerID: "w-test", killGrace: .seconds(1), gpuDevices: ["0"])
        let events = r.start(ref(), payload: JobSpec(command: ["no-such-program-hyperloom"], gpu: 1).payload, now: .now)
        #expect(exit(events)?.kind == .failed)
        #expect(r.gpus.leases.isEmpty && r.gpus.free == [1000])
    }

    @Test func aStoppedTrialHoldsItsDevicesUntilItsProcessHasExited() {
        let r = TrialRunner(workDir: workDir, workerID: "w-test", killGrace: .seconds(1), gpuDevices: ["0"])
        _ = r.start(ref(), payload: JobSpec(command: ["/bin/sh", "-c", "sleep 30"], gpu: 1).payload, now: .now)
        r.stop(lease: ref().lease, reason: "cancelled", now: .now)
        #expect(r.gpus.devices(heldBy: ref().lease) == ["0"], "its memory is still in use until it exits")
        #expect(exit(drive(r))?.body["error"] == .string("cancelled: cancelled"))
        #expect(r.gpus.leases.isEmpty)
    }
}

/// The GPU part of a trial's environment (pure).
struct GPULaunchEnvironment {
    let ref = AttemptRef(job: "s/1", attempt: 1, lease: 5)

    func environment(_ spec: JobSpec, devices: [String], share: Double) -> [String: String] {
        let launch = TrialLaunch(spec: spec, ref: ref, paths: AttemptPaths(workDir: "/w", ref: ref), workerID: "w",
                                 baseEnvironment: ["CUDA_VISIBLE_DEVICES": "7", "PATH": "/bin"], resume: false,
                                 gpuDevices: devices, gpuShare: share)
        return Dictionary(uniqueKeysWithValues: launch.environment.map { entry -> (String, String) in
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), String(parts[1]))
        })
    }

    @Test func placedDevicesReplaceTheWorkersOwn() {
        let env = environment(JobSpec(command: ["t"], gpu: 2), devices: ["0", "1"], share: 2)
        #expect(env["CUDA_VISIBLE_DEVICES"] == "0,1")
        #expect(env["HYPERLOOM_GPUS"] == "0,1")
        #expect(env["HYPERLOOM_GPU_SHARE"] == "2")
    }

    @Test func aCPUTrialSeesNoDeviceEvenWhenTheWorkerSeesSome() {
        let env = environment(JobSpec(command: ["t"]), devices: [], share: 0)
        #expect(env["CUDA_VISIBLE_DEVICES"] == "")
        #expect(env["HYPERLOOM_GPUS"] == "")
        #expect(env["HYPERLOOM_GPU_SHARE"] == "0")
    }

    @Test func theSpecMayOverrideCUDAVisibleDevicesButNotWhatWasPlaced() {
        let spec = JobSpec(command: ["t"], env: ["CUDA_VISIBLE_DEVICES": "3", "HYPERLOOM_GPUS": "9", "HYPERLOOM_GPU_SHARE": "4"], gpu: 0.5)
        let env = environment(spec, devices: ["1"], share: 0.5)
        #expect(env["CUDA_VISIBLE_DEVICES"] == "3")
        #expect(env["HYPERLOOM_GPUS"] == "1")
        #expect(env["HYPERLOOM_GPU_SHARE"] == "0.5")
    }
}

/// How a worker's device list and its advertised GPU count stay one.
struct WorkerGPUConfiguration {
    func worker(gpus: Int) -> WorkerConfig {
        WorkerConfig(workerID: "w", slots: 1, gpus: gpus, heartbeat: .seconds(1), liveness: 3, host: "h", pid: 1, version: "t")
    }

    @Test func aCountAloneMeansDevicesZeroToNMinusOne() {
        let config = WorkerAgentConfig(brokerEndpoint: "tcp://127.0.0.1:1", workDir: "/w", worker: worker(gpus: 2))
        #expect(config.gpuDevices == ["0", "1"])
        #expect(WorkerAgentConfig(brokerEndpoint: "tcp://127.0.0.1:1", workDir: "/w", worker: worker(gpus: 0)).gpuDevices == [])
    }

    @Test func aDeviceListSetsTheAdvertisedCount() throws {
        var config = WorkerAgentConfig(brokerEndpoint: "tcp://127.0.0.1:1", workDir: "/w", worker: worker(gpus: 0),
                                       gpuDevices: ["1", "3", "5"])
        #expect(config.worker.gpus == 3 && config.gpuDevices == ["1", "3", "5"])
        config.worker.gpus = 8
        let agent = try WorkerAgent(config: config)
        defer { agent.close() }
        #expect(agent.config.worker.gpus == 3, "the agent advertises as many GPUs as it has ids")
        #expect(agent.config.gpuDevices == ["1", "3", "5"])
    }
}
