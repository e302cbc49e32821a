import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// transformers 5.23's `Siglip2ImageProcessor` (NaFlex): each picture is resized, keeping its
/// aspect ratio, to the largest size whose sides are multiples of the patch and whose patch count
/// fits `max_num_patches` (`get_image_size_for_max_num_patches`), rescaled and normalised, and cut
/// into patches flattened row by row, pixel by pixel, channel last ([h·w, 3·p·p]). transformers
/// then pads the rows to `max_num_patches` with an attention mask; `paddedPixels` gives that
/// layout, while the tower takes the real rows only (see `NaFlexVisionTower`).
///
/// The default class (torchvision backend) resizes with torchvision's antialiased uint8 filter and
/// folds rescale into normalise; `Siglip2ImageProcessorPil` resizes with Pillow. A checkpoint's file
/// does not choose between them: transformers 5.23's `AutoProcessor` builds the torchvision class
/// even for an `image_processor_type` of "Siglip2ImageProcessorPil" (the backend is a loading
/// argument, and `save_pretrained` writes the base name for either), so `init(json:file:)` does too.
public struct NaFlexImageProcessor: Sendable {
    public let patchSize: Int
    public let maxNumPatches: Int
    public let doResize: Bool
    public let resample: ResampleFilter
    public let pillow: Bool
    /// Rescale + normalise (no resize) of the bytes.
    let normalizer: TorchvisionImageProcessor

    /// One picture ready for the tower.
    public struct Patches: Sendable {
        /// [h·w, 3·p·p].
        public let rows: Tensor
        public let height: Int
        public let width: Int
    }

    public init(patchSize: Int = 16, maxNumPatches: Int = 256, doResize: Bool = true, resample: ResampleFilter = .bilinear,
                pillow: Bool = false, normalize: PreprocessConfig) throws {
        guard patchSize > 0 else { throw PreprocessError.invalidSize("patch_size", patchSize) }
        guard maxNumPatches > 0 else { throw PreprocessError.invalidSize("max_num_patches", maxNumPatches) }
        self.patchSize = patchSize
        self.maxNumPatches = maxNumPatches
        self.doResize = doResize
        self.resample = resample
        self.pillow = pillow
        var n = normalize
        n.doResize = false
        n.doCenterCrop = false
        normalizer = try TorchvisionImageProcessor(n)
    }

