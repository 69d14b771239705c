import Foundation
import LoomFuzz

// `hyperloom-fuzz`: the fuzz targets of `LoomFuzz` (Docs/security.md, "Fuzzing").
//
// Built with `-D FUZZING -sanitize=fuzzer,address` (`make fuzz`), it is a libFuzzer binary: the
// target is named by HYPERLOOM_FUZZ_TARGET and libFuzzer's own flags apply
// (`-max_total_time=30 CORPUS_DIR`). Built plainly, it writes the seed corpus and replays inputs
// without the fuzzer (to reproduce a crash under a debugger).

#if FUZZING
nonisolated(unsafe) var selected: FuzzTarget = .wire

/// libFuzzer's driver entry (compiler-rt): runs the fuzzing loop with `callback`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links an executable's entry point under the name `<module>_main` (and points `main`
/// at it), so the fuzzer binary's entry is that: it hands over to libFuzzer's driver.
@_cdecl("hyperloom_fuzz_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    _ = fuzzerInitialize(nil, nil)
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzerTestOneInput(data, size) }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32 {
    let name = ProcessInfo.processInfo.environment["HYPERLOOM_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("HYPERLOOM_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(name)\"\n".utf8))
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        try selected.run(bytes)
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        abort()
    }
    return 0
}
#else
@main
struct FuzzCorpusTool {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "seeds" where arguments.count == 2:
            writeSeeds(into: arguments[1])
        case "run" where arguments.count >= 3:
            guard let target = FuzzTarget(rawValue: arguments[1]) else { usage() }
            BrokerFuzz.trace = ProcessInfo.processInfo.environment["HYPERLOOM_FUZZ_TRACE"] == "1"
            OptimizerFuzz.trace = BrokerFuzz.trace
            run(target, paths: Array(arguments.dropFirst(2)))
        default:
            usage()
        }
    }

    static func usage() -> Never {
        FileHandle.standardError.write(Data("""
            usage: hyperloom-fuzz seeds DIR              write the seed corpus (DIR/<target>/seed-N)
                   hyperloom-fuzz run TARGET PATH...     run inputs (files, or directories of them) through TARGET
            targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))
            (built with -D FUZZING -sanitize=fuzzer it is a libFuzzer binary instead: see `make fuzz`)

            """.utf8))
        exit(2)
    }

    static func writeSeeds(into directory: String) {
        for target in FuzzTarget.allCases {
            let folder = directory + "/" + target.rawValue
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (i, seed) in target.seeds.enumerated() {
                FileManager.default.createFile(atPath: folder + "/seed-\(i)", contents: Data(seed))
            }
        }
    }

    static func run(_ target: FuzzTarget, paths: [String]) {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("hyperloom-fuzz: no such file or directory: \(path)\n".utf8))
                exit(1)
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        var failures = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            do {
                try target.run(Array(data))
            } catch {
                failures += 1
                print("\(file): \(error)")
            }
        }
        print("\(target.rawValue): \(files.count) inputs, \(failures) failures")
        if failures > 0 { exit(1) }
    }
}
#endif
