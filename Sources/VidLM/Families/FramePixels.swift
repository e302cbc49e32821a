import Foundation
import VidLMMedia
import VidLMTensor

/// How a single-tower family turns frames into pixel values, with the resampling the reference
/// processor uses. transformers 5's `AutoImageProcessor` builds the torchvision backend whenever
/// torchvision is installed, whatever class the config names (`BlipImageProcessor`, `…Fast` or
/// `…Pil` alike), and every video processor is torchvision; vidlm's own family keeps Pillow. The
/// two differ by one level on a few pixels of most resizes, so the choice decides whether pixel
/// values match exactly.
public enum FramePixels: Sendable {
    /// Pillow's resampling (`ImagePreprocessor`).
    case pillow(PreprocessConfig)
    /// torchvision's antialiased uint8 resampling (`TorchvisionImageProcessor`).
    case torchvision(TorchvisionImageProcessor)

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
