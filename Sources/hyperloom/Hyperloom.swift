import ArgumentParser

/// The `hyperloom` command: one root, one subcommand per process or tool.
@main
struct Hyperloom: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "hyperloom",
        abstract: "A job fabric for distributed hyperparameter optimization over ZeroMQ.",
        version: version,
        subcommands: [
            Run.self, Submit.self, StudyStatus.self, Trials.self, Best.self, Export.self, Cancel.self, Ask.self, Tell.self,
            Logs.self,
            Broker.self, Optimizer.self, Worker.self, Config.self, Feed.self, FeedLogger.self, Watch.self, Dashboard.self, PlotCommand.self, Ping.self,
            Bench.self, Keygen.self,
        ]
    )
}
