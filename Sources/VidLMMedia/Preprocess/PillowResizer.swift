/// A reusable resize plan that reproduces Pillow's `Image.resize(size, resample)` for RGB images
/// byte for byte, with the arguments transformers passes (`box=None`, `reducing_gap=None`).
///
/// Build it once per (input size, output size, filter) and call `resize(_:)` for every frame: the
/// coefficient tables are the expensive part and depend only on the sizes.
///
/// What Pillow 13 does, and this mirrors:
/// * same size: a copy.
/// * NEAREST: an affine nearest-neighbour copy (see `NearestResample`).
/// * otherwise two separable 8-bit fixed-point passes (see `ConvolutionPasses`); an axis whose size
///   does not change is skipped. The pass order matters because the intermediate is clamped to
///   bytes, and it depends on the Pillow release (`ResamplePassOrder`; default: Pillow 13). When
///   the horizontal pass goes first it only processes the source rows the vertical pass will read,
///   as Pillow does (that saves work and does not change any byte).
public struct PillowResizer: Sendable {
    public let inputWidth: Int
    public let inputHeight: Int
    public let outputWidth: Int
    public let outputHeight: Int
    public let filter: ResampleFilter
    public let passOrder: ResamplePassOrder

    private enum Plan: Sendable {
        case copy
        case nearest(NearestResample)
        case convolve(horizontal: ResampleCoefficients?, vertical: ResampleCoefficients?,
                      horizontalFirst: Bool)
    }
    private let plan: Plan

    public init(inputWidth: Int, inputHeight: Int, outputWidth: Int, outputHeight: Int,
                filter: ResampleFilter, passOrder: ResamplePassOrder = .pillow13) throws {
        try self.init(inputWidth: inputWidth, inputHeight: inputHeight, outputWidth: outputWidth, outputHeight: outputHeight,
                      filter: filter, passOrder: passOrder, torchvision: false)
    }

    /// torchvision's `resize` of a uint8 CPU tensor with antialiasing (what transformers'
    /// torchvision image and video processors run): the same separable 8-bit passes, horizontal
    /// first, with PyTorch's int16 weights (`ResampleCoefficients(torch:)`); nearest is PyTorch's
    /// `nearest-exact`, which transformers uses for PIL's NEAREST. Byte-identical to torchvision
    /// (`TorchvisionResizeTests`); it differs from Pillow by ±1 on a fraction of a percent of the bytes.
    public static func torchvision(inputWidth: Int, inputHeight: Int, outputWidth: Int, outputHeight: Int,
                                   filter: ResampleFilter) throws -> PillowResizer {
        try PillowResizer(inputWidth: inputWidth, inputHeight: inputHeight, outputWidth: outputWidth, outputHeight: outputHeight,
                          filter: filter, passOrder: .horizontalFirst, torchvision: true)
    }

    private init(inputWidth: Int, inputHeight: Int, outputWidth: Int, outputHeight: Int,
                 filter: ResampleFilter, passOrder: ResamplePassOrder, torchvision torch: Bool) throws {
        for (name, v) in [("input width", inputWidth), ("input height", inputHeight),
                          ("output width", outputWidth), ("output height", outputHeight)] where v <= 0 {
            throw PreprocessError.invalidSize(name, v)
        }
        self.inputWidth = inputWidth
        self.inputHeight = inputHeight
        self.outputWidth = outputWidth
        self.outputHeight = outputHeight
        self.filter = filter
        self.passOrder = passOrder

        if inputWidth == outputWidth && inputHeight == outputHeight {
            plan = .copy
        } else if filter == .nearest {
            plan = .nearest(torch
                ? NearestResample(torchExactInWidth: inputWidth, inHeight: inputHeight, outWidth: outputWidth, outHeight: outputHeight)
                : NearestResample(inWidth: inputWidth, inHeight: inputHeight, outWidth: outputWidth, outHeight: outputHeight))
        } else {
            let needH = outputWidth != inputWidth
            let needV = outputHeight != inputHeight
            let horizontalFirst = !passOrder.verticalFirst(inWidth: inputWidth, inHeight: inputHeight,
                                                           outWidth: outputWidth, outHeight: outputHeight)
            // (Pillow also builds the vertical table when only the width changes, to pick the rows
            // its horizontal pass needs; with an unchanged height that is every row, so it is skipped.)
            let vertical = needV
                ? ResampleCoefficients(inSize: inputHeight, outSize: outputHeight, filter: filter, torch: torch) : nil
            let horizontal = needH
                ? ResampleCoefficients(inSize: inputWidth, outSize: outputWidth, filter: filter, torch: torch) : nil
            plan = .convolve(horizontal: horizontal, vertical: vertical, horizontalFirst: horizontalFirst)
        }
    }

