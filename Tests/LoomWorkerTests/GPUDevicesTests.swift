import Foundation
import Testing
@testable import LoomWorker
#if canImport(Glibc)
import Glibc
#endif

/// `--gpus`, device lists and `nvidia-smi` output: pure parsing, then discovery with the process
/// call faked, then with a fake `nvidia-smi` script on PATH.
@Suite(.timeLimit(.minutes(1)))
struct GPUArgumentParsing {
    @Test(arguments: [
        ("auto", GPUSelection.auto), (" AUTO ", .auto),
        ("none", .devices([])), ("0", .devices([])), ("000", .devices([])),
        ("1", .devices(["0"])), ("4", .devices(["0", "1", "2", "3"])), ("02", .devices(["0", "1"])),
        ("0,2", .devices(["0", "2"])), ("3,1", .devices(["3", "1"])), ("0, 1", .devices(["0", "1"])),
        ("2,", .devices(["2"])), ("01,3", .devices(["1", "3"])),
        ("GPU-8f5e1a2b-1c3d-4e5f", .devices(["GPU-8f5e1a2b-1c3d-4e5f"])),
        ("MIG-GPU-8f5e/1/0,1", .devices(["MIG-GPU-8f5e/1/0", "1"])),
    ])
    func anArgumentSelectsDevices(argument: String, expected: GPUSelection) throws {
        #expect(try GPUDevices.parse(argument) == expected)
    }

    @Test(arguments: [
        ("", "it is empty"), ("-1", "\"-1\" is neither a device index nor a GPU-/MIG- UUID"),
        ("two", "\"two\" is neither a device index nor a GPU-/MIG- UUID"), ("0,,1", "an empty device id"),
        ("1,1", "device 1 is listed twice"), ("1,01", "device 1 is listed twice"), ("257", "a count above 256"),
        ("0,x", "\"x\" is neither a device index nor a GPU-/MIG- UUID"), ("auto,0", "\"auto\" is neither a device index nor a GPU-/MIG- UUID"),
        ("GPU-", "\"GPU-\" is neither a device index nor a GPU-/MIG- UUID"), (",", "an empty device id"),
        ("GPU-a b", "\"GPU-a b\" is neither a device index nor a GPU-/MIG- UUID"),
    ])
    func aMalformedArgumentIsRefusedWithTheReason(argument: String, reason: String) {
        #expect(throws: GPUArgumentError(argument: argument, reason: reason)) { try GPUDevices.parse(argument) }
    }

    @Test func theErrorSaysWhatIsExpected() {
        let error = GPUArgumentError(argument: "two", reason: "\"two\" is neither a device index nor a GPU-/MIG- UUID")
        #expect(error.description == #""two" is not a GPU selection: "two" is neither a device index nor a GPU-/MIG- UUID; "#
            + "expected a count (2), device ids (0,2 or GPU-<uuid>), auto or none")
    }

    @Test func aDeviceListReadsALoneNumberAsADevice() throws {
        #expect(try GPUDevices.parseDeviceList("2") == ["2"])
        #expect(try GPUDevices.parseDeviceList(" ") == [])
        #expect(try GPUDevices.parseDeviceList("1,0") == ["1", "0"])
        #expect(throws: GPUArgumentError.self) { try GPUDevices.parseDeviceList("-1") }
    }

    @Test func aCountMakesConsecutiveIds() {
        #expect(GPUDevices.ids(count: 3) == ["0", "1", "2"])
        #expect(GPUDevices.ids(count: 0) == [])
        #expect(GPUDevices.ids(count: -1) == [])
    }
}

@Suite(.timeLimit(.minutes(1)))
struct NvidiaSMIOutputParsing {
    @Test(arguments: [
        ("0\n1\n", ["0", "1"]), ("0\r\n1\r\n2\r\n3\r\n", ["0", "1", "2", "3"]), ("0", ["0"]),
        ("", []), ("\n\n", []), ("  0  \n\n 1\n", ["0", "1"]),
    ])
    func indexLinesAreTheDevices(output: String, expected: [String]) throws {
        #expect(try GPUDevices.parseIndexQuery(output) == expected)
    }

