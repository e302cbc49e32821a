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

    @OptionGroup var precision: ComputeOptions

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
            let input: EngineInput = try pixels.map { .pixels(try readPixels($0)) } ?? .media(path: media!)
            let request = try sampling.request(size: nil)
            if stage == .vision, try TowerFeatures.isVisionOnly(directory) {
                let features = try await TowerFeatures.encode(directory: directory, input: input, request: request)
                try write(features, directory)
                return
            }
            // A whole model: its family's encoder and prompt builder (the engine's seam).
            let engine = try await Engine.load(directory: directory, compute: precision.compute)
            var options = AskOptions(frames: nil, fps: sampling.fps, start: sampling.start, end: sampling.end,
                                     keyframes: sampling.keyframes)
            if case .uniform(let count) = request.selection { options.frames = sampling.count ?? count }
            let media = try await engine.encodedMedia(input, options: options)
            if stage == .vision {
                try write(media.features, directory)
                return
            }
            let groups = engine.model.frameUse == .singleImage
                ? media.parts.indices.map { EncodedMedia(kind: .image, frames: [media.frames[$0]], parts: [media.parts[$0]], durationSeconds: 0) }
                : [media]
            var outputs: [Tensor] = []
            for group in groups {
                let prompt = try engine.model.prepare(PromptRequest(messages: ChatMessage.oneTurn(question, about: group.kind), media: [group]))
                guard let tensor = prompt.stages[stage.rawValue] else {
                    throw CLIError(message: "The \(engine.model.modelType) family has no '\(stage.rawValue)' stage (it has \(prompt.stages.keys.sorted().joined(separator: ", "))).")
                }
                outputs.append(tensor)
            }
            try write(Tensor.concatenate(outputs), directory)
        }
    }

    private func write(_ tensor: Tensor, _ directory: URL) throws {
        try SafetensorsWriter.write([stage.rawValue: tensor], metadata: ["stage": stage.rawValue, "model": directory.lastPathComponent],
                                    to: URL(fileURLWithPath: output))
    }
}
