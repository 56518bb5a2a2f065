// swift-tools-version: 6.1
// The floor of the gateway's stack, for Benchmarks/gateway-vs-nginx.sh (FLOOR=1): an HTTP/1.1 proxy in
// SwiftNIO that does what popgated's data path does with the request and nothing the gateway adds
// (no authentication, limits, body reading, metrics or log). A separate package: it is a measuring
// tool, not part of the product, and `make test` never builds it.
import PackageDescription

let package = Package(
    name: "proxy-floor",
    dependencies: [.package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2")],
    targets: [
        .executableTarget(
            name: "proxy-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