    @Test(arguments: [
        ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n",
         "line 1 is not a device index: \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver...\""),
        ("0\nNo devices were found\n", "line 2 is not a device index: \"No devices were found\""),
        ("index\n0\n", "line 1 is not a device index: \"index\""),
        ("0, 1\n", "line 1 is not a device index: \"0, 1\""),
        ("0\n0\n", "device 0 is listed twice"),
        ("-1\n", "line 1 is not a device index: \"-1\""),
        ("\u{FFFD}\u{0}\n", "line 1 is not a device index: \"\u{FFFD}\u{0}\""),
        ("99999999999999999999\n", "line 1 is not a device index: \"99999999999999999999\""),
    ])
    func anythingElseIsNotTrusted(output: String, reason: String) {
        #expect(throws: GPUDevices.DiscoveryFailure(reason: reason)) { try GPUDevices.parseIndexQuery(output) }
    }

    @Test func aCleanAnswerOffersItsDevices() {
        #expect(GPUDevices.interpretIndexQuery(.exited(code: 0, stdout: "0\n1\n", stderr: ""))
            == GPUResolution(devices: ["0", "1"], note: "nvidia-smi lists 2 GPUs: offering 0, 1"))
        #expect(GPUDevices.interpretIndexQuery(.exited(code: 0, stdout: "", stderr: ""))
            == GPUResolution(devices: [], note: "nvidia-smi lists no GPU: offering none"))
    }

    @Test func everyFailureOffersNoGPUAndSaysWhy() {
        let driver = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
        let cases: [(CommandOutcome, String)] = [
            (.exited(code: 9, stdout: "\n\(driver)\n", stderr: ""), "nvidia-smi exited with code 9 (\"\(driver)\"): offering no GPU"),
            (.exited(code: 6, stdout: "No devices were found\n", stderr: ""), #"nvidia-smi exited with code 6 ("No devices were found"): offering no GPU"#),
            (.exited(code: 1, stdout: "ignored\n", stderr: "error: bad flag\n"), #"nvidia-smi exited with code 1 ("error: bad flag"): offering no GPU"#),
            (.exited(code: 127, stdout: "", stderr: ""), "nvidia-smi exited with code 127: offering no GPU"),
            (.exited(code: 0, stdout: "garbage\n", stderr: ""),
             "nvidia-smi printed something other than device indexes (line 1 is not a device index: \"garbage\"): offering no GPU"),
            (.signaled(11), "nvidia-smi was killed by signal 11: offering no GPU"),
            (.timedOut(.seconds(5)), "nvidia-smi did not answer within 5s and was killed: offering no GPU"),
            (.timedOut(.milliseconds(200)), "nvidia-smi did not answer within 0.2s and was killed: offering no GPU"),
            (.failed("Permission denied"), "nvidia-smi could not be run: Permission denied: offering no GPU"),
        ]
        for (outcome, note) in cases {
            #expect(GPUDevices.interpretIndexQuery(outcome) == GPUResolution(devices: [], note: note))
        }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct GPUDiscovery {
    /// Discovery with the two effects faked; `queried` records what was run.
    func discover(_ environment: [String: String], found: String? = "/usr/bin/nvidia-smi",
                  answer: CommandOutcome = .exited(code: 0, stdout: "0\n1\n", stderr: "")) -> (GPUResolution, [String]) {
        var queried: [String] = []
        let resolution = GPUDevices.discover(environment: environment, locate: { _ in found }, query: { path in
            queried.append(path)
            return answer
        })
        return (resolution, queried)
    }

    @Test func theWorkersOwnVisibleDevicesWinOverNvidiaSMI() {
        let (resolution, queried) = discover(["CUDA_VISIBLE_DEVICES": "2,3"])
        #expect(resolution == GPUResolution(devices: ["2", "3"],
                                            note: #"CUDA_VISIBLE_DEVICES="2,3" in the worker's environment: offering GPUs 2, 3"#))
        #expect(queried.isEmpty)
    }

    @Test func anEmptyOrUnusableVisibleDevicesOffersNoGPU() {
        #expect(discover(["CUDA_VISIBLE_DEVICES": ""]).0
            == GPUResolution(devices: [], note: #"CUDA_VISIBLE_DEVICES="" in the worker's environment: offering no GPU"#))
        let (hidden, queried) = discover(["CUDA_VISIBLE_DEVICES": "-1"])
        #expect(hidden.devices == [] && queried.isEmpty)
        #expect(hidden.note == #"CUDA_VISIBLE_DEVICES="-1" in the worker's environment names no usable device "#
            + #"("-1" is neither a device index nor a GPU-/MIG- UUID): offering no GPU"#)
    }

    @Test func withoutNvidiaSMIOnPathThereIsNoGPU() {
        let (resolution, queried) = discover(["PATH": "/nowhere"], found: nil)
        #expect(resolution == GPUResolution(devices: [], note: "nvidia-smi is not on PATH: offering no GPU"))
        #expect(queried.isEmpty)
    }

    @Test func nvidiaSMIFoundOnPathIsAsked() {
        let (resolution, queried) = discover(["PATH": "/usr/bin"])
        #expect(resolution.devices == ["0", "1"])
        #expect(queried == ["/usr/bin/nvidia-smi"])
    }

    @Test func anExplicitSelectionNeedsNoDiscoveryAndNotesAnInheritedVisibleDevices() throws {
        #expect(try GPUDevices.resolve("2", environment: [:]) == GPUResolution(devices: ["0", "1"]))
        #expect(try GPUDevices.resolve("none", environment: [:]) == GPUResolution(devices: []))
        let noted = try GPUDevices.resolve("0,1", environment: ["CUDA_VISIBLE_DEVICES": "3"])
        #expect(noted.devices == ["0", "1"])
        #expect(noted.note == #"offering GPUs 0, 1: each trial's CUDA_VISIBLE_DEVICES replaces the worker's own ("3"), "#
            + "so device ids are the machine's numbering")
        #expect(throws: GPUArgumentError.self) { try GPUDevices.resolve("lots", environment: [:]) }
    }
}

/// Discovery through a real child process: fake `nvidia-smi` scripts on a private PATH.
@Suite(.timeLimit(.minutes(1)))
final class GPUDiscoveryWithAProcess {
    let bin: String = {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("hyperloom-gpu-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    deinit { try? FileManager.default.removeItem(atPath: bin) }

    /// Installs `body` as `<bin>/nvidia-smi`.
    func fakeNvidiaSMI(_ body: String) throws {
        let path = bin + "/nvidia-smi"
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    /// `GPUDevices.discover`, again while the fresh script is "busy": a child that another test
    /// spawned at the moment the script was written holds a copy of its descriptor until it
    /// execs, and exec refuses a file open for writing (ETXTBSY). Only freshly written scripts
    /// race like this; a real nvidia-smi does not.
    func discover(_ environment: [String: String], timeout: Duration = GPUDevices.discoveryTimeout) -> GPUResolution {
        var resolution = GPUDevices.discover(environment: environment, timeout: timeout)
        for _ in 0..<50 where resolution.note?.contains("Text file busy") == true {
            usleep(20_000)
            resolution = GPUDevices.discover(environment: environment, timeout: timeout)
        }
        return resolution
    }

    @Test func theIndexQueryIsRunAndItsAnswerParsed() throws {
        // Answers only the exact query the parser expects.
        try fakeNvidiaSMI(#"[ "$1 $2" = "--query-gpu=index --format=csv,noheader" ] || exit 2; printf '0\n1\n2\n'"#)
        #expect(try GPUDevices.parse("auto") == .auto)
        let resolution = discover(["PATH": bin])
        #expect(resolution == GPUResolution(devices: ["0", "1", "2"], note: "nvidia-smi lists 3 GPUs: offering 0, 1, 2"))
    }

    @Test func aFailingNvidiaSMIOffersNoGPU() throws {
        try fakeNvidiaSMI("echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9")
        let resolution = discover(["PATH": bin])
        #expect(resolution == GPUResolution(devices: [], note:
            #"nvidia-smi exited with code 9 ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."): offering no GPU"#))
    }

    @Test func aHangingNvidiaSMIIsKilledAtTheLimit() throws {
        try fakeNvidiaSMI("sleep 30")
        let started = ContinuousClock.now
        let resolution = discover(["PATH": bin + ":/usr/bin:/bin"], timeout: .milliseconds(200))
        #expect(started.duration(to: .now) < .seconds(3))
        #expect(resolution == GPUResolution(devices: [], note: "nvidia-smi did not answer within 0.2s and was killed: offering no GPU"))
    }

    @Test func aPathWithoutNvidiaSMIOffersNoGPU() {
        #expect(GPUDevices.discover(environment: ["PATH": bin]).note == "nvidia-smi is not on PATH: offering no GPU")
    }

    @Test func aCommandThatCannotStartIsAFailureNotACrash() {
        let outcome = ShortCommand.run(executable: bin + "/missing", arguments: ["missing"], environment: [], timeout: .seconds(1))
        #expect(outcome == .failed("No such file or directory"))
    }
}
