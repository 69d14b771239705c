import Foundation

/// Log levels, as swift-log names them.
let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

/// The broker's endpoint as workers, the optimizer and the CLI know it.
let brokerEnvironment = "HYPERLOOM_BROKER"

/// `hyperloom broker`: `Configs/broker.yaml`.
public enum BrokerSettings {
    static let command = "broker"

    public static let endpoint = Setting(
        command, "endpoint", .string, default: "tcp://127.0.0.1:5555",
        help: "ROUTER endpoint for workers and clients (tcp://*:5555 for every interface: needs keys or insecure).")
    public static let feed = Setting(
        command, "feed", .string, default: "tcp://127.0.0.1:5556", help: "PUB endpoint of the event feed.")
    public static let feedReplay = Setting(
        command, "feed_replay", .optional(.string), default: nil, note: "the feed's host, port + 1",
        help: "ROUTER endpoint answering the feed's replay requests (subscribers assume the feed's port + 1).")
    public static let feedJournal = Setting(
        command, "feed_journal", .optional(.string), default: nil,
        note: "hyperloom-data/broker/feed-<feed port>.journal; in memory for an ephemeral port",
        help: "The feed's append-only journal: sequence numbers continue from it after a restart, replays are read from it.")
    public static let heartbeat = Setting(
        command, "heartbeat", .duration(positive: true), default: .seconds(1),
        help: "Heartbeat interval towards clients (workers propose their own).")
    public static let liveness = Setting(
        command, "liveness", .integer(atLeast: 1), default: 3, help: "Missed heartbeats after which a peer is declared dead.")
    public static let recoveryWindow = Setting(
        command, "recovery_window", .duration(positive: false), default: .seconds(5),
        help: "How long re-synced jobs wait for their workers to re-register after a start.")
    public static let maxMessageSize = Setting(
        command, "max_message_size", .integer(atLeast: 1024), default: 64 << 20,
        help: "Largest message accepted, in bytes; a peer that sends a larger one is disconnected.")
    public static let shutdownWorkers = Setting(
        command, "shutdown_workers", .bool, default: false, help: "On SIGTERM/SIGINT also tell every worker to shut down.")
    public static let keys = Setting(
        command, "keys", .optional(.string), default: nil, note: "none: no authentication",
        help: "Keys directory (broker.key and <role>s/NAME.pub, see Docs/security.md): authenticate and encrypt every peer; "
            + "SIGHUP reloads the allowlist.")
    public static let insecure = Setting(
        command, "insecure", .bool, default: false,
        help: "Allow binding a non-loopback address without keys (anyone who reaches the port can run commands on the workers).")
    public static let logLevel = Setting(
        command, "log_level", .choice(logLevels), default: "info", help: "Log level.")
    public static let stallIntervalFactor = Setting(
        command, "stall_interval_factor", .number(above: 0), default: 10,
        help: "A job without stall_timeout stalls after this many times the median of its report intervals (Docs/stragglers.md).")
    public static let stallTimeoutMinimum = Setting(
        command, "stall_timeout_minimum", .duration(positive: true), default: .seconds(60),
        help: "No stall timeout derived from report intervals is shorter than this.")
    public static let slowAttemptFactor = Setting(
        command, "slow_attempt_factor", .number(above: 1), default: 2,
        help: "An attempt is slow (and gets a backup copy) once it has run this many times its completed peers' median.")
    public static let slowAttemptMinPeers = Setting(
        command, "slow_attempt_min_peers", .integer(atLeast: 1), default: 5,
        help: "Completed peers needed before an attempt of their group can be called slow.")
    public static let slowAttemptMinRuntime = Setting(
        command, "slow_attempt_min_runtime", .duration(positive: false), default: .seconds(5),
        help: "No attempt is called slow before it has run this long.")

    /// Limits on what peers may make the broker hold (Docs/security.md, "Limits").
    public static let maxWorkers = Setting(
        command, "max_workers", .integer(atLeast: 1), default: 10_000,
        help: "Most workers registered at once; a READY beyond it is refused with an ERROR naming the limit.")
    public static let maxClients = Setting(
        command, "max_clients", .integer(atLeast: 1), default: 10_000,
        help: "Most client records at once; a HELLO beyond it is refused with an ERROR naming the limit.")
    public static let maxReplayPrefixes = Setting(
        command, "max_replay_prefixes", .integer(in: 1...64), default: 64,
        help: "Most topic prefixes in one feed replay request (at most 64, the protocol's bound); a request with more is dropped.")

    public static let table = SettingsTable(command: command, [
        endpoint, feed, feedReplay, feedJournal, heartbeat, liveness, recoveryWindow, maxMessageSize, shutdownWorkers, keys,
        insecure, logLevel, stallIntervalFactor, stallTimeoutMinimum, slowAttemptFactor, slowAttemptMinPeers, slowAttemptMinRuntime,
        maxWorkers, maxClients, maxReplayPrefixes,
    ])
}

/// `hyperloom worker`: `Configs/worker.yaml`.
public enum WorkerSettings {
    static let command = "worker"

