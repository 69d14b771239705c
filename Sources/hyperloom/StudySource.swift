import ArgumentParser
import Foundation
import LoomClient
import LoomConfig
import LoomModel
import LoomOptimizer
import LoomStore
import LoomWire
import ZeroMQ

/// Where study commands get their documents: the optimizer through the broker, or a store file.
///
/// Precedence: `--broker` given → the optimizer; `--store` given → the file; `$HYPERLOOM_BROKER`
/// set → the optimizer; the default store file exists (what `hyperloom run` leaves) → the file;
/// otherwise the optimizer behind the default broker.
struct StudySourceOptions: ParsableArguments {
    @Option(help: "The broker's endpoint; study commands reach the optimizer through it (default: $HYPERLOOM_BROKER or tcp://127.0.0.1:5555).")
    var broker: String?

    @Option(help: "Read this store file directly instead of asking the optimizer (default when no broker is named and \(StudySourceOptions.defaultStore) exists).")
    var store: String?

    @Option(help: "How long to wait for the broker and the optimizer.")
    var timeout = DurationArgument(argument: "10s")!

    @OptionGroup var keys: ClientKeyOptions

    /// Where the optimizer and `hyperloom run` keep their store by default.
    static let defaultStore = OptimizerSettings.store.defaultValue
    static let defaultBroker = OptimizerSettings.broker.defaultValue

    /// Opens the source; `writes` is true for commands that change a study (they need the optimizer).
    func open(writes: Bool = false) throws -> StudySource {
        let env = ProcessInfo.processInfo.environment["HYPERLOOM_BROKER"]
        if broker == nil, !writes, let path = store ?? (env == nil && FileManager.default.fileExists(atPath: Self.defaultStore) ? Self.defaultStore : nil) {
            do {
                return .store(try SQLiteStore(path: path, readOnly: true))
            } catch {
                throw Failure("cannot open the store: \(error)")
            }
        }
        if writes, store != nil, broker == nil {
            throw Failure("this command changes a study: it needs the optimizer (--broker), not --store")
        }
        return try StudySource.connect(broker ?? env ?? Self.defaultBroker, timeout: timeout.duration, curve: try keys.curve())
    }

    /// Opens the source, runs `body` with it, closes it; failures become a message on stderr and
    /// exit status 1.
    func session(writes: Bool = false, _ body: (StudySource) throws -> Void) throws {
        try reportingFailures {
            let studies = try open(writes: writes)
            defer { studies.close() }
            try body(studies)
        }
    }
}

/// An error to print on stderr with exit status 1.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

enum StudySource {
    case optimizer(BrokerClient, timeout: Duration)
    case store(SQLiteStore)

    /// The optimizer behind the broker at `endpoint` (an embedded fabric's: pass its `context`).
    static func connect(_ endpoint: String, timeout: Duration, curve: CurveClientKeys? = nil,
                        context: ZMQContext? = nil) throws -> StudySource {
        let client = try BrokerClient(endpoint: endpoint, name: "hyperloom cli", curve: curve, context: context)
        do {
            try client.connect(timeout: timeout)
        } catch {
            client.close()
            throw Failure("\(error) (broker \(endpoint); " + (curve == nil
                ? "if it authenticates its peers, pass --key and --broker-key or set HYPERLOOM_KEY and HYPERLOOM_BROKER_KEY)"
                : "if it authenticates, is your public key in its clients/ directory?)"))
        }
        return .optimizer(client, timeout: timeout)
    }

    /// Sends `request` to the optimizer (waiting up to `patience`, or the source's timeout, for
    /// one to be connected), or answers it from the store for the read-only ops.
    func fetch(_ request: OptimizerRequest, patience: Duration? = nil) throws -> JSONValue {
        switch self {
        case .optimizer(let client, let timeout):
            let body: Frame
            do {
                body = try client.request(service: ServiceName.optimizer, body: request.body, timeout: patience ?? timeout)
            } catch {
                throw Failure("\(error)")
            }
            guard let value = try? JSONValue(parsing: body) else {
                throw Failure("the optimizer's answer is not JSON")
            }
            return value
        case .store(let store):
            do {
                switch request.op {
                case "studies": return try StudyDocuments.studies(store)
                case "status", "trials", "export":
                    guard let id = request.study else { throw Failure("\(request.op): no study given") }
                    guard let study = try store.study(id) else {
                        let known = try store.studies().map(\.id)
                        throw Failure("no study \"\(id)\" in the store; known: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
                    }
                    if request.op == "status" { return try StudyDocuments.summary(study, store: store) }
                    return try StudyDocuments.trials(id, store: store, reports: request.op == "export")
                case "logs":
                    return try StudyDocuments.logs(try request.logQuery(), store: store)
                default:
                    throw Failure("\(request.op) needs the optimizer (--broker)")
                }
            } catch let error as Failure {
                throw error
            } catch {
                throw Failure("\(error)")
            }
        }
    }

    /// The broker's status document, when talking to a broker.
    func brokerStatus() -> JSONValue? {
        guard case .optimizer(let client, let timeout) = self else { return nil }
        return try? client.status(timeout: timeout)
    }

    func close() {
        if case .optimizer(let client, _) = self { client.close() }
    }
}

/// Runs a command body, turning a `Failure` into a message on stderr and exit status 1.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let failure as Failure {
        Console.error("error: \(failure)")
        throw ExitCode.failure
    } catch let error as SpecError {
        Console.error("error: \(error)")
        throw ExitCode.failure
    }
}