    /// Resizes `image`, which must be `inputWidth` x `inputHeight`.
    public func resize(_ image: RGBImage) throws -> RGBImage {
        guard image.width == inputWidth, image.height == inputHeight else {
            throw PreprocessError.imageSizeMismatch(expectedWidth: inputWidth, expectedHeight: inputHeight,
                                                    width: image.width, height: image.height)
        }
        switch plan {
        case .copy:
            return image
        case .nearest(let nearest):
            var out = [UInt8](repeating: 0, count: outputWidth * outputHeight * 3)
            image.pixels.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    nearest.apply(src: src.baseAddress!, dst: dst.baseAddress!)
                }
            }
            return RGBImage(width: outputWidth, height: outputHeight, pixels: out)
        case let .convolve(horizontal, vertical, horizontalFirst):
            let pixels = convolve(image.pixels, horizontal: horizontal, vertical: vertical,
                                  horizontalFirst: horizontalFirst)
            return RGBImage(width: outputWidth, height: outputHeight, pixels: pixels)
        }
    }

    private func convolve(_ input: [UInt8], horizontal: ResampleCoefficients?,
                          vertical: ResampleCoefficients?, horizontalFirst: Bool) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputWidth * outputHeight * 3)
        input.withUnsafeBufferPointer { srcBuf in
            out.withUnsafeMutableBufferPointer { dstBuf in
                let src = srcBuf.baseAddress!, dst = dstBuf.baseAddress!
                switch (horizontal, vertical) {
                case let (h?, nil):
                    ConvolutionPasses.horizontal(src: src, dst: dst, firstRow: 0,
                                                 rowCount: inputHeight, coeffs: h)
                case let (nil, v?):
                    ConvolutionPasses.vertical(src: src, dst: dst, width: inputWidth,
                                               rowOffset: 0, coeffs: v)
                case let (h?, v?):
                    if horizontalFirst {
                        // Only the source rows the vertical pass reads.
                        let first = v.starts[0]
                        let last = v.starts[v.outSize - 1] + v.counts[v.outSize - 1]
                        let tmp = UnsafeMutablePointer<UInt8>.allocate(capacity: outputWidth * (last - first) * 3)
                        defer { tmp.deallocate() }
                        ConvolutionPasses.horizontal(src: src, dst: tmp, firstRow: first,
                                                     rowCount: last - first, coeffs: h)
                        ConvolutionPasses.vertical(src: tmp, dst: dst, width: outputWidth,
                                                   rowOffset: first, coeffs: v)
                    } else {
                        let tmp = UnsafeMutablePointer<UInt8>.allocate(capacity: inputWidth * outputHeight * 3)
                        defer { tmp.deallocate() }
                        ConvolutionPasses.vertical(src: src, dst: tmp, width: inputWidth,
                                                   rowOffset: 0, coeffs: v)
                        ConvolutionPasses.horizontal(src: tmp, dst: dst, firstRow: 0,
                                                     rowCount: outputHeight, coeffs: h)
                    }
                case (nil, nil):
                    dst.update(from: src, count: input.count)
                }
            }
        }
        return out
    }
}

extension RGBImage {
    /// torchvision's antialiased resize of this image as a uint8 tensor (see `PillowResizer.torchvision`).
    public func resizedLikeTorchvision(width: Int, height: Int, filter: ResampleFilter) throws -> RGBImage {
        try PillowResizer.torchvision(inputWidth: self.width, inputHeight: self.height, outputWidth: width,
                                      outputHeight: height, filter: filter).resize(self)
    }

    /// Pillow's `Image.resize((width, height), filter)`: the "squash" resize BlipImageProcessor uses
    /// for `size = {height, width}` (aspect ratio is not kept). Byte-identical to Pillow.
    /// Build a `PillowResizer` instead when resizing many frames of one size.
    public func resized(width: Int, height: Int, filter: ResampleFilter = .bicubic,
                        passOrder: ResamplePassOrder = .pillow13) throws -> RGBImage {
        try PillowResizer(inputWidth: self.width, inputHeight: self.height,
                          outputWidth: width, outputHeight: height, filter: filter,
                          passOrder: passOrder).resize(self)
    }
}