    public static let broker = Setting(
        command, "broker", .string, default: "tcp://127.0.0.1:5555", environment: brokerEnvironment,
        help: "The broker's endpoint.")
    public static let slots = Setting(
        command, "slots", .integer(atLeast: 1), default: ProcessInfo.processInfo.activeProcessorCount,
        note: "the number of cores", help: "Job slots offered.")
    public static let gpus = Setting(
        command, "gpus", .string, default: "auto",
        help: "GPUs offered: a count (2), device ids (0,2 or GPU-<uuid>; 2, for device 2 alone), "
            + "auto (CUDA_VISIBLE_DEVICES, else nvidia-smi) or none.")
    public static let workDir = Setting(
        command, "work_dir", .optional(.string), default: nil, note: "hyperloom-data/worker-<id>",
        help: "Directory for attempt logs and checkpoints.")
    public static let heartbeat = Setting(
        command, "heartbeat", .duration(positive: true), default: .seconds(1), help: "Heartbeat interval proposed to the broker.")
    public static let liveness = Setting(
        command, "liveness", .integer(atLeast: 1), default: 3,
        help: "Missed heartbeats after which the broker is considered dead.")
    public static let killGrace = Setting(
        command, "kill_grace", .duration(positive: false), default: .seconds(5),
        help: "Time between SIGTERM and SIGKILL when a trial is stopped.")
    public static let id = Setting(
        command, "id", .optional(.string), default: nil, note: "<host>-<pid>",
        help: "Stable worker id; the broker matches a reconnecting worker's attempts by it.")
    public static let logLevel = Setting(
        command, "log_level", .choice(logLevels), default: "info", help: "Log level.")
    public static let labels = Setting(
        command, "labels", .optional(.string), default: nil, note: "none",
        help: "Pool labels, comma-separated (trusted,a100): a study whose trial names worker_labels runs only on workers carrying them all.")

    public static let checkpointStore = Setting(
        command, "checkpoint_store", .string, default: "ship",
        help: "Where checkpoints go: ship (through the broker to the optimizer's store) or shared:DIR "
            + "(a directory every worker mounts; nothing travels).")
    public static let checkpointMaxBytes = Setting(
        command, "checkpoint_max_bytes", .integer(atLeast: 0), default: 1 << 30,
        help: "Largest checkpoint directory shipped, in bytes; a larger one is not shipped and its update says why.")

    public static let key = Setting(
        command, "key", .optional(.string), default: nil, note: "none",
        help: "This worker's secret key file (hyperloom keygen), when the broker authenticates.")
    public static let brokerKey = Setting(
        command, "broker_key", .optional(.string), default: nil, note: "none", help: "The broker's public key file (broker.pub).")

    public static let table = SettingsTable(command: command, [
        broker, slots, gpus, workDir, heartbeat, liveness, killGrace, id, labels, checkpointStore, checkpointMaxBytes, key, brokerKey,
        logLevel,
    ])
}

/// `hyperloom optimizer`: `Configs/optimizer.yaml`.
public enum OptimizerSettings {
    static let command = "optimizer"

    public static let broker = Setting(
        command, "broker", .string, default: "tcp://127.0.0.1:5555", environment: brokerEnvironment,
        help: "The broker's endpoint.")
    public static let store = Setting(
        command, "store", .string, default: "hyperloom-data/hyperloom.db", help: "The store (SQLite file); created when missing.")
    public static let id = Setting(
        command, "id", .string, default: "optimizer",
        help: "Stable client id; a restarted optimizer with the same id takes over its studies' results.")
    public static let feed = Setting(
        command, "feed", .optional(.string), default: nil, note: "the feed the broker announces",
        help: "The broker's feed endpoint, from which worker events (joined, lost, left) and trial output are recorded in the store.")
    public static let logLevel = Setting(
        command, "log_level", .choice(logLevels), default: "info", help: "Log level.")
    public static let checkpointDir = Setting(
        command, "checkpoint_dir", .optional(.string), default: nil, note: "checkpoints/ beside the store",
        help: "Directory of the checkpoint store (content-addressed blobs; the index is in the store).")
    public static let checkpointKeep = Setting(
        command, "checkpoint_keep", .integer(atLeast: 1), default: 2,
        help: "Checkpoints kept per trial, newest first; older ones are deleted.")
    public static let checkpointMaxBytes = Setting(
        command, "checkpoint_max_bytes", .integer(atLeast: 0), default: 1 << 30,
        help: "Largest checkpoint kept, in bytes; a larger one is recorded with checkpoint_error and not kept.")

    public static let key = Setting(
        command, "key", .optional(.string), default: nil, note: "none",
        help: "The optimizer's secret key file (role optimizer), when the broker authenticates.")
    public static let brokerKey = Setting(
        command, "broker_key", .optional(.string), default: nil, note: "none", help: "The broker's public key file (broker.pub).")

    public static let checkpointMaxFiles = Setting(
        command, "checkpoint_max_files", .integer(in: 1...100_000), default: 100_000,
        help: "Most files in one checkpoint (at most 100000, the protocol's bound); a checkpoint with more is recorded with checkpoint_error and not kept.")
    public static let specMaxBytes = Setting(
        command, "spec_max_bytes", .integer(in: 1...(4 << 20)), default: 4 << 20,
        help: "Longest study spec accepted by submit, in bytes (at most 4 MiB).")
    public static let specMaxNodes = Setting(
        command, "spec_max_nodes", .integer(in: 1...500_000), default: 500_000,
        help: "Most YAML nodes a submitted spec may expand to, aliases counted each time they are used (at most 500000).")

    public static let table = SettingsTable(command: command, [
        broker, store, id, feed, checkpointDir, checkpointKeep, checkpointMaxBytes, checkpointMaxFiles, specMaxBytes, specMaxNodes,
        key, brokerKey, logLevel,
    ])
}
