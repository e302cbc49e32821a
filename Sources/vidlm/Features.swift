import ArgumentParser
import Foundation
import VidLM
import VidLMMedia
import VidLMModels
import VidLMTensor

struct Features: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model stage's features for sampled frames as safetensors.",
        discussion: """
        --stage vision writes tensor `vision` [T, N, D]: T frames, N tokens (class token first), \
        D width; for BLIP-2/EVA towers the tokens are post-layernorm (LAVIS ln_vision), for CLIP \
        the last layer's raw output. The later stages need a whole model (blip-2, \
        instructblipvideo, vidlm): --stage merged writes `merged`, the token merger's output \
        (vidlm only: [T, L, E] per frame or [1, M, E] for the temporal merger); --stage bridge \
        writes `bridge`, the Q-Former outputs ([T, Q(+L), H] image Q-Former, [1, Qv, H] video \
        Q-Former); --stage projected writes `projected`, the visual prefix in the decoder's width. \
        Instruction-aware Q-Formers take the instruction from --question. Frames are preprocessed as the model's \
        preprocessor_config.json says (BLIP-style squash to the model's image size without one). \
        --pixels takes a ready pixel_values [T, 3, H, W] tensor instead of a media file.
        """)

    enum Stage: String, ExpressibleByArgument, CaseIterable {
        case vision, merged, bridge, projected
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

    @Option(help: "The question, for instruction-aware Q-Formers (default: the family's caption prompt).")
    var question: String?

    func validate() throws {
        if (media == nil) == (pixels == nil) {
            throw ValidationError("Give either a media file or --pixels, not both.")
        }
    }

    func run() async throws {
        try await runReportingErrors {
            let directory = URL(fileURLWithPath: model)
            if stage != .vision {
                try await writeLaterStage(directory)
                return
            }
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

    /// merged / bridge / projected through the engine's family for the model.
    private func writeLaterStage(_ directory: URL) async throws {
        let engine = try await Engine.load(directory: directory)
        let input: EngineInput = try pixels.map { .pixels(try readPixels($0)) } ?? .media(path: media!)
        let request = try sampling.request(size: nil)
        var options = AskOptions(frames: nil, fps: sampling.fps, start: sampling.start, end: sampling.end,
                                 keyframes: sampling.keyframes)
        if case .uniform(let count) = request.selection { options.frames = sampling.count ?? count }
        let (features, _) = try await engine.visionFeatures(input, options: options)
        let frames = engine.model.frameUse == .singleImage ? (0..<features.shape[0]).map { features.rows($0..<($0 + 1)) } : [features]
        var outputs: [Tensor] = []
        for one in frames {
            let prompt = try engine.model.prompt(features: one, question: question, framePositions: nil)
            guard let tensor = prompt.stages[stage.rawValue] else {
                throw CLIError(message: "The \(engine.model.modelType) family has no '\(stage.rawValue)' stage (it has \(prompt.stages.keys.sorted().joined(separator: ", "))).")
            }
            outputs.append(tensor)
        }
        try SafetensorsWriter.write([stage.rawValue: Tensor.concatenate(outputs)],
                                    metadata: ["stage": stage.rawValue, "model": directory.lastPathComponent],
                                    to: URL(fileURLWithPath: output))
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
