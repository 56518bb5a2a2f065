// swift-tools-version: 6.1
// The popgate package. Layout and privilege split: docs/architecture.md.
// The gateway's dependency closure never contains CMnl, CNftnl, Netlink or Firewall;
// Tests/IntegrationTests/test_layering.py checks that on the resolved target graph.
import PackageDescription

let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "popgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "popnetd", targets: ["popnetd"]),
        .executable(name: "popgated", targets: ["popgated"]),
        .executable(name: "popctl", targets: ["popctl"]),
        .executable(name: "popaudit", targets: ["popaudit"]),
        .executable(name: "popgate-inference-sim", targets: ["popgate-inference-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C system libraries: a module map and a shim header each, nothing else.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .systemLibrary(name: "CQrencode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        // syncfs(2), which glibc declares only under _GNU_SOURCE; the receipt log's alone.
        .systemLibrary(name: "CLinuxFS"),

        .target(name: "Sodium", dependencies: ["CSodium"], swiftSettings: settings),
        .target(name: "Addressing", swiftSettings: settings),
        // The daemons' readiness for systemd's Type=notify units.
        .target(name: "SystemdNotify", swiftSettings: settings),
        // The receipt log: receipt encoding, RFC 9162 Merkle tree and proofs, signed checkpoints, tiles.
        .target(name: "Receipts", dependencies: ["Sodium", "CLinuxFS"], swiftSettings: settings),
        // popctl's terminal QR codes only; the gateway and popnetd never link it.
        .target(name: "QRCode", dependencies: ["CQrencode"], swiftSettings: settings),
        .target(name: "Netlink", dependencies: ["CMnl", "Addressing"], swiftSettings: settings),
        .target(name: "Firewall", dependencies: ["CNftnl", "CMnl", "Netlink", "Addressing"], swiftSettings: settings),
        .target(name: "WireGuard", dependencies: ["Sodium", "Addressing", "Netlink"], swiftSettings: settings),
        // Where a registry lives (a SQLite path, a PostgreSQL URL), without the databases' code: what
        // popgate.toml names, so that reading the configuration links no database driver.
        .target(name: "RegistryLocations", swiftSettings: settings),
        .target(
            name: "PopConfig",
            dependencies: ["Addressing", "RegistryLocations", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: settings
        ),
        .target(
            name: "Registry",
            dependencies: [
                "Sodium", "Addressing", "RegistryLocations",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "NetAgent",
            dependencies: [
                "WireGuard", "Registry", "RegistryLocations", "PopConfig", "Sodium", "Addressing", "Netlink", "Firewall",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "Registry", "RegistryLocations", "PopConfig", "Sodium", "Addressing", "Receipts",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "PopCtl",
            dependencies: [
                "Registry", "RegistryLocations", "PopConfig", "WireGuard", "Sodium", "Addressing", "QRCode", "Receipts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "InferenceSim",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),

        // Executables: argument parsing and wiring only.
        .executableTarget(
            name: "popnetd",
            dependencies: [
                "NetAgent", "PopConfig", "Registry", "WireGuard", "Sodium", "Firewall", "SystemdNotify",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "popgated",
            dependencies: [
                "Gateway", "PopConfig", "Registry", "Sodium", "Receipts", "SystemdNotify",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "popctl",
            dependencies: ["PopCtl", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "popaudit",
            dependencies: ["Receipts", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "popgate-inference-sim",
            dependencies: [
                "InferenceSim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),

        // Not the product: drivers that only tests and benchmarks run. They live outside Sources/, are no
        // products, and are built by name (`swift build --product popgate-fwcheck`); no product depends on them.

        // Test and benchmark driver for the WireGuard backends against a real kernel or wireguard-go.
        .executableTarget(
            name: "popgate-wgcheck",
            dependencies: [
                "WireGuard", "Netlink", "Addressing", "Sodium",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/popgate-wgcheck",
            swiftSettings: settings
        ),
        // Test and benchmark driver for the nftables policy in a network namespace.
        .executableTarget(
            name: "popgate-fwcheck",
            dependencies: ["Firewall", "Addressing", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/popgate-fwcheck",
            swiftSettings: settings
        ),
        // Benchmark driver for the receipt log, against SQLite rows as the anchor (Benchmarks/receipts.sh).
        .executableTarget(
            name: "popgate-receipts-bench",
            dependencies: [
                "Gateway", "Receipts", "Sodium",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/ReceiptsBench",
            swiftSettings: settings
        ),

        .testTarget(name: "FirewallTests", dependencies: ["Firewall", "Addressing"], swiftSettings: settings),
        .testTarget(name: "SodiumTests", dependencies: ["Sodium"], swiftSettings: settings),
        .testTarget(name: "SystemdNotifyTests", dependencies: ["SystemdNotify"], swiftSettings: settings),
        .testTarget(name: "ReceiptsTests", dependencies: ["Receipts", "Sodium"], swiftSettings: settings),
        .testTarget(name: "AddressingTests", dependencies: ["Addressing"], swiftSettings: settings),
        .testTarget(name: "QRCodeTests", dependencies: ["QRCode"], swiftSettings: settings),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "Addressing"], swiftSettings: settings),
        .testTarget(name: "WireGuardTests", dependencies: ["WireGuard", "Sodium", "Addressing", "Netlink"], swiftSettings: settings),
        .testTarget(name: "PopConfigTests", dependencies: ["PopConfig", "Addressing", "RegistryLocations"], swiftSettings: settings),
        .testTarget(
            name: "RegistryTests",
            // GRDB: the migration test builds a database at schema v1 first.
            dependencies: [
                "Registry", "RegistryLocations", "Sodium", "Addressing", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            // NetAgent: popctl's status client is tested against popnetd's real status socket and document.
            name: "PopCtlTests", dependencies: ["PopCtl", "Registry", "PopConfig", "WireGuard", "Sodium", "NetAgent"],
            swiftSettings: settings
        ),
        // The gateway's real pipeline in-process: its state built as popgated builds it, served on loopback
        // against simulated workers, and a client that connects from a peer's address. Not a product; the
        // gateway's tests and the fuzz target use it.
        .target(
            name: "GatewayTesting",
            dependencies: [
                "Gateway", "InferenceSim", "Registry", "PopConfig", "Receipts", "Sodium", "Addressing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/GatewayTesting",
            swiftSettings: settings
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "GatewayTesting", "Registry", "Sodium", "Addressing", "PopConfig", "Receipts",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "NetAgentTests",
            dependencies: ["NetAgent", "Registry", "WireGuard", "Sodium", "Addressing", "Firewall", "PopConfig"],
            swiftSettings: settings
        ),
        .testTarget(name: "InferenceSimTests", dependencies: ["InferenceSim"], swiftSettings: settings),

        // Fuzzing (Fuzz/fuzz.sh): one function per parser that meets untrusted or foreign bytes. A library in
        // every build, so the targets compile (and their corpus replays, FuzzTargetsTests) with everything else.
        // GatewayTesting: the HTTP target's in-memory gateway is built as the gateway's tests build theirs.
        .target(
            name: "FuzzTargets",
            dependencies: [
                "Gateway", "GatewayTesting", "Receipts", "Netlink", "WireGuard", "Firewall", "PopConfig", "PopCtl",
                "Registry", "Sodium", "Addressing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/Targets",
            swiftSettings: settings
        ),
        // Receipts and Sodium: the seeds that must be signed or encoded are made from the code (GeneratedSeeds);
        // Gateway: regression tests of what the fuzzer found there; Firewall, Netlink, Addressing: the captured
        // kernel seeds read as what was captured.
        .testTarget(
            name: "FuzzTargetsTests",
            dependencies: ["FuzzTargets", "Gateway", "Receipts", "Sodium", "Firewall", "Netlink", "Addressing"],
            swiftSettings: settings
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer driver links only with -sanitize=fuzzer (its entry hands over to libFuzzer's), so it exists only in
// the fuzz build (Fuzz/fuzz.sh): POPGATE_FUZZ=1 swift build --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address.
if Context.environment["POPGATE_FUZZ"] == "1" {
    package.targets.append(
        .executableTarget(
            name: "popgate-fuzz", dependencies: ["FuzzTargets"], path: "Fuzz/Driver",
            swiftSettings: settings + [.unsafeFlags(["-parse-as-library"])]
        )
    )
}
