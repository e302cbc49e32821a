import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// LLaVA-NeXT's AnyRes pixels (transformers' torchvision `LlavaNextImageProcessor`): the
/// picture is fitted into the best of `image_grid_pinpoints` (aspect kept, then centred on a
/// black canvas of that size) and cut into `tile` × `tile` tiles row-major; the whole picture
/// squashed to one tile comes first. Each then goes through the usual resize / crop / normalise
/// (a no-op resize for tiles already of the tower's size).
public struct AnyResImageProcessor: Sendable {
    public let pinpoints: [[Int]]
    public let tile: Int
    /// The base image's size (`size.height/width`, or `shortest_edge` squared).
    public let baseHeight: Int
    public let baseWidth: Int
    public let pixels: TorchvisionImageProcessor

    /// `file` names the processor settings in errors.
    public init(pixels: TorchvisionImageProcessor, pinpoints: [[Int]], file: String) throws {
        let config = pixels.config
        switch config.size {
        case let .heightWidth(h, w)?: (baseHeight, baseWidth) = (h, w)
        case let .shortestEdge(e)?: (baseHeight, baseWidth) = (e, e)
        case nil: throw ConfigError(file: file, "the image processor needs 'size'.")
        }
        tile = config.cropSize?.height ?? baseHeight
        for p in pinpoints where p[0] % tile != 0 || p[1] % tile != 0 {
            throw ConfigError(file: file, "'image_grid_pinpoints' entry [\(p[0]), \(p[1])] is not a grid of whole \(tile)-pixel tiles.")
        }
        self.pinpoints = pinpoints
        self.pixels = pixels
    }

    /// `select_best_resolution`: the pinpoint keeping the most of the picture's pixels when the
    /// picture is scaled to fit it, the least wasted area on ties. Returns (height, width).
    public static func bestResolution(height: Int, width: Int, pinpoints: [[Int]]) -> (height: Int, width: Int) {
        var best = (height: pinpoints[0][0], width: pinpoints[0][1])
        var maxEffective = 0, minWasted = Int.max
        for p in pinpoints {
            let (h, w) = (p[0], p[1])
            let scale = min(Double(w) / Double(width), Double(h) / Double(height))
            let dw = Int(Double(width) * scale), dh = Int(Double(height) * scale)
            let effective = min(dw * dh, width * height)
            let wasted = w * h - effective
            if effective > maxEffective || (effective == maxEffective && wasted < minWasted) {
                maxEffective = effective
                minWasted = wasted
                best = (h, w)
            }
        }
        return best
    }

    /// `get_patch_output_size`: the picture scaled to fit (height, width), aspect kept.
    static func fittedSize(height: Int, width: Int, target: (height: Int, width: Int)) -> (height: Int, width: Int) {
        let scaleW = Double(target.width) / Double(width), scaleH = Double(target.height) / Double(height)
        if scaleW < scaleH {
            return (min(Int((Double(height) * scaleW).rounded(.up)), target.height), target.width)
        }
        return (target.height, min(Int((Double(width) * scaleH).rounded(.up)), target.width))
    }

    /// One picture → pixel values [1 + tiles, 3, S, S] (base image first) and the grid's best
    /// resolution.
    public func tiles(_ image: RGBImage) throws -> (pixels: Tensor, best: (height: Int, width: Int)) {
        let best = Self.bestResolution(height: image.height, width: image.width, pinpoints: pinpoints)
        let fitted = Self.fittedSize(height: image.height, width: image.width, target: best)
        let resized = try resize(image, width: fitted.width, height: fitted.height)
        var canvas = RGBImage(width: best.width, height: best.height)
        let left = (best.width - fitted.width) / 2, top = (best.height - fitted.height) / 2
        for y in 0..<resized.height {
            let to = ((top + y) * canvas.width + left) * 3, from = y * resized.width * 3
            canvas.pixels.replaceSubrange(to..<to + resized.width * 3, with: resized.pixels[from..<from + resized.width * 3])
        }
        var pictures = [try resize(image, width: baseWidth, height: baseHeight)]
        for y in stride(from: 0, to: best.height, by: tile) {
            for x in stride(from: 0, to: best.width, by: tile) {
                var part = [UInt8](repeating: 0, count: tile * tile * 3)
                for row in 0..<tile {
                    let from = ((y + row) * canvas.width + x) * 3
                    part.replaceSubrange(row * tile * 3..<(row + 1) * tile * 3, with: canvas.pixels[from..<from + tile * 3])
                }
                pictures.append(RGBImage(width: tile, height: tile, pixels: part))
            }
        }
        return (try pixels.pixels(pictures), best)
    }

    private func resize(_ image: RGBImage, width: Int, height: Int) throws -> RGBImage {
        if image.width == width && image.height == height { return image }
        return try image.resizedLikeTorchvision(width: width, height: height, filter: pixels.config.resample)
    }
}
