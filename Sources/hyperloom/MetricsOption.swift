import ArgumentParser
import LoomMetrics

/// The metrics endpoint of a long-running command (`--metrics-port`, `--metrics-host`).
enum MetricsOption {
    /// Starts `/metrics` on `host:port` when a port is set, printing where it listens; nil when
    /// no port is set. A port that cannot be bound ends the command with exit code 1.
    static func start(command: String, host: String, port: Int?) throws -> (export: PrometheusExport, endpoint: MetricsEndpoint)? {
        guard let port else { return nil }
        let export = PrometheusExport()
        do {
            let endpoint = try MetricsEndpoint.startBlocking(host: host, port: port, export: export)
            Console.line("\(command): metrics on \(endpoint.url)")
            return (export, endpoint)
        } catch {
            Console.error("error: \(error)")
            throw ExitCode.failure
        }
    }
}
