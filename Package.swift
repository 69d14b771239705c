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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
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
        // The wire protocol: frames, commands, codec. No sockets, no clocks.
        .target(name: "LoomWire", swiftSettings: strict),
        // Process-level runtime helpers shared by the services: signal wake-ups, paths.
        .target(name: "LoomRuntime", swiftSettings: strict),
        .target(
            name: "LoomBroker",
            dependencies: [
                "LoomWire", "ZeroMQ", "LoomRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LoomWorker",
            dependencies: [
                "LoomWire", "ZeroMQ", "LoomRuntime",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "LoomClient",
            dependencies: [
                "LoomWire", "ZeroMQ", "LoomRuntime",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "hyperloom",
            dependencies: [
                "LoomBroker", "LoomWorker", "LoomClient", "LoomWire", "LoomRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], swiftSettings: strict),
        .testTarget(name: "LoomWireTests", dependencies: ["LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomBrokerTests", dependencies: ["LoomBroker", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomWorkerTests", dependencies: ["LoomWorker", "LoomWire"], swiftSettings: strict),
        .testTarget(name: "LoomClientTests", dependencies: ["LoomClient", "LoomWire"], swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["LoomClient", "LoomWire", "ZeroMQ", "LoomRuntime"],
            swiftSettings: strict
        ),
    ]
)
