// swift-tools-version:6.0
import PackageDescription

/// Swift 6 settings shared by every target (house style: Hummingbird's).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Hyperloom",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hyperloom", targets: ["hyperloom"]),
        .library(name: "LoomClient", targets: ["LoomClient"]),
        .library(name: "LoomEmbedded", targets: ["LoomEmbedded"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The HTTP server of `hyperloom dashboard` and of /metrics: small, no NIO (Docs/dashboard.md).
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
    ],
    targets: [
        // libzmq's C API, found through pkg-config (Debian: libzmq3-dev).
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"]), .brew(["zeromq"])]
        ),
        // A small, exact Swift wrapper over libzmq.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: strict),
        // CURVE key files, the allowlist of peer keys by role, and the ZAP handler.
        .target(name: "LoomSecurity", dependencies: ["ZeroMQ"], swiftSettings: strict),
        // The wire protocol: frames, commands, codec. No sockets, no clocks.
        .target(name: "LoomWire", swiftSettings: strict),
        // Studies: search spaces, study specs, trial and study states. Pure.
        .target(
            name: "LoomModel",
            dependencies: ["LoomWire", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        // Searchers and schedulers: pure, deterministic for a seed.
        // Optimised in debug builds too: model fitting (Cholesky, L-BFGS, Parzen estimators) is
        // numeric code that runs 20–50× slower unoptimised, which made its statistical tests take
        // minutes and starve every other test of the two cores `make test` gets.
        .target(name: "LoomSearch", dependencies: ["LoomModel", "LoomWire"],
                swiftSettings: strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // Persistence behind one protocol: SQLite (GRDB, WAL) and in-memory.
        .target(
            name: "LoomStore",
            dependencies: ["LoomModel", "LoomWire", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // Process-level runtime helpers shared by the services: signal wake-ups, paths.
        .target(name: "LoomRuntime", swiftSettings: strict),
        // Prometheus metrics of the services: the registry with every metric's help text, and the
        // `/metrics` HTTP endpoint (FlyingFox). The services themselves see only swift-metrics.
        .target(
            name: "LoomMetrics",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "FlyingSocks", package: "FlyingFox"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LoomBroker",
            dependencies: [
                "LoomWire", "ZeroMQ", "LoomRuntime", "LoomSecurity",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                // HMAC-SHA256 of lease capabilities (BrokerStateMachine+Capabilities.swift).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // Checkpoints that travel: content-addressed blob directories, snapshots of a checkpoint
        // directory, and the chunked transfer state machine (pure) both ends use.
        .target(
            name: "LoomCheckpoint",
            dependencies: ["LoomWire", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "LoomWorker",
            dependencies: [
                "LoomWire", "ZeroMQ", "LoomRuntime", "LoomSecurity", "LoomCheckpoint",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LoomClient",
            dependencies: [
                "LoomWire", "ZeroMQ", "LoomRuntime", "LoomSecurity",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The optimizer service: studies driven through the broker, persisted in the store.
        .target(
            name: "LoomOptimizer",
            dependencies: [
                "LoomModel", "LoomSearch", "LoomStore", "LoomClient", "LoomWire", "LoomRuntime", "ZeroMQ", "LoomCheckpoint",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // Broker, optimizer and workers in one process: `hyperloom run` and in-process objectives.
        .target(
            name: "LoomEmbedded",
            dependencies: [
                "LoomBroker", "LoomWorker", "LoomOptimizer", "LoomClient", "LoomModel", "LoomStore", "LoomWire",
                "LoomRuntime", "ZeroMQ",
            ],
            swiftSettings: strict
        ),
        // What the benchmarks share: order statistics, ideal schedules, process sampling,
        // simulated workers and child services (`hyperloom bench`, Docs/benchmarks.md).
        .target(
            name: "LoomBench",
            dependencies: ["LoomWire", "LoomSearch", "ZeroMQ", "LoomModel", "LoomStore", "LoomClient"],
            swiftSettings: strict
        ),
        // Deterministic simulation of the whole fabric: the real broker and worker machines on a
        // simulated network, clock and disks, every choice drawn from one seed (Docs/reliability.md).
        .target(
            name: "LoomSimulation",
            dependencies: [
                "LoomBroker", "LoomWorker", "LoomClient", "LoomWire", "LoomCheckpoint", "LoomOptimizer", "LoomStore", "LoomModel",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // Charts of a study as SVG, drawn from plain data: no files, no clocks.
        .target(name: "LoomPlot", dependencies: ["LoomWire", "LoomSearch"], swiftSettings: strict),
        // `hyperloom dashboard`: the state folded from the feed and the status documents (pure), its
        // JSON views, and the HTTP/WebSocket server with the page compiled in (Docs/dashboard.md).
        .target(
            name: "LoomDashboard",
            dependencies: [
                "LoomWire", "LoomPlot",
                .product(name: "FlyingFox", package: "FlyingFox"), .product(name: "FlyingSocks", package: "FlyingFox"),
            ],
            swiftSettings: strict
        ),
        // The settings of the long-running commands: flags, environment, config files, defaults.
        .target(name: "LoomConfig", dependencies: ["LoomModel", .product(name: "Yams", package: "Yams")], swiftSettings: strict),
        // The fuzz targets (Docs/security.md, "Fuzzing"): pure harnesses over the codec, the broker's
        // machine, manifests, replay requests and specs; the tests run the corpus through them.
        .target(
            name: "LoomFuzz",
            dependencies: ["LoomWire", "LoomBroker", "LoomModel", "LoomCheckpoint", "LoomOptimizer", "LoomStore", "LoomClient"],
            swiftSettings: strict
        ),
        // libFuzzer's driver when built with `-D FUZZING -sanitize=fuzzer` (`make fuzz`); otherwise
        // a tool that writes the seed corpus and replays inputs.
        .executableTarget(name: "hyperloom-fuzz", dependencies: ["LoomFuzz"], swiftSettings: strict),
        .executableTarget(
            name: "hyperloom",
            dependencies: [
                "LoomBroker", "LoomWorker", "LoomClient", "LoomWire", "LoomRuntime",
                "LoomModel", "LoomSearch", "LoomStore", "LoomOptimizer", "LoomEmbedded", "LoomConfig", "LoomSecurity", "ZeroMQ",
                "LoomBench", "LoomPlot", "LoomSimulation", "LoomMetrics", "LoomDashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], swiftSettings: strict),
        .testTarget(name: "LoomSecurityTests", dependencies: ["LoomSecurity", "ZeroMQ"], swiftSettings: strict),
        .testTarget(name: "LoomModelTests", dependencies: ["LoomModel", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomSearchTests", dependencies: ["LoomSearch", "LoomModel", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomOptimizerTests", dependencies: ["LoomOptimizer", "LoomClient", "LoomModel", "LoomStore", "LoomWire", "LoomCheckpoint"], swiftSettings: strict),
        .testTarget(name: "LoomStoreTests", dependencies: ["LoomStore", "LoomModel", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomCheckpointTests", dependencies: ["LoomCheckpoint", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomWireTests", dependencies: ["LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomBrokerTests", dependencies: ["LoomBroker", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomWorkerTests", dependencies: ["LoomWorker", "LoomWire", "LoomCheckpoint"], swiftSettings: strict),
        .testTarget(name: "LoomClientTests", dependencies: ["LoomClient", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomBenchTests", dependencies: ["LoomBench", "LoomWire", "ZeroMQ", "LoomModel", "LoomStore"], swiftSettings: strict),
        .testTarget(name: "LoomSimulationTests", dependencies: ["LoomSimulation", "LoomBroker", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomPlotTests", dependencies: ["LoomPlot", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomDashboardTests", dependencies: ["LoomDashboard", "LoomWire", "LoomPlot"], swiftSettings: strict),
        .testTarget(name: "LoomConfigTests", dependencies: ["LoomConfig"], swiftSettings: strict),
        .testTarget(name: "LoomFuzzTests", dependencies: ["LoomFuzz", "LoomOptimizer", "LoomModel", "LoomWire"], swiftSettings: strict),
        .testTarget(
            name: "LoomMetricsTests",
            dependencies: ["LoomMetrics", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["LoomClient", "LoomWire", "ZeroMQ", "LoomRuntime", "LoomEmbedded", "LoomStore", "LoomModel", "LoomWorker", "LoomPlot", "LoomBroker"],
            swiftSettings: strict
        ),
    ]
)
