import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// Vision features of a vision-only checkpoint (`clip_vision_model`, `blip_2_vision_model`, …),
/// which no family loads: frames decoded, preprocessed as transformers' processor for its
/// preprocessor config would (`FramePixels`; a BLIP-style squash to the tower's size without one)
/// and run through the tower — the same
/// `SingleTowerEncoder` the single-ViT families use.
public enum TowerFeatures {
    /// Whether `directory` holds a vision tower alone rather than a model a family runs.
    public static func isVisionOnly(_ directory: URL) throws -> Bool {
        ModelRegistry.families[try ModelDirectory(directory).modelType] == nil
    }

    /// Features [T, N, D] of the frames `request` selects from `input`.
    public static func encode(directory: URL, input: EngineInput, request: FrameRequest) async throws -> Tensor {
        let loaded = try VisionLoader.load(directory: directory)
        let pixels = try ModelDirectory(directory).framePixels(imageSize: loaded.model.config.imageSize)
        let encoder = SingleTowerEncoder(tower: loaded.model, pixels: pixels)
        switch input {
        case .pixels(let pixels):
            return try encoder.encode(pixels: pixels)
        case .media(let path):
            let decoder = try await MediaDecoder.open(path)
            var rows: [Tensor] = []
            for try await frame in decoder.frames(request) { rows.append(try encoder.encode(frame: frame.image).features) }
            guard !rows.isEmpty else { throw EngineError.noFrames(path) }
            return Tensor.concatenate(rows)
        case .encoded:
            throw EngineError.invalidOption("a vision-only checkpoint encodes media itself; features encoded by a family model cannot be used")
        }
    }
}
