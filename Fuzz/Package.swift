// swift-tools-version: 6.0
import PackageDescription

// libFuzzer targets over Herald's pure decoders (docs/fuzzing.md). A package of its own so the
// main build never compiles them: they only link with `--sanitize=fuzzer`, which supplies main.
// Built and run by scripts/fuzz.
let targets = ["FuzzHTTPRequest", "FuzzWebSocket", "FuzzInflate", "FuzzJSON", "FuzzBrokerFrame", "FuzzTaskBatch"]

let package = Package(
    name: "HeraldFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Herald", path: "..")],
    targets: [.target(name: "FuzzSupport")] + targets.map { name in
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport", .product(name: "HeraldFuzzSurface", package: "Herald")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    },
    swiftLanguageModes: [.v6]
)
