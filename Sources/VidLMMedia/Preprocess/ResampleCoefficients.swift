/// Per-axis convolution weights for one (input size, output size, filter), as Pillow's
/// `precompute_coeffs` followed by `normalize_coeffs_8bpc` computes them.
///
/// Pillow first builds double weights (kernel stretched by the downscale factor, which is what gives
/// antialiasing, then normalised to sum 1), then converts them to signed fixed point with
/// `PRECISION_BITS = 22` fractional bits, rounding half away from zero. The 8-bit passes only ever
/// see the integers, so matching these integers exactly is what makes the output byte-identical.
/// Built once per size pair and reused for every frame.
struct ResampleCoefficients: Sendable {
    /// 32 - 8 - 2: 8 bits for the result, 2 spare bits for kernels with negative lobes.
    static let pillowPrecisionBits: Int32 = 22

    /// Fractional bits of `weights`: Pillow's fixed 22, or torchvision's per-table precision.
    let precisionBits: Int32
    let inSize: Int
    let outSize: Int
    /// Stride of `weights`: the most taps any output sample can use.
    let kernelSize: Int
    /// First input index used by each output sample (Pillow's `bounds[2*i]`).
    var starts: [Int]
    /// Number of input samples used by each output sample (Pillow's `bounds[2*i+1]`).
    let counts: [Int]
    /// `outSize * kernelSize` fixed-point weights; taps past `counts[i]` are zero.
    let weights: [Int32]

    /// Pillow's default `box` is the whole image, `(0, 0, width, height)`, passed as C floats; that
    /// is what transformers uses (it never passes `box`).
    init(inSize: Int, outSize: Int, filter: ResampleFilter) {
        self.init(inSize: inSize, outSize: outSize, filter: filter, torch: false)
    }

    /// `torch`: PyTorch's uint8 antialiased resize (what torchvision's `resize` runs on uint8 CPU
    /// tensors): the same double weights (its Lanczos window is open at −3), then int16 weights
    /// with as many fractional bits as keep the largest weight below 2¹⁵ (at most 22), instead of
    /// Pillow's fixed 22 bits.
    init(inSize: Int, outSize: Int, filter: ResampleFilter, torch: Bool) {
        precondition(inSize > 0 && outSize > 0 && filter != .nearest, "validated by callers")
        self.inSize = inSize
        self.outSize = outSize

        // `box` coordinates are C `float`s; the scale is computed in double from their difference.
        let in0 = Double(Float(0))
        let in1 = Double(Float(inSize))
        let scale = (in1 - in0) / Double(outSize)
        let filterScale = scale < 1.0 ? 1.0 : scale   // never narrow the kernel when upscaling
        let support = filter.support * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        kernelSize = ksize

        var starts = [Int](repeating: 0, count: outSize)
        var counts = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var normalized = [Double](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)   // one row of double weights, reused
        let invFilterScale = 1.0 / filterScale

        for xx in 0..<outSize {
            let center = in0 + (Double(xx) + 0.5) * scale
            // `(int)` in C truncates toward zero; so does `Int(_: Double)`.
            var xmin = Int(center - support + 0.5)
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin

            var ww = 0.0
            for x in 0..<max(xmax, 0) {
                let t = (Double(x + xmin) - center + 0.5) * invFilterScale
                let w = torch && filter == .lanczos && t == -3.0 ? 0 : filter.weight(t)
                k[x] = w
                ww += w
            }
            let base = xx * ksize
            for x in 0..<max(xmax, 0) { normalized[base + x] = ww != 0.0 ? k[x] / ww : k[x] }
            starts[xx] = xmin
            counts[xx] = max(xmax, 0)
        }
        var bits = Self.pillowPrecisionBits
        if torch {
            // The most fractional bits (≤ 22) for which twice the largest weight stays below 2¹⁵.
            let largest = normalized.max() ?? 0
            bits = 0
            while bits < 22, Int(0.5 + largest * Double(1 << (bits + 1))) < (1 << 15) { bits += 1 }
        }
        let one = Double(Int64(1) << bits)
        for i in 0..<normalized.count {
            let v = normalized[i] * one
            // Round half away from zero, then truncate (both libraries).
            weights[i] = v < 0 ? Int32(-0.5 + v) : Int32(0.5 + v)
        }
        precisionBits = bits
        self.starts = starts
        self.counts = counts
        self.weights = weights
    }
}
