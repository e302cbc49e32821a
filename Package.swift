// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "vidlm",
    products: [
        .library(name: "VidLMTensor", targets: ["VidLMTensor"]),
        .library(name: "VidLMMedia", targets: ["VidLMMedia"]),
        .library(name: "VidLMJinja", targets: ["VidLMJinja"]),
        .library(name: "VidLMModels", targets: ["VidLMModels"]),
        .library(name: "VidLM", targets: ["VidLM"]),
        .executable(name: "vidlm", targets: ["vidlm"]),
        // The HTTP server has its own product so `make demo` does not compile the NIO stack;
        // `vidlm serve` runs this binary (docs/server.md).
        .library(name: "VidLMServer", targets: ["VidLMServer"]),
        .executable(name: "vidlm-server", targets: ["vidlm-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        // FFmpeg's libraries. pkg-config's libavformat.pc pulls in avcodec/avutil/swscale flags;
        // module.modulemap links all four explicitly.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat",
            providers: [
                .apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"]),
                .brew(["ffmpeg"]),
            ]
        ),
        // CBLAS from OpenBLAS (the tensor core's GEMM).
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        // zlib: the PNG writer deflates rows as it goes (libavcodec links it too).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        // Stills decoded as Pillow and torchcodec decode them: JPEG through libjpeg-turbo (a C
        // shim: libjpeg reports errors by longjmp), WebP through libwebp when the machine has it
        // (opened at run time).
        .target(
            name: "CStillImage",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("dl")]
        ),
        // libc settings the tensor runtime makes once (heap behaviour); header-only.
        .systemLibrary(name: "CRuntime"),
        // AVX-512 bf16 matrix-vector kernel for decoding, chosen at run time (the Swift kernels
        // are the portable fallback).
        .target(name: "CKernels"),
        // Tensors, dtypes, kernels (OpenBLAS sgemm + Swift SIMD), safetensors.
        .target(
            name: "VidLMTensor",
            dependencies: ["COpenBLAS", "CRuntime", "CKernels"]
        ),
        .target(
            name: "VidLMMedia",
            dependencies: [
                "CFFmpeg",
                "CStillImage",
                "CZlib",
                "VidLMTensor",
            ]
        ),
        // A Jinja interpreter for chat templates (lexer, parser, evaluator, value model); it knows
        // nothing about models.
        .target(name: "VidLMJinja"),
        // Model stages: vision core, bridge, decoders, tokenizers (+ chat templates), families.
        .target(
            name: "VidLMModels",
            dependencies: ["VidLMTensor", "VidLMJinja"]
        ),
        // The engine: model families, the decode → vision → bridge → generate pipeline.
        .target(
            name: "VidLM",
            dependencies: ["VidLMMedia", "VidLMModels", "VidLMTensor"]
        ),
        .executableTarget(
            name: "vidlm",
            dependencies: [
                "VidLM",
                "VidLMJinja",
                "VidLMMedia",
                "VidLMModels",
                "VidLMTensor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The OpenAI-compatible HTTP server over one shared Engine (routes, limits, auth, metrics,
        // the embedded web page).
        .target(
            name: "VidLMServer",
            dependencies: [
                "VidLM",
                "VidLMMedia",
                "VidLMModels",
                "VidLMTensor",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "vidlm-server",
            dependencies: [
                "VidLMServer",
                "VidLM",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Side-by-side benchmarks drive this in-process timer (benchmarks/media/run.py).
        .executableTarget(
            name: "vidlm-bench",
            dependencies: ["VidLMMedia", "VidLMTensor", "VidLMModels", "VidLMJinja", "VidLM"],
            path: "benchmarks/media/swift"
        ),
        // Fixture paths and the parity tolerance check every test target shares.
        .target(
            name: "VidLMTestSupport",
            dependencies: ["VidLMTensor"],
            path: "Tests/VidLMTestSupport"
        ),
        .testTarget(
            name: "VidLMMediaTests",
            dependencies: ["VidLMMedia"]
        ),
        .testTarget(
            name: "VidLMTensorTests",
            dependencies: ["VidLMTensor", "VidLMTestSupport"]
        ),
        .testTarget(
            name: "VidLMJinjaTests",
            dependencies: ["VidLMJinja", "VidLMTestSupport"]
        ),
        .testTarget(
            name: "VidLMModelsTests",
            dependencies: ["VidLMModels", "VidLMTestSupport"]
        ),
        .testTarget(
            name: "VidLMServerTests",
            dependencies: ["VidLMServer", "VidLM", "VidLMModels", "VidLMTestSupport"]
        ),
        .testTarget(
            name: "VidLMTests",
            dependencies: ["VidLM", "VidLMJinja", "VidLMMedia", "VidLMModels", "VidLMTensor", "VidLMTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
