import Foundation
import VidLMMedia
import VidLMTensor

/// The pixel pipeline of transformers 5's torchvision-backend image processors that resize and
/// crop one picture to one tower input (`CLIPImageProcessor`, `LlavaImageProcessor`,
/// `SiglipImageProcessor`, as `AutoProcessor` builds them): optional pad to a square with the
/// mean colour (LLaVA's `do_pad`), resize (shortest edge, or an exact height × width) with
/// torchvision's antialiased uint8 resampling, centre crop (`int((h − ch) / 2)`, zero padding when
/// the crop is larger), then rescale and normalise fused into one f32 step as transformers does.
/// (The `...Pil` classes, Pillow's resize, are `ImagePreprocessor`.)
public struct TorchvisionImageProcessor: Sendable {
    public let config: PreprocessConfig
    public let padToSquare: Bool
    /// Normalised value of each byte per channel.
    private let table: [Float]

    public init(_ config: PreprocessConfig, padToSquare: Bool = false) throws {
        try config.validate()
        self.config = config
        self.padToSquare = padToSquare
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 {
                var x = Float(v)
                if config.doRescale && config.doNormalize, let mean = config.imageMean, let std = config.imageStd {
                    // transformers folds the rescale into mean and std: (x − mean/r) / (std/r), f32.
                    let inverse = Float(1.0 / config.rescaleFactor)
                    x = (x - Float(mean[c]) * inverse) / (Float(std[c]) * inverse)
                } else if config.doNormalize, let mean = config.imageMean, let std = config.imageStd {
                    x = (x - Float(mean[c])) / Float(std[c])
                } else if config.doRescale {
                    x = x * Float(config.rescaleFactor)
                }
                table[c * 256 + v] = x
            }
        }
        self.table = table
    }

    /// The pad colour: `int(mean × 255)` per channel (black without a mean).
    public var padColour: (UInt8, UInt8, UInt8) {
        guard let m = config.imageMean, m.count == 3 else { return (0, 0, 0) }
        func byte(_ v: Double) -> UInt8 { UInt8(clamping: Int(v * 255)) }
        return (byte(m[0]), byte(m[1]), byte(m[2]))
    }

    /// The 8-bit stages (pad, resize, crop) of one picture.
    public func resizeAndCrop(_ image: RGBImage) throws -> RGBImage {
        var image = image
        if padToSquare { image = Self.padToSquare(image, colour: padColour) }
        if config.doResize {
            let (w, h): (Int, Int)
            switch config.size {
            case let .shortestEdge(e)?:
                (w, h) = try RGBImage.shortestSideOutputSize(width: image.width, height: image.height, shortestEdge: e)
            case let .heightWidth(height, width)?:
                (w, h) = (width, height)
            case nil:
                throw PreprocessError.missingField("size")
            }
            if w != image.width || h != image.height {
                image = try image.resizedLikeTorchvision(width: w, height: h, filter: config.resample)
            }
        }
        if config.doCenterCrop, let crop = config.cropSize {
            image = Self.centerCrop(image, width: crop.width, height: crop.height)
        }
        return image
    }

    /// Pictures of one output size → [N, 3, H, W].
    public func pixels(_ images: [RGBImage]) throws -> Tensor {
        guard !images.isEmpty else { throw PreprocessError.noFrames }
        let ready = try images.map { try resizeAndCrop($0) }
        let (w, h) = (ready[0].width, ready[0].height)
        for (i, im) in ready.enumerated() where im.width != w || im.height != h {
            throw PreprocessError.inconsistentFrameSizes(first: [3, h, w], other: [3, im.height, im.width], frameIndex: i)
        }
        let plane = w * h
        return Tensor.make(shape: [ready.count, 3, h, w], uninitialized: true) { out in
            table.withUnsafeBufferPointer { lut in
                for (n, im) in ready.enumerated() {
                    im.pixels.withUnsafeBufferPointer { px in
                        for c in 0..<3 {
                            let dst = out.baseAddress! + (n * 3 + c) * plane
                            let l = lut.baseAddress! + c * 256
                            for i in 0..<plane { dst[i] = l[Int(px[i * 3 + c])] }
                        }
                    }
                }
            }
        }
    }

    /// `LlavaImageProcessor.pad_to_square`: the picture centred on a square of its longer side
    /// (`(side − w) // 2` columns on the left, `(side − h) // 2` rows on top).
    static func padToSquare(_ image: RGBImage, colour: (UInt8, UInt8, UInt8)) -> RGBImage {
        let side = max(image.width, image.height)
        guard image.width != image.height else { return image }
        return paste(image, onto: RGBImage(width: side, height: side, fill: colour),
                     left: (side - image.width) / 2, top: (side - image.height) / 2)
    }

    /// transformers' torchvision `center_crop`: zero padding (left/top get the smaller half)
    /// where the crop is larger, then the window at `int((h − ch) / 2)`, `int((w − cw) / 2)`.
    static func centerCrop(_ image: RGBImage, width cw: Int, height ch: Int) -> RGBImage {
        var image = image
        if cw > image.width || ch > image.height {
            let w = max(cw, image.width), h = max(ch, image.height)
            image = paste(image, onto: RGBImage(width: w, height: h), left: (w - image.width) / 2, top: (h - image.height) / 2)
            if w == cw && h == ch { return image }
        }
        let top = (image.height - ch) / 2, left = (image.width - cw) / 2
        var pixels = [UInt8](repeating: 0, count: cw * ch * 3)
        for y in 0..<ch {
            let from = ((top + y) * image.width + left) * 3
            pixels.replaceSubrange(y * cw * 3..<(y + 1) * cw * 3, with: image.pixels[from..<from + cw * 3])
        }
        return RGBImage(width: cw, height: ch, pixels: pixels)
    }

    private static func paste(_ image: RGBImage, onto canvas: RGBImage, left: Int, top: Int) -> RGBImage {
        var out = canvas
        for y in 0..<image.height {
            let to = ((top + y) * canvas.width + left) * 3, from = y * image.width * 3
            out.pixels.replaceSubrange(to..<to + image.width * 3, with: image.pixels[from..<from + image.width * 3])
        }
        return out
    }
}
