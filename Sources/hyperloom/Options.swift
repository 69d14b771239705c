import ArgumentParser
import Foundation
import LoomConfig
import Logging

/// A duration written the way people write them: `250ms`, `1s`, `1.5s`, `2m`, `1h`, or a number
/// of seconds (the same reading as the config files').
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible {
    var duration: Duration
    let text: String

    init?(argument: String) {
        guard let duration = DurationText.parse(argument) else { return nil }
        self.duration = duration
        text = argument
    }

    var description: String { text }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// The log level of commands without a settings table (`bench`).
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default: info; warning for bench).")
    var logLevel: Logger.Level?

    func bootstrap(default fallback: Logger.Level = .info) {
        Self.bootstrap(level: logLevel ?? fallback)
    }

    /// Logs at `level` and above to standard error; a name that is no level (the settings tables
    /// only let swift-log's names through) logs at info.
    static func bootstrap(level name: String) {
        bootstrap(level: Logger.Level(rawValue: name) ?? .info)
    }

    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// The broker a client command talks to (`ping`).
struct BrokerOption: ParsableArguments {
    @Option(help: "The broker's endpoint (default: $HYPERLOOM_BROKER or \(WorkerSettings.broker.defaultValue)).")
    var broker: String = ProcessInfo.processInfo.environment[WorkerSettings.broker.environment]
        ?? WorkerSettings.broker.defaultValue
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
