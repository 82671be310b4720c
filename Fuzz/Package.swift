// swift-tools-version: 6.0
import Foundation
import PackageDescription

// libFuzzer targets over Herald's pure decoders (docs/fuzzing.md). A package of its own so the
// main build never compiles them. Built and run by scripts/fuzz: every module with ASan and
// coverage instrumentation (`--sanitize=address -sanitize-coverage=…`), and only these
// executables linked with libFuzzer (its `main`, path in HERALD_LIBFUZZER) — not
// `--sanitize=fuzzer`, which would give Herald's build tool (HeraldEmbed) a second main.
let libFuzzer = ProcessInfo.processInfo.environment["HERALD_LIBFUZZER"].map { [$0, "-lstdc++"] } ?? []
let targets = ["FuzzHTTPRequest", "FuzzWebSocket", "FuzzInflate", "FuzzJSON", "FuzzBrokerFrame", "FuzzTaskBatch"]

let package = Package(
    name: "HeraldFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Herald", path: "..")],
    targets: [.target(name: "FuzzSupport")] + targets.map { name in
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport", .product(name: "HeraldFuzzSurface", package: "Herald")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])],
            linkerSettings: [.unsafeFlags(libFuzzer)])
    },
    swiftLanguageModes: [.v6]
)
