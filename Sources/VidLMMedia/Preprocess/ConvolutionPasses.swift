import VidLMTensor

/// The two 8-bit separable passes of Pillow's `ImagingResample` for 3-band images
/// (`_ImagingResampleHorizontal_8bpc` / `_ImagingResampleVertical_8bpc`, `bands == 3` branch).
///
/// Each output sample is `clip8((1 << (bits − 1)) + sum(pixel * weight))`: the accumulator starts at
/// half a unit so the final arithmetic shift by the table's bits (Pillow: 22) rounds to nearest, and
/// the result is clamped to 0...255. (torchvision's uint8 resize runs the same passes with its own
/// table precision.)
/// The clamp after the first pass (the intermediate picture is 8-bit too) is part of what
/// makes the output Pillow's, so the passes write bytes, never wider intermediates.
///
/// Buffers are interleaved RGB rows with no padding. Integer sums are exact, so the order of the
/// additions does not matter; the vertical pass exploits that to run along whole rows.
///
/// Output rows are independent, so each pass splits them across the compute workers
/// (`ParallelLoop`): a request's frames are resized on the thread that runs its tower, and a
/// serial resize there left the other core idle (SmolVLM2's preprocessing of a 720p frame, two
/// resizes and the normalisation, took 7.5 ms on one core: 2-3 % of its 256M tower's time).
enum ConvolutionPasses {
    /// Output rows per parallel chunk at least: a chunk costs the pool a few microseconds.
    static let minimumRowsPerChunk = 16

    /// Pillow's `clip8`: `in >> PRECISION_BITS` looked up in a table that clamps to 0...255.
    @inline(__always)
    static func clip8(_ sum: Int32, _ bits: Int32) -> UInt8 {
        UInt8(clamping: sum >> bits)
    }

    /// Horizontal pass: rows `firstRow ..< firstRow + rowCount` of `src` (width `coeffs.inSize`)
    /// into `rowCount` rows of `dst` (width `coeffs.outSize`).
    static func horizontal(
        src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<UInt8>,
        firstRow: Int, rowCount: Int, coeffs: ResampleCoefficients
    ) {
        let outStride = coeffs.outSize * 3
        ParallelLoop.forEachChunk(rowCount, minimumPerChunk: minimumRowsPerChunk) { rows in
            horizontalRows(src: src, dst: dst + rows.lowerBound * outStride,
                           firstRow: firstRow + rows.lowerBound, rowCount: rows.count, coeffs: coeffs)
        }
    }

    private static func horizontalRows(
        src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<UInt8>,
        firstRow: Int, rowCount: Int, coeffs: ResampleCoefficients
    ) {
        let bits = coeffs.precisionBits, half: Int32 = bits > 0 ? 1 << (bits - 1) : 0
        let inStride = coeffs.inSize * 3
        let outWidth = coeffs.outSize
        let ksize = coeffs.kernelSize
        coeffs.starts.withUnsafeBufferPointer { starts in
            coeffs.counts.withUnsafeBufferPointer { counts in
                coeffs.weights.withUnsafeBufferPointer { weights in
                    for row in 0..<rowCount {
                        let lineIn = src + (firstRow + row) * inStride
                        let lineOut = dst + row * outWidth * 3
                        for xx in 0..<outWidth {
                            let k = weights.baseAddress! + xx * ksize
                            var p = lineIn + starts[xx] * 3
                            var s0 = half, s1 = half, s2 = half
                            for t in 0..<counts[xx] {
                                let w = k[t]
                                s0 &+= Int32(p[0]) &* w
                                s1 &+= Int32(p[1]) &* w
                                s2 &+= Int32(p[2]) &* w
                                p += 3
                            }
                            let o = lineOut + xx * 3
                            o[0] = clip8(s0, bits)
                            o[1] = clip8(s1, bits)
                            o[2] = clip8(s2, bits)
                        }
                    }
                }
            }
        }
    }

    /// Vertical pass: `src` has `width` pixels per row; output row `yy` of `dst` mixes source rows
    /// `coeffs.starts[yy] - rowOffset ..< + coeffs.counts[yy]`. `rowOffset` is the first source row
    /// `src` holds (Pillow shifts the vertical bounds by the first row the horizontal pass kept).
    static func vertical(
        src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<UInt8>,
        width: Int, rowOffset: Int, coeffs: ResampleCoefficients
    ) {
        ParallelLoop.forEachChunk(coeffs.outSize, minimumPerChunk: minimumRowsPerChunk) { rows in
            verticalRows(rows, src: src, dst: dst, width: width, rowOffset: rowOffset, coeffs: coeffs)
        }
    }

    /// Output rows `rows` of the vertical pass.
    private static func verticalRows(
        _ rows: Range<Int>, src: UnsafePointer<UInt8>, dst: UnsafeMutablePointer<UInt8>,
        width: Int, rowOffset: Int, coeffs: ResampleCoefficients
    ) {
        let n = width * 3
        let ksize = coeffs.kernelSize
        let bits = coeffs.precisionBits, half: Int32 = bits > 0 ? 1 << (bits - 1) : 0
        // One accumulator row, reused for every output row (no per-pixel allocation).
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { acc.deallocate() }
        coeffs.weights.withUnsafeBufferPointer { weights in
            for yy in rows {
                acc.update(repeating: half, count: n)
                let first = coeffs.starts[yy] - rowOffset
                for t in 0..<coeffs.counts[yy] {
                    let w = weights[yy * ksize + t]
                    let line = src + (first + t) * n
                    for i in 0..<n {
                        acc[i] &+= Int32(line[i]) &* w
                    }
                }
                let lineOut = dst + yy * n
                for i in 0..<n {
                    lineOut[i] = clip8(acc[i], bits)
                }
            }
        }
    }
}
