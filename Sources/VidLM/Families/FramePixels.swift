import Foundation
import VidLMMedia
import VidLMTensor

/// How a single-tower family turns frames into pixel values, with the resampling the reference
/// processor uses. transformers 5 builds the torchvision class for a checkpoint whose config
/// names `BlipImageProcessor` / `CLIPImageProcessor` (and every video processor is torchvision);
/// only the `…ImageProcessorPil` classes resample with Pillow. The two differ by one level on a
/// few pixels of most resizes, so the choice decides whether pixel values match exactly.
public enum FramePixels: Sendable {
    /// Pillow's resampling (`ImagePreprocessor`).
    case pillow(PreprocessConfig)
    /// torchvision's antialiased uint8 resampling (`TorchvisionImageProcessor`).
    case torchvision(TorchvisionImageProcessor)

    /// Which of the two a processor class name means: Pillow for the `…Pil` classes, torchvision
    /// for every other (transformers 5's default backend).
    public init(_ config: PreprocessConfig, processorType: String?) throws {
        if processorType?.hasSuffix("Pil") == true {
            self = .pillow(config)
        } else {
            self = .torchvision(try TorchvisionImageProcessor(config))
        }
    }

    public var config: PreprocessConfig {
        switch self {
        case .pillow(let c): c
        case .torchvision(let p): p.config
        }
    }

    /// Frames of one source size → [N, 3, H, W].
    public func tensor(_ frames: [RGBImage]) throws -> Tensor {
        switch self {
        case .pillow(let c):
            let pixels = try ImagePreprocessor(c).preprocess(frames)
            return Tensor(shape: pixels.shape, values: pixels.values)
        case .torchvision(let p):
            return try p.pixels(frames)
        }
    }
}
