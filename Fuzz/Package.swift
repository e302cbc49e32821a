// swift-tools-version:5.4
// libFuzzer targets for vidlm (docs/fuzzing.md). Build with the fuzzer sanitizer:
//   swift build --scratch-path ../.build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// Tools version 5.4 on purpose: from 5.5 SwiftPM renames an executable's entry point to
// `<module>_main` and links `main` to it, which clashes with libFuzzer's own `main`.
import PackageDescription

let fuzzTargets: [(name: String, products: [String])] = [
    ("fuzz-safetensors", ["VidLMTensor"]),
    ("fuzz-shard-index", ["VidLMTensor"]),
    ("fuzz-config", ["VidLM", "VidLMModels", "VidLMMedia"]),
    ("fuzz-tokenizer-json", ["VidLMModels"]),
    ("fuzz-tokenizer-text", ["VidLMModels"]),
    ("fuzz-manifest", ["VidLM"]),
    ("fuzz-media", ["VidLMMedia"]),
]

let package = Package(
    name: "vidlm-fuzz",
    dependencies: [.package(name: "vidlm", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
    ] + fuzzTargets.map { t in
        .executableTarget(
            name: t.name,
            dependencies: ["FuzzSupport"] + t.products.map { .product(name: $0, package: "vidlm") }
        )
    },
    swiftLanguageVersions: [.v5]
)
