import ArgumentParser
import Foundation
import Logging

/// A duration written the way people write them: `250ms`, `1s`, `1.5s`, `2m`, `1h`.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible {
    var duration: Duration
    let text: String

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where argument.hasSuffix(suffix) {
            let number = argument.dropLast(suffix.count)
            // "ms" ends with "s": only take "s" when what is left is a plain number.
            guard let value = Double(number), value >= 0, value.isFinite else { continue }
            duration = .milliseconds(Int64((value * scale * 1000).rounded()))
            text = argument
            return
        }
        return nil
    }

    var description: String { text }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// Options every long-running command shares.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: info; warning for bench).")
    var logLevel: Logger.Level?

    func bootstrap(default fallback: Logger.Level = .info) {
        let level = logLevel ?? fallback
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// The broker a client command talks to.
struct BrokerOption: ParsableArguments {
    @Option(help: "The broker's endpoint (default: $HYPERLOOM_BROKER or tcp://127.0.0.1:5555).")
    var broker: String = ProcessInfo.processInfo.environment["HYPERLOOM_BROKER"] ?? "tcp://127.0.0.1:5555"
}

/// Standard output and error for people and for the processes that watch ours.
enum Console {
    /// Writes one line to standard output at once. `print` is block-buffered when stdout is a
    /// pipe or a file, and a supervisor (or a test) waiting for "listening on" would never see it.
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Writes one line to standard error.
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
