// swift-tools-version: 6.0
import PackageDescription

// Layers (see docs/architecture.md): C shims → HeraldWire (pure protocol) → HeraldLoop (epoll)
// → HeraldServer (router, connections) → herald (CLI). No SwiftNIO on purpose.
// Release builds of the hot-path modules skip Swift's dynamic exclusivity checks: callgrind
// counted them (swift_beginAccess, AccessSet.insert and their TLS lookups) at ~25 % of the
// instructions per delivered message. Debug builds, which run the tests, keep them.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Herald",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "herald", targets: ["herald"]),
        // The pure decoders, for the libFuzzer targets in Fuzz/ (a package of its own, so this
        // build never compiles fuzz code; see docs/fuzzing.md).
        .library(name: "HeraldFuzzSurface", targets: ["HeraldWire", "HeraldTasks", "CHeraldZlib"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),  // LogHandler.log(event:)
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        .target(name: "CHeraldLinux"),
        .target(name: "CHeraldZlib", linkerSettings: [.linkedLibrary("z")]),
        .target(name: "CHeraldSSL", linkerSettings: [.linkedLibrary("crypto"), .linkedLibrary("ssl")]),  // SHA-1, HMAC-SHA256, TLS
        .target(name: "CHeraldRedis", linkerSettings: [.linkedLibrary("hiredis")]),  // hiredis's RESP reader only
        .target(name: "HeraldWire", dependencies: ["CHeraldSSL", "CHeraldZlib"], swiftSettings: hotPath),  // zlib: permessage-deflate
        .target(
            name: "HeraldLoop", dependencies: ["CHeraldLinux", "CHeraldSSL", .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: hotPath),
        .target(name: "HeraldClient", dependencies: ["HeraldWire", "HeraldLoop", "CHeraldSSL"]),
        // A Redis client on the loop (several hosts, issue 15): hiredis parses, HeraldLoop does the I/O.
        .target(name: "HeraldRedis", dependencies: ["HeraldLoop", "CHeraldRedis", "CHeraldSSL"]),
        // Access control: JWT HS256 verification on OpenSSL's HMAC, principals and roles. Pure.
        .target(name: "HeraldAccess", dependencies: ["HeraldWire", "HeraldTasks", "CHeraldSSL"]),
        // The task model and actor: pure with respect to I/O, never imports the loop.
        .target(
            name: "HeraldTasks",
            dependencies: ["HeraldWire", "HeraldStore", .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: hotPath
        ),
        // Persistence of the task engine (SQLite in WAL mode through GRDB); sees bytes and numbers only.
        .target(name: "HeraldStore", dependencies: [.product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift")]),
        // The Broker protocol: LocalBroker (in-process) now, the Unix-socket broker next.
        .target(name: "HeraldBroker", dependencies: ["HeraldTasks", "HeraldLoop", "HeraldWire", "HeraldRedis"], swiftSettings: hotPath),
        // public/ compiled into the binary (`herald serve` from any directory): the HeraldEmbedPlugin
        // build tool plugin runs the HeraldEmbed tool, which writes it as Swift source. The symlink
        // Sources/HeraldDashboard/public → ../../public (excluded from the sources) puts public/ into
        // SwiftPM's package structure, so adding or removing a file there re-plans the build and
        // runs the plugin again; an edit re-runs the tool, whose inputs are the files.
        .executableTarget(name: "HeraldEmbed", dependencies: ["CHeraldZlib", "CHeraldSSL"]),
        .plugin(name: "HeraldEmbedPlugin", capability: .buildTool(), dependencies: ["HeraldEmbed"]),
        .target(name: "HeraldDashboard", exclude: ["public"], plugins: ["HeraldEmbedPlugin"]),
        .target(
            name: "HeraldServer",
            dependencies: [
                "HeraldWire", "HeraldLoop", "HeraldTasks", "HeraldStore", "HeraldBroker", "HeraldAccess", "HeraldRedis", "CHeraldZlib",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath
        ),
        .executableTarget(
            name: "herald",
            dependencies: [
                "HeraldServer",
                "HeraldDashboard",
                "HeraldClient",
                "HeraldAccess",
                "HeraldLoop",
                "HeraldRedis",
                "HeraldWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Helpers shared by the test targets (whole / byte-by-byte / seeded random feeding).
        .target(name: "HeraldTestSupport", dependencies: ["HeraldRedis", "HeraldLoop"], path: "Tests/HeraldTestSupport"),
        .testTarget(name: "HeraldWireTests", dependencies: ["HeraldWire", "HeraldTestSupport"]),
        .testTarget(name: "HeraldRedisTests", dependencies: ["HeraldRedis", "HeraldLoop", "HeraldTestSupport"]),
        .testTarget(name: "HeraldLoopTests", dependencies: ["HeraldLoop"]),
        .testTarget(name: "HeraldClientTests", dependencies: ["HeraldClient", "HeraldTestSupport"]),
        .testTarget(name: "HeraldTasksTests", dependencies: ["HeraldTasks", "HeraldWire", "HeraldStore", "HeraldTestSupport"]),
        .testTarget(name: "HeraldStoreTests", dependencies: ["HeraldStore"]),
        .testTarget(name: "HeraldAccessTests", dependencies: ["HeraldAccess", "HeraldTasks", "HeraldWire"]),
        .testTarget(name: "HeraldBrokerTests", dependencies: ["HeraldBroker", "HeraldTasks", "HeraldWire", "HeraldLoop", "HeraldRedis", "HeraldTestSupport"]),
        .testTarget(name: "HeraldServerTests", dependencies: ["HeraldServer", "HeraldWire", "HeraldLoop", "HeraldTasks"]),
        .testTarget(name: "HeraldDashboardTests", dependencies: ["HeraldDashboard", "HeraldEmbed", "HeraldServer", "HeraldWire", "CHeraldSSL"]),
        // The command line's own logic (HERALD_<FLAG> variables), on the executable target.
        .testTarget(name: "HeraldCLITests", dependencies: ["herald", "HeraldServer"]),
    ],
    swiftLanguageModes: [.v6]
)
