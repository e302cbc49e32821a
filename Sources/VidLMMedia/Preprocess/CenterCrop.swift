/// transformers' `image_transforms.center_crop`, on 8-bit RGB.
extension RGBImage {
    /// Crops the centred `width` x `height` window.
    ///
    /// Offsets are `(orig - crop) // 2` with Python floor division, so an odd surplus leaves the
    /// extra pixel on the right / bottom. If the image is smaller than the crop on an axis,
    /// transformers pads that axis with zeros (`ceil(deficit / 2)` before, the rest after) instead of
    /// failing; its pad-then-crop arithmetic reduces to the same floor formula with a negative
    /// surplus, so one formula covers both cases and out-of-image pixels become 0 (black).
    public func centerCropped(width cropWidth: Int, height cropHeight: Int) throws -> RGBImage {
        guard cropWidth > 0 else { throw PreprocessError.invalidSize("crop width", cropWidth) }
        guard cropHeight > 0 else { throw PreprocessError.invalidSize("crop height", cropHeight) }
        if cropWidth == width && cropHeight == height { return self }
        let left = Self.floorDiv2(width - cropWidth)
        let top = Self.floorDiv2(height - cropHeight)

        var out = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)
        // Columns of the crop that land inside the source, and where they start in the source.
        let x0 = max(0, -left), x1 = min(cropWidth, width - left)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard x1 > x0 else { return }
                for y in 0..<cropHeight {
                    let sy = y + top
                    guard sy >= 0 && sy < height else { continue }
                    let from = src.baseAddress! + (sy * width + x0 + left) * 3
                    let to = dst.baseAddress! + (y * cropWidth + x0) * 3
                    to.update(from: from, count: (x1 - x0) * 3)
                }
            }
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: out)
    }

    /// Python's `n // 2` (rounds toward negative infinity; Swift's `/` rounds toward zero).
    @inline(__always)
    static func floorDiv2(_ n: Int) -> Int { n >= 0 ? n / 2 : -((-n + 1) / 2) }
}
