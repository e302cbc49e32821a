/// Pillow's `Image.resize(..., NEAREST)` for an RGB image.
///
/// Pillow does not convolve for NEAREST: `_resize` builds the affine matrix
/// `a = [(box.w / outW), 0, box.x0, 0, (box.h / outH), box.y0]` and `ImagingTransformAffine` takes the
/// pure-scale fast path `ImagingScaleAffine`. That path walks the source coordinate by repeated
/// addition (`xo += a[0]`), starting at the centre of the first output pixel, and truncates. The
/// running sum accumulates rounding error, so it is reproduced as a running sum here too rather than
/// as `Int((x + 0.5) * scale)`, which can pick a different source column at exact halves.
struct NearestResample: Sendable {
    let inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int
    /// Source column for each output column; `-1` where Pillow would leave the zero fill.
    let columns: [Int]
    /// Source row for each output row; `-1` where Pillow would leave the zero fill.
    let rows: [Int]

    init(inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int) {
        self.inWidth = inWidth
        self.inHeight = inHeight
        self.outWidth = outWidth
        self.outHeight = outHeight
        // `(double)(box[2] - box[0]) / xsize`, with box in C floats.
        let a0 = Double(Float(inWidth) - Float(0)) / Double(outWidth)
        let a4 = Double(Float(inHeight) - Float(0)) / Double(outHeight)
        columns = Self.table(origin: Double(Float(0)), step: a0, count: outWidth, limit: inWidth)
        rows = Self.table(origin: Double(Float(0)), step: a4, count: outHeight, limit: inHeight)
    }

    /// PyTorch's `nearest-exact` (torchvision's `NEAREST_EXACT`, which transformers' torchvision
    /// processors use for PIL's NEAREST): source `min(floorf((i + 0.5) · scale), size − 1)` with
    /// `scale = (float)in / out`, the product taken in double and narrowed to float as the C++ does.
    init(torchExactInWidth inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int) {
        self.inWidth = inWidth
        self.inHeight = inHeight
        self.outWidth = outWidth
        self.outHeight = outHeight
        func table(_ input: Int, _ output: Int) -> [Int] {
            let scale = Float(input) / Float(output)
            return (0..<output).map { i in min(Int(Float((Double(i) + 0.5) * Double(scale)).rounded(.down)), input - 1) }
        }
        columns = table(inWidth, outWidth)
        rows = table(inHeight, outHeight)
    }

    /// `COORD(v)` is `v < 0 ? -1 : (int)v`; indices outside `0..<limit` are not copied.
    private static func table(origin: Double, step: Double, count: Int, limit: Int) -> [Int] {
        var out = [Int](repeating: -1, count: count)
        var o = origin + step * 0.5
        for i in 0..<count {
            let c = o < 0.0 ? -1 : Int(o)
            if c >= 0 && c < limit { out[i] = c }
            o += step
        }
        return out
    }

    func apply(src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<UInt8>) {
        let inStride = inWidth * 3
        let outStride = outWidth * 3
        columns.withUnsafeBufferPointer { cols in
            for y in 0..<outHeight {
                let lineOut = dst + y * outStride
                let sy = rows[y]
                guard sy >= 0 else {
                    lineOut.update(repeating: 0, count: outStride)
                    continue
                }
                let lineIn = src + sy * inStride
                for x in 0..<outWidth {
                    let sx = cols[x]
                    let o = lineOut + x * 3
                    if sx >= 0 {
                        let p = lineIn + sx * 3
                        o[0] = p[0]; o[1] = p[1]; o[2] = p[2]
                    } else {
                        o[0] = 0; o[1] = 0; o[2] = 0
                    }
                }
            }
        }
    }
}
