// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "vidlm",
    products: [
        .library(name: "VidLMMedia", targets: ["VidLMMedia"]),
        .executable(name: "vidlm", targets: ["vidlm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.0.0"),
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
        .target(
            name: "VidLMMedia",
            dependencies: [
                "CFFmpeg",
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        .executableTarget(
            name: "vidlm",
            dependencies: [
                "VidLMMedia",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Side-by-side benchmarks drive this in-process timer (benchmarks/media/run.py).
        .executableTarget(
            name: "vidlm-bench",
            dependencies: ["VidLMMedia"],
            path: "benchmarks/media/swift"
        ),
        .testTarget(
            name: "VidLMMediaTests",
            dependencies: ["VidLMMedia"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
