/// Runs a `PreprocessConfig` over frames the way transformers' PIL-backend image processors
/// (`BlipImageProcessorPil`, `CLIPImageProcessorPil`, ...) run it per image:
/// resize (Pillow) -> centre crop -> rescale -> normalize, then stacks the frames as `[T, 3, H, W]`.
///
/// Note: in transformers 5 the plain `CLIPImageProcessor` / `BlipImageProcessor` names are the
/// torchvision backend, whose resize is not Pillow's; this reproduces the `...Pil` classes (checked
/// against transformers 5.23.0). transformers 4's slow processors call the same `image_transforms`
/// functions, but only 5.23.0 was checked.
public struct ImagePreprocessor: Sendable {
    public let config: PreprocessConfig
    /// Which Pillow release's resize to reproduce (see `ResamplePassOrder`).
    public let passOrder: ResamplePassOrder
    /// `3 * 256` floats: the final value for each channel and byte. Rescale and normalize act on
    /// each byte independently, so tabulating them is exact and costs one lookup per sample.
    private let table: [Float]

    public init(_ config: PreprocessConfig, passOrder: ResamplePassOrder = .pillow13) throws {
        try config.validate()
        self.config = config
        self.passOrder = passOrder
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 {
                table[c * 256 + v] = Self.value(byte: v, channel: c, config: config)
            }
        }
        self.table = table
    }

    /// One sample through rescale and normalize with transformers' dtypes:
    /// `rescale` multiplies in float64 and casts to float32; `normalize` casts to float32 (if not
    /// already) and computes `(x - mean) / std` in float32 with float32 mean/std.
    static func value(byte: Int, channel: Int, config: PreprocessConfig) -> Float {
        var x: Float = config.doRescale ? Float(Double(byte) * config.rescaleFactor) : Float(byte)
        if config.doNormalize, let mean = config.imageMean, let std = config.imageStd {
            x = (x - Float(mean[channel])) / Float(std[channel])
        }
        return x
    }

    /// The (width, height) a `width` x `height` frame has after resize and crop.
    public func outputSize(width: Int, height: Int) throws -> (width: Int, height: Int) {
        var size = (width: width, height: height)
        if config.doResize, let s = config.size {
            switch s {
            case let .heightWidth(h, w): size = (w, h)
            case let .shortestEdge(e): size = try RGBImage.shortestSideOutputSize(width: width, height: height, shortestEdge: e)
            }
        }
        if config.doCenterCrop, let c = config.cropSize { size = (c.width, c.height) }
        return size
    }

    /// The 8-bit stages (resize, centre crop) for one frame.
    public func resizeAndCrop(_ frame: RGBImage) throws -> RGBImage {
        var cache: [ResizerKey: PillowResizer] = [:]
        return try resizeAndCrop(frame, cache: &cache)
    }

    private struct ResizerKey: Hashable { let w: Int, h: Int }

    private func resizeAndCrop(_ frame: RGBImage, cache: inout [ResizerKey: PillowResizer]) throws -> RGBImage {
        var image = frame
        if config.doResize {
            let key = ResizerKey(w: frame.width, h: frame.height)
            let resizer: PillowResizer
            if let r = cache[key] {
                resizer = r
            } else {
                let out = try outputSizeOfResize(width: frame.width, height: frame.height)
                resizer = try PillowResizer(inputWidth: frame.width, inputHeight: frame.height,
                                            outputWidth: out.width, outputHeight: out.height,
                                            filter: config.resample, passOrder: passOrder)
                cache[key] = resizer
            }
            image = try resizer.resize(image)
        }
        if config.doCenterCrop, let c = config.cropSize {
            image = try image.centerCropped(width: c.width, height: c.height)
        }
        return image
    }

    private func outputSizeOfResize(width: Int, height: Int) throws -> (width: Int, height: Int) {
        switch config.size {
        case let .heightWidth(h, w)?: return (w, h)
        case let .shortestEdge(e)?: return try RGBImage.shortestSideOutputSize(width: width, height: height, shortestEdge: e)
        case nil: throw PreprocessError.missingField("size")
        }
    }

    /// All frames -> one contiguous `[T, 3, H, W]` Float32 tensor. Frames of one size share one
    /// resize plan (coefficients computed once).
    public func preprocess(_ frames: [RGBImage]) throws -> PixelTensor {
        guard !frames.isEmpty else { throw PreprocessError.noFrames }
        var cache: [ResizerKey: PillowResizer] = [:]
        var values: [Float] = []
        var frameShape: [Int] = []
        for (t, frame) in frames.enumerated() {
            let image = try resizeAndCrop(frame, cache: &cache)
            let shape = [3, image.height, image.width]
            if t == 0 {
                frameShape = shape
                values = [Float](repeating: 0, count: frames.count * 3 * image.width * image.height)
            } else if shape != frameShape {
                throw PreprocessError.inconsistentFrameSizes(first: frameShape, other: shape, frameIndex: t)
            }
            write(image, into: &values, at: t * 3 * image.width * image.height)
        }
        return PixelTensor(uncheckedShape: [frames.count] + frameShape, values: values)
    }

    /// One frame -> `[3, H, W]` at `offset`: de-interleave RGB into planes through the table.
    private func write(_ image: RGBImage, into values: inout [Float], at offset: Int) {
        let plane = image.width * image.height
        table.withUnsafeBufferPointer { lut in
            image.pixels.withUnsafeBufferPointer { px in
                values.withUnsafeMutableBufferPointer { out in
                    let base = out.baseAddress! + offset
                    for c in 0..<3 {
                        let dst = base + c * plane
                        let l = lut.baseAddress! + c * 256
                        var p = px.baseAddress! + c
                        for i in 0..<plane {
                            dst[i] = l[Int(p.pointee)]
                            p += 3
                        }
                    }
                }
            }
        }
    }
}

extension PreprocessConfig {
    /// Validates, then preprocesses `frames` into a `[T, 3, H, W]` tensor (see `ImagePreprocessor`).
    public func preprocess(_ frames: [RGBImage], passOrder: ResamplePassOrder = .pillow13) throws -> PixelTensor {
        try ImagePreprocessor(self, passOrder: passOrder).preprocess(frames)
    }
}
