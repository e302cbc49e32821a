import ArgumentParser
import Foundation
import VidLMMedia
import VidLMTensor

struct Frames: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write sampled frames as PNG files plus frames.json.",
        discussion: """
        Frames are chosen in presentation order (index 0 = first displayed frame). --count N takes \
        the frames on screen at the centres of N equal segments of [start, end]; --fps F takes one \
        frame every 1/F seconds (at most --count of them when both are given). Times are seconds \
        from the first displayed frame. The output folder appears whole or not at all.
        """)

    @Argument(help: "A video or image file.")
    var media: String

    @OptionGroup var sampling: SamplingOptions

    @Option(name: .shortAndLong, help: "Folder to create for the PNG files and frames.json.")
    var output: String

    @Option(help: "Output size WxH (after rotation), e.g. 224x224. Default: the display size.")
    var size: String?

    func run() async throws {
        try await runReportingErrors {
            let request = try sampling.request(size: try parseSize(size))
            ThreadBudget.configureStreamingRuntime()
            try await withInterruptCancellation {
                let decoder = try await MediaDecoder.open(media)
                _ = try await decoder.plan(request)  // validates the request before any output exists
                let written = try await FrameFolderWriter.write(decoder.frames(request), to: URL(fileURLWithPath: output))
                FileHandle.standardError.writeIfTerminal("wrote \(written.count) frames to \(output)\n")
            }
        }
    }
}

/// The frame-selection options every media command shares.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Number of frames, spread uniformly (default 8; with --fps, the maximum).")
    var count: Int?

    @OptionGroup var range: TimeRangeOptions

    var fps: Double? { range.fps }
    var start: Double? { range.start }
    var end: Double? { range.end }
    var keyframes: Bool { range.keyframes }

    func request(size: PixelSize?) throws -> FrameRequest {
        if let count, count <= 0 { throw CLIError(message: "--count must be at least 1.") }
        let selection: FrameSelection = if let fps {
            .fps(rate: fps, maxFrames: count)
        } else {
            .uniform(count: count ?? 8)
        }
        return FrameRequest(selection, start: start, end: end,
                            mode: keyframes ? .nearestKeyframe : .exact, size: size)
    }
}

func parseSize(_ text: String?) throws -> PixelSize? {
    guard let text else { return nil }
    let parts = text.lowercased().split(separator: "x")
    guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0, w <= 16384, h <= 16384 else {
        throw CLIError(message: "--size must look like 224x224 (width x height, 1 to 16384 each).")
    }
    return PixelSize(width: w, height: h)
}
