import ArgumentParser
import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

struct Features: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model stage's features for sampled frames as safetensors.",
        discussion: """
        --stage vision writes tensor `vision` [T, N, D]: T frames, N tokens (class token first), \
        D width; for BLIP-2/EVA towers the tokens are post-layernorm (LAVIS ln_vision), for CLIP \
        the last layer's raw output. Frames are preprocessed as the model's \
        preprocessor_config.json says (BLIP-style squash to the model's image size without one). \
        --pixels takes a ready pixel_values [T, 3, H, W] tensor instead of a media file.
        """)

    enum Stage: String, ExpressibleByArgument, CaseIterable {
        case vision
    }

    @Argument(help: "A video or image file (omit with --pixels).")
    var media: String?

    @Option(help: "Model directory (config.json, *.safetensors, preprocessor_config.json).")
    var model: String

    @Option(help: "Which stage's output to write.")
    var stage: Stage = .vision

    @Option(name: .shortAndLong, help: "Output .safetensors file.")
    var output: String

    @Option(help: "A safetensors file with tensor pixel_values [T, 3, H, W], used instead of media.")
    var pixels: String?

    @OptionGroup var sampling: SamplingOptions

    func validate() throws {
        if (media == nil) == (pixels == nil) {
            throw ValidationError("Give either a media file or --pixels, not both.")
        }
    }

    func run() async throws {
        try await runReportingErrors {
            let directory = URL(fileURLWithPath: model)
            let vision = try VisionLoader.load(directory: directory)
            let input: Tensor
            if let pixels {
                input = try readPixels(pixels)
            } else {
                input = try await decodeAndPreprocess(media!, directory: directory, config: vision.model.config)
            }
            let out = try vision.model(input)
            try SafetensorsWriter.write(["vision": out.lastHiddenState],
                                        metadata: ["stage": stage.rawValue, "model": directory.lastPathComponent],
                                        to: URL(fileURLWithPath: output))
        }
    }

    private func readPixels(_ path: String) throws -> Tensor {
        let file = try SafetensorsFile(url: URL(fileURLWithPath: path))
        guard file.contains("pixel_values") else {
            throw CLIError(message: "\(path) has no tensor named pixel_values.")
        }
        let t = try file.tensor("pixel_values")
        guard t.rank == 4, t.shape[1] == 3 else {
            throw CLIError(message: "pixel_values must have shape [frames, 3, height, width], not \(t.shape).")
        }
        return t
    }

    private func decodeAndPreprocess(_ path: String, directory: URL, config: VisionConfig) async throws -> Tensor {
        let preprocess = try PreprocessConfig.forModel(directory: directory, imageSize: config.imageSize)
        let request = try sampling.request(size: nil)
        let decoder = try await MediaDecoder.open(path)
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(request) { frames.append(frame.image) }
        let pixels = try preprocess.preprocess(frames)
        return Tensor(shape: pixels.shape, values: pixels.values)
    }
}

extension PreprocessConfig {
    /// The model's preprocessor_config.json, or BLIP-style squash-to-`imageSize` without one.
    static func forModel(directory: URL, imageSize: Int) throws -> PreprocessConfig {
        let url = directory.appendingPathComponent("preprocessor_config.json")
        if let data = FileManager.default.contents(atPath: url.path) {
            do {
                return try PreprocessConfig.decode(json: data)
            } catch let e as DecodingError {
                throw CLIError(message: "\(url.path): \(ConfigError.describe(e))")
            }
        }
        var config = PreprocessConfig.blip
        config.size = .heightWidth(height: imageSize, width: imageSize)
        return config
    }
}