    /// Reads the image processor section (`processor_config.json` / `preprocessor_config.json`);
    /// absent fields take `Siglip2ImageProcessor`'s class values. Always the torchvision resize, as
    /// `AutoProcessor` loads it whatever `image_processor_type` says (a "…Pil" name included).
    public init(json: Data, file: String) throws {
        guard let o = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw ConfigError(file: file, "is not a JSON object.")
        }
        func value(_ key: String) -> Any? { o[key] is NSNull ? nil : o[key] }
        func int(_ key: String, _ fallback: Int) throws -> Int {
            guard let raw = value(key) else { return fallback }
            guard let n = raw as? Int, n > 0 else { throw ConfigError(file: file, "'\(key)' must be a positive integer.") }
            return n
        }
        func bool(_ key: String, _ fallback: Bool) throws -> Bool {
            guard let raw = value(key) else { return fallback }
            guard let b = raw as? Bool else { throw ConfigError(file: file, "'\(key)' must be true or false.") }
            return b
        }
        func channels(_ key: String) throws -> [Double] {
            guard let raw = value(key) else { return PreprocessConfig.imagenetStandardMean }
            if let n = raw as? NSNumber, !(raw is Bool) { return Array(repeating: n.doubleValue, count: 3) }
            guard let list = raw as? [NSNumber], list.count == 3 else { throw ConfigError(file: file, "'\(key)' needs three numbers.") }
            return list.map(\.doubleValue)
        }
        let code = try value("resample").map { raw -> Int in
            guard let n = raw as? Int else { throw ConfigError(file: file, "'resample' must be an integer.") }
            return n
        } ?? ResampleFilter.bilinear.rawValue
        guard let filter = ResampleFilter(rawValue: code) else { throw ConfigError(file: file, "'resample' \(code) is not a PIL filter.") }
        let rescale: Double
        if let raw = value("rescale_factor") {
            guard let n = raw as? NSNumber, !(raw is Bool), n.doubleValue.isFinite else { throw ConfigError(file: file, "'rescale_factor' must be a number.") }
            rescale = n.doubleValue
        } else {
            rescale = 1.0 / 255.0
        }
        let normalize = PreprocessConfig(doRescale: try bool("do_rescale", true), rescaleFactor: rescale,
                                         doNormalize: try bool("do_normalize", true),
                                         imageMean: try channels("image_mean"), imageStd: try channels("image_std"), doConvertRGB: true)
        do {
            try self.init(patchSize: try int("patch_size", 16), maxNumPatches: try int("max_num_patches", 256),
                          doResize: try bool("do_resize", true), resample: filter, pillow: false, normalize: normalize)
        } catch let e as PreprocessError {
            throw ConfigError(file: file, "\(e).")
        }
    }

    /// `get_image_size_for_max_num_patches`: a binary search (float64, as Python) for the largest
    /// scale whose patch-rounded size fits the budget; each side at least one patch.
    public static func targetSize(height: Int, width: Int, patchSize p: Int, maxNumPatches: Int, eps: Double = 1e-5) -> (height: Int, width: Int) {
        func scaled(_ scale: Double, _ size: Int) -> Int {
            let s = (Double(size) * scale / Double(p)).rounded(.up) * Double(p)
            return Int(max(Double(p), s))
        }
        var lo = eps / 10, hi = 100.0
        while hi - lo >= eps {
            let scale = (lo + hi) / 2
            let patches = (Double(scaled(scale, height)) / Double(p)) * (Double(scaled(scale, width)) / Double(p))
            if patches <= Double(maxNumPatches) { lo = scale } else { hi = scale }
        }
        return (scaled(lo, height), scaled(lo, width))
    }

    /// The pixel size one picture is resized to.
    public func targetSize(of image: RGBImage) -> (height: Int, width: Int) {
        doResize ? Self.targetSize(height: image.height, width: image.width, patchSize: patchSize, maxNumPatches: maxNumPatches)
                 : (image.height, image.width)
    }

    /// One picture → its patch rows and grid.
    public func patches(_ image: RGBImage) throws -> Patches {
        let (th, tw) = targetSize(of: image)
        var picture = image
        if th != image.height || tw != image.width {
            picture = pillow ? try image.resized(width: tw, height: th, filter: resample)
                             : try image.resizedLikeTorchvision(width: tw, height: th, filter: resample)
        }
        let p = patchSize, gh = th / p, gw = tw / p
        guard gh > 0, gw > 0 else {
            throw EngineError.invalidOption("the picture (\(image.width)x\(image.height)) is smaller than one \(p)x\(p) patch and the image processor does not resize")
        }
        guard gh * gw <= maxNumPatches else {
            throw EngineError.invalidOption("the picture (\(tw)x\(th)) has \(gh * gw) patches, more than max_num_patches \(maxNumPatches)")
        }
        let pixels = try normalizer.pixels([picture])          // [1, 3, th, tw]
        let plane = th * tw, row = 3 * p * p
        let rows = Tensor.make(shape: [gh * gw, row], uninitialized: true) { out in
            pixels.withFloats { px in
                // (C, gh, p, gw, p) → (gh, gw, p, p, C): patch by patch, pixel rows, pixels, channels.
                for py in 0..<gh {
                    for px_ in 0..<gw {
                        let base = (py * gw + px_) * row
                        for y in 0..<p {
                            for x in 0..<p {
                                let src = (py * p + y) * tw + px_ * p + x
                                let dst = base + (y * p + x) * 3
                                for c in 0..<3 { out[dst + c] = px[c * plane + src] }
                            }
                        }
                    }
                }
            }
        }
        return Patches(rows: rows, height: gh, width: gw)
    }

    /// transformers' batch layout for checks: pixel values [N, max_num_patches, 3·p·p] (padding
    /// rows zero), the attention mask [N, max_num_patches] (1 for real rows) and the grids.
    public func paddedPixels(_ images: [RGBImage]) throws -> (pixels: Tensor, mask: [[Int]], shapes: [[Int]]) {
        let all = try images.map { try patches($0) }
        let row = 3 * patchSize * patchSize, m = maxNumPatches
        var values = [Float](repeating: 0, count: all.count * m * row)
        var mask: [[Int]] = [], shapes: [[Int]] = []
        for (i, p) in all.enumerated() {
            let n = p.height * p.width
            p.rows.withFloats { r in for k in 0..<(n * row) { values[i * m * row + k] = r[k] } }
            mask.append(Array(repeating: 1, count: n) + Array(repeating: 0, count: m - n))
            shapes.append([p.height, p.width])
        }
        return (Tensor(shape: [all.count, m, row], values: values), mask, shapes)
    }
}
