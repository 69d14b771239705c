import Foundation
import Testing

/// `/metrics` of a real broker, optimizer and worker while a study runs: the figures follow what
/// happened, and `promtool check metrics` accepts each endpoint (skipped, visibly, without it).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MetricsEndpoints {
    static let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool", "/bin/promtool"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// What each service's `/metrics` said after a three-trial study completed.
    struct Scrapes {
        var broker: String
        var optimizer: String
        var worker: String
    }

    /// Runs the fabric once for both tests (each service on `--metrics-port 0`).
    static let scrapes: Result<Scrapes, any Error> = Result { try runStudyAndScrape() }

    static func runStudyAndScrape() throws -> Scrapes {
        let (broker, endpoint, feed) = try Harness.broker(extra: ["--metrics-port", "0"])
        defer { broker.stop() }
        let store = Harness.scratch.appendingPathComponent("metrics.db").path
        let optimizer = try Spawned("optimizer", ["optimizer", "--broker", endpoint, "--store", store, "--feed", feed, "--metrics-port", "0"])
        defer { optimizer.stop() }
        let worker = try Harness.worker("m1", broker: endpoint, slots: 2, extra: ["--metrics-port", "0"])
        defer { worker.stop() }
        let spec = Harness.scratch.appendingPathComponent("metrics-study.yaml")
        try """
            name: metrics
            metric: loss
            mode: min
            space:
              x: {uniform: [0, 1]}
            searcher: {type: random, seed: 3}
            trial:
              command: ["/bin/sh", "-c", "echo '@hyperloom {\\"loss\\": 0.25}'"]
            budget:
              max_trials: 3
              max_concurrent: 2
            """.write(to: spec, atomically: true, encoding: .utf8)
        let submitted = try Studies.cli(["submit", spec.path, "--broker", endpoint])
        try #require(submitted.status == 0, "\(submitted.output)")
        let urls = try [broker, optimizer, worker].map { service in
            let line = try #require(service.waitForLine(containing: "metrics on http://"), "\(service.output)")
            return String(line[line.range(of: "http://")!.lowerBound...]).trimmingCharacters(in: .whitespaces)
        }
        // Gauges and counters are refreshed about once a second: wait until the figures say the
        // study is done.
        var scrapes = Scrapes(broker: "", optimizer: "", worker: "")
        let deadline = ContinuousClock.now + .seconds(60)
        repeat {
            Thread.sleep(forTimeInterval: 0.5)
            scrapes = Scrapes(broker: try get(urls[0]), optimizer: try get(urls[1]), worker: try get(urls[2]))
        } while ContinuousClock.now < deadline
            && !(scrapes.optimizer.contains("hyperloom_optimizer_studies{state=\"complete\"} 1.0")
                 && scrapes.broker.contains("hyperloom_broker_jobs_finished_total 3")
                 && scrapes.worker.contains("hyperloom_worker_trial_exits_total{outcome=\"completed\"} 3"))
        return scrapes
    }

    static func get(_ url: String) throws -> String {
        let run = try Harness.run(["/usr/bin/env", "python3", "-c",
                                   "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())",
                                   url], timeout: .seconds(20))
        guard run.status == 0 else { throw HarnessError.noStart("GET \(url)", run.output) }
        return run.output
    }

    @Test func figuresFollowTheStudy() throws {
        let scrapes = try Self.scrapes.get()
        #expect(scrapes.broker.contains("hyperloom_broker_jobs_assigned_total 3"), "\(scrapes.broker)")
        #expect(scrapes.broker.contains("hyperloom_broker_jobs_finished_total 3"), "\(scrapes.broker)")
        #expect(scrapes.broker.contains("hyperloom_broker_dispatch_latency_seconds_count 3"), "\(scrapes.broker)")
        #expect(scrapes.broker.contains("hyperloom_broker_slots{resource=\"cpu\",state=\"free\"} 2.0")
                || scrapes.broker.contains("hyperloom_broker_slots{resource=\"cpu\",state=\"free\"} 2"), "\(scrapes.broker)")
        // The finished study left the optimizer's memory: its trials are counted in the store only.
        #expect(scrapes.optimizer.contains("hyperloom_optimizer_trials{state=\"complete\"} 0.0"), "\(scrapes.optimizer)")
        #expect(scrapes.optimizer.contains("hyperloom_optimizer_studies{state=\"complete\"} 1.0"), "\(scrapes.optimizer)")
        #expect(scrapes.optimizer.contains("hyperloom_optimizer_ask_latency_seconds_count{searcher=\"random\"}"), "\(scrapes.optimizer)")
        #expect(scrapes.worker.contains("hyperloom_worker_trial_exits_total{outcome=\"completed\"} 3"), "\(scrapes.worker)")
        #expect(scrapes.worker.contains("hyperloom_worker_trials_running 0"), "\(scrapes.worker)")
    }

    @Test(.enabled(if: promtool != nil, "promtool is not installed (apt-get install prometheus; .ci/install-deps does)"))
    func promtoolAcceptsEveryEndpoint() throws {
        let scrapes = try Self.scrapes.get()
        for (service, text) in [("broker", scrapes.broker), ("optimizer", scrapes.optimizer), ("worker", scrapes.worker)] {
            let file = Harness.scratch.appendingPathComponent("\(service).prom")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let check = try Harness.run(["/bin/sh", "-c", "\(Self.promtool!) check metrics < \(file.path)"], timeout: .seconds(30))
            #expect(check.status == 0, "promtool check metrics on the \(service)'s /metrics:\n\(check.output)")
            #expect(text.contains("# HELP hyperloom_\(service)_"), "\(service): no metric of its own")
        }
    }
}
