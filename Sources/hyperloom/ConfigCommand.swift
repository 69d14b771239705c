import ArgumentParser
import LoomConfig

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the settings of the long-running commands (broker, worker, optimizer).",
        discussion: """
            Every setting of those commands has a flag, an environment variable \
            (HYPERLOOM_<COMMAND>_<KEY>; the broker's endpoint for workers and the optimizer is \
            HYPERLOOM_BROKER) and a key in a YAML config file given with --config or \
            HYPERLOOM_<COMMAND>_CONFIG. A flag beats the environment, which beats the file, which \
            beats the default. Configs/broker.yaml, worker.yaml and optimizer.yaml list every key.
            """,
        subcommands: [ConfigShow.self])
}

struct ConfigShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a command's effective settings and where each came from (flag, env, file:line, default).",
        subcommands: [ShowSettings<BrokerOptions>.self, ShowSettings<WorkerOptions>.self, ShowSettings<OptimizerOptions>.self])
}

/// `hyperloom config show COMMAND [--config FILE] [flags…]`: the same options as COMMAND, resolved
/// as COMMAND resolves them, printed instead of run. Exits 1 when COMMAND would refuse them.
struct ShowSettings<Options: SettingsOptions>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: Options.table.command,
            abstract: "The effective settings of `hyperloom \(Options.table.command)` with these options, and their sources.")
    }

    @OptionGroup var options: Options

    func run() throws {
        Console.line(try options.settings().rendered())
    }
}
