import CoreMetrics
import Foundation
import LoomMetrics
import Testing

/// The catalogue follows Prometheus' naming rules, the export carries its help text, and the
/// shipped Grafana dashboard only asks for metrics that exist.
struct MetricCatalogueTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test func namesAreUniquePrometheusNamesWithTheirUnit() {
        let names = MetricCatalogue.all.map(\.name)
        #expect(Set(names).count == names.count, "a metric is listed twice")
        for entry in MetricCatalogue.all {
            #expect(entry.name.range(of: "^hyperloom_(broker|optimizer|worker)_[a-z0-9_]+$", options: .regularExpression) != nil, "\(entry.name)")
            #expect((entry.kind == .counter) == entry.name.hasSuffix("_total"), "\(entry.name): counters and only counters end in _total")
            if entry.kind == .histogram {
                #expect(entry.name.hasSuffix("_seconds") && !entry.buckets.isEmpty, "\(entry.name): histograms are durations in seconds")
            }
            #expect(!entry.help.isEmpty)
        }
    }

    @Test func exportWritesHelpTypeAndLabelsOfMetricsMadeThroughSwiftMetrics() {
        let export = PrometheusExport()
        Counter(label: "hyperloom_worker_trial_exits_total", dimensions: [("outcome", "completed")], factory: export).increment(by: 3)
        Gauge(label: "hyperloom_broker_queue_depth", factory: export).record(7)
        Timer(label: "hyperloom_broker_dispatch_latency_seconds", factory: export).recordNanoseconds(2_000_000)
        let text = String(decoding: export.render(), as: UTF8.self)
        #expect(text.contains("# HELP hyperloom_worker_trial_exits_total Trial attempts that ended"))
        #expect(text.contains("# TYPE hyperloom_worker_trial_exits_total counter"))
        #expect(text.contains("hyperloom_worker_trial_exits_total{outcome=\"completed\"} 3"))
        #expect(text.contains("hyperloom_broker_queue_depth 7"))
        #expect(text.contains("# TYPE hyperloom_broker_dispatch_latency_seconds histogram"))
        // 2 ms falls in the 2.5 ms bucket and not in the 1 ms one.
        #expect(text.contains("hyperloom_broker_dispatch_latency_seconds_bucket{le=\"0.001\"} 0"))
        #expect(text.contains("hyperloom_broker_dispatch_latency_seconds_bucket{le=\"0.0025\"} 1"))
    }

    @Test func endpointServesMetricsAndNothingElse() async throws {
        let export = PrometheusExport()
        Gauge(label: "hyperloom_worker_slots", factory: export).record(4)
        let endpoint = try await MetricsEndpoint.start(host: "127.0.0.1", port: 0, export: export)
        #expect(endpoint.port > 0)
        let (status, body) = try await Self.get(endpoint.url)
        #expect(status == 200)
        #expect(body.contains("hyperloom_worker_slots 4"))
        let (missing, _) = try await Self.get("http://127.0.0.1:\(endpoint.port)/other")
        #expect(missing == 404)
        await endpoint.stop()
    }

    @Test func aTakenPortIsAClearError() async throws {
        let first = try await MetricsEndpoint.start(host: "127.0.0.1", port: 0, export: PrometheusExport())
        await #expect {
            try await MetricsEndpoint.start(host: "127.0.0.1", port: first.port, export: PrometheusExport()).stop()
        } throws: { error in
            "\(error)".contains("127.0.0.1:\(first.port)")
        }
        await #expect {
            try await MetricsEndpoint.start(host: "not-an-address", port: 0, export: PrometheusExport()).stop()
        } throws: { error in
            "\(error)".contains("not an IPv4 or IPv6 address")
        }
        await first.stop()
    }

    /// Every metric a panel of `Docker/grafana/hyperloom.json` queries is in the catalogue (the
    /// `_bucket`, `_sum` and `_count` series of a histogram included).
    @Test func grafanaDashboardQueriesOnlyCataloguedMetrics() throws {
        let path = Self.repository.appendingPathComponent("Docker/grafana/hyperloom.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any]
        let panels = try #require(json?["panels"] as? [[String: Any]])
        #expect(panels.count >= 8)
        var queried: Set<String> = []
        for panel in panels {
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "panel \(panel["title"] ?? "?") has no query")
            for target in targets {
                let expr = try #require(target["expr"] as? String)
                let regex = try NSRegularExpression(pattern: "hyperloom_[a-z0-9_]+")
                for match in regex.matches(in: expr, range: NSRange(expr.startIndex..., in: expr)) {
                    queried.insert(String(expr[Range(match.range, in: expr)!]))
                }
            }
        }
        #expect(!queried.isEmpty)
        for name in queried {
            let base = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
            #expect(MetricCatalogue.entry(named: name) != nil || MetricCatalogue.entry(named: base)?.kind == .histogram,
                    "the dashboard queries \(name), which no service exports")
        }
    }

    /// A GET through python3's urllib (python3 is installed by .ci/install-deps): status and
    /// body. Awaits the child's exit without blocking a thread of the pool the server runs on.
    static func get(_ url: String) async throws -> (Int, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-get-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import sys, urllib.request, urllib.error
            try:
                r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status); sys.stdout.write(r.read().decode())
            except urllib.error.HTTPError as e:
                print(e.code)
            """, url]
        process.standardOutput = try FileHandle(forWritingTo: output)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            process.terminationHandler = { _ in done.resume() }
            do { try process.run() } catch { done.resume() }
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        let status = Int(text.prefix { $0 != "\n" }) ?? 0
        return (status, String(text.drop { $0 != "\n" }.dropFirst()))
    }
}
