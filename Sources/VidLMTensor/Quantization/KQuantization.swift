import CKernels

/// llama.cpp's q4_K format, bit for bit: a row of k weights (k a multiple of 256) is k/256
/// super-blocks of 144 bytes — f16 `d`, f16 `dmin`, 12 bytes holding eight 6-bit scales and eight
/// 6-bit mins (one pair per sub-block of 32), then 128 bytes of nibbles (byte l of chunk c holds
/// element 64c + l low, 64c + 32 + l high). Element value: d·scale_j·q − dmin·min_j.
///
/// `quantize` is ggml's reference quantizer (`quantize_row_q4_K_ref`, what `llama-quantize` runs
/// without an importance matrix): per sub-block a weighted least-squares search over 21 candidate
/// scales for the best (scale, min) pair, the pairs then quantized to 6 bits against the largest,
/// and the weights re-quantized with the stored scales. Every float operation is in ggml's
/// order, so the bytes are the same (`Tests/Fixtures/quant` holds blocks written by ggml itself).
public enum KQuantization {
    public static let superBlock = 256
    public static let blockBytes = 144

    /// Quantizes `count` floats (a multiple of 256) into `count/256` super-blocks at `out`.
    public static func quantize(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) {
        precondition(count % superBlock == 0, "q4_k needs whole super-blocks of 256")
        for s in 0..<(count / superBlock) {
            quantizeSuperBlock(x + s * superBlock, into: out + s * blockBytes)
        }
    }

    /// ggml's `nearest_int`: round to nearest, ties to even, by its own trick — adding 1.5·2²³
    /// leaves the rounded value in the low mantissa bits (exact for |v| < 2²²; no libm call,
    /// which cost most of the quantizer's time through `rintf`). Beyond that range (never reached
    /// from finite weights: every caller clamps to 0…63) the sign's extreme is returned.
    @inline(__always)
    static func nearest(_ v: Float) -> Int {
        guard abs(v) < 4_194_303 else { return v.isNaN ? 0 : (v > 0 ? 1 << 30 : -(1 << 30)) }
        return Int((v + 12_582_912).bitPattern & 0x007F_FFFF) - 0x0040_0000
    }

    static func quantizeSuperBlock(_ x: UnsafePointer<Float>, into blk: UnsafeMutableRawPointer) {
        // Fixed-size buffers on the stack: a 1B-parameter model is 4 million super-blocks.
        var levels = InlineArray<256, UInt8>(repeating: 0)
        var scales = InlineArray<8, Float>(repeating: 0), mins = InlineArray<8, Float>(repeating: 0)
        var weights = InlineArray<32, Float>(repeating: 0)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            let sub = x + 32 * j
            var sumSquares: Float = 0
            for l in 0..<32 { sumSquares += sub[l] * sub[l] }
            let average = (sumSquares / 32).squareRoot()
            for l in 0..<32 { weights[l] = average + abs(sub[l]) }
            let fit = fitScaleAndMin(sub, weights: weights, levels: &levels, at: 32 * j)
            scales[j] = fit.scale
            mins[j] = fit.min
            if fit.scale > maxScale { maxScale = fit.scale }
            if fit.min > maxMin { maxMin = fit.min }
        }

        let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
        var packed = InlineArray<12, UInt8>(repeating: 0)
        for j in 0..<8 {
            let ls = min(63, UInt8(truncatingIfNeeded: nearest(inverseScale * scales[j])))
            let lm = min(63, UInt8(truncatingIfNeeded: nearest(inverseMin * mins[j])))
            if j < 4 {
                packed[j] = ls
                packed[j + 4] = lm
            } else {
                packed[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4)
                packed[j - 4] |= (ls >> 4) << 6
                packed[j] |= (lm >> 4) << 6
            }
        }
        let d = Float16(maxScale / 63), dmin = Float16(maxMin / 63)
        blk.storeBytes(of: d.bitPattern.littleEndian, as: UInt16.self)
        blk.storeBytes(of: dmin.bitPattern.littleEndian, toByteOffset: 2, as: UInt16.self)
        for i in 0..<12 { blk.storeBytes(of: packed[i], toByteOffset: 4 + i, as: UInt8.self) }

        // Re-quantize with the scales as stored. A sub-block whose stored scale is 0 keeps the
        // levels of its fit (as ggml does).
        for j in 0..<8 {
            let (sc, m) = scaleAndMin(packed, j)
            let dj = Float(d) * Float(sc)
            if dj == 0 { continue }
            let mj = Float(dmin) * Float(m)
            for i in 0..<32 {
                levels[32 * j + i] = UInt8(max(0, min(15, nearest((x[32 * j + i] + mj) / dj))))
            }
        }
        for c in 0..<4 {
            for l in 0..<32 {
                blk.storeBytes(of: levels[64 * c + l] | levels[64 * c + 32 + l] << 4, toByteOffset: 16 + 32 * c + l, as: UInt8.self)
            }
        }
    }

    /// ggml's `make_qkx2_quants(32, 15, …, rmin −1, rdelta 0.1, 20 steps, squared error)`: levels
    /// 0…15 with x ≈ scale·level − min, the (scale, min) of least weighted squared error among
    /// the plain min/max fit and 21 least-squares refits. Returns the scale and the min (≥ 0).
    static func fitScaleAndMin(_ x: UnsafePointer<Float>, weights w: InlineArray<32, Float>,
                               levels: inout InlineArray<256, UInt8>, at offset: Int) -> (scale: Float, min: Float)
    {
        let n = 32, levelMax: Float = 15
        var lo = x[0], hi = x[0]
        var sumW = w[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lo { lo = x[i] }
            if x[i] > hi { hi = x[i] }
            sumW += w[i]
            sumX += w[i] * x[i]
        }
        if lo > 0 { lo = 0 }
        if hi == lo {
            for i in 0..<n { levels[offset + i] = 0 }
            return (0, -lo)
        }
        var inverse = levelMax / (hi - lo)
        var scale = 1 / inverse
        var bestError: Float = 0
        for i in 0..<n {
            let l = UInt8(max(0, min(15, nearest(inverse * (x[i] - lo)))))
            levels[offset + i] = l
            let diff = scale * Float(l) + lo - x[i]
            bestError += w[i] * (diff * diff)
        }
        var trial = InlineArray<32, UInt8>(repeating: 0)
        for step in 0...20 {
            inverse = (-1 + 0.1 * Float(step) + levelMax) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = max(0, min(15, nearest(inverse * (x[i] - lo))))
                trial[i] = UInt8(l)
                let wl = w[i] * Float(l)
                sumL += wl
                sumL2 += wl * Float(l)
                sumXL += wl * x[i]
            }
            let det = sumW * sumL2 - sumL * sumL
            guard det > 0 else { continue }
            var trialScale = (sumW * sumXL - sumX * sumL) / det
            var trialMin = (sumL2 * sumX - sumL * sumXL) / det
            if trialMin > 0 {
                trialMin = 0
                trialScale = sumXL / sumL2
            }
            var error: Float = 0
            for i in 0..<n {
                let diff = trialScale * Float(trial[i]) + trialMin - x[i]
                error += w[i] * (diff * diff)
            }
            if error < bestError {
                for i in 0..<n { levels[offset + i] = trial[i] }
                bestError = error
                scale = trialScale
                lo = trialMin
            }
        }
        return (scale, -lo)
    }

    /// Scale and min of sub-block j (0..<8) from the 12 packed bytes.
    @inline(__always)
    static func scaleAndMin(_ s: InlineArray<12, UInt8>, _ j: Int) -> (UInt8, UInt8) {
        if j < 4 { return (s[j] & 63, s[j + 4] & 63) }
        return ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }

    /// The packed scale bytes of the super-block at `blk`.
    static func packedScales(_ blk: UnsafeRawPointer) -> InlineArray<12, UInt8> {
        var s = InlineArray<12, UInt8>(repeating: 0)
        for i in 0..<12 { s[i] = blk.load(fromByteOffset: 4 + i, as: UInt8.self) }
        return s
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    /// Level (0…15) of element t (0..<256) of the super-block at `blk`.
    @inline(__always)
    static func level(_ blk: UnsafeRawPointer, _ t: Int) -> Int32 {
        let byte = blk.load(fromByteOffset: 16 + 32 * (t / 64) + t % 32, as: UInt8.self)
        return Int32(t % 64 < 32 ? byte & 0x0F : byte >> 4)
    }

    /// Widens `count` elements (whole super-blocks) to f32, as ggml's `dequantize_row_q4_K`.
    public static func dequantize(_ src: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        for s in 0..<(count / superBlock) {
            let blk = src + s * blockBytes
            let d = half(blk, 0), dmin = half(blk, 2)
            let packed = packedScales(blk)
            for j in 0..<8 {
                let (sc, m) = scaleAndMin(packed, j)
                let dj = d * Float(sc), mj = dmin * Float(m)
                for t in (32 * j)..<(32 * j + 32) { out[s * superBlock + t] = dj * Float(level(blk, t)) - mj }
            }
        }
    }

    /// Widens a K16 table (quant_k_kernels.h; `rows` a multiple of 16) to f32, row by row.
    public static func dequantizeInterleaved(_ src: UnsafeRawPointer, rows: Int, k: Int, into out: UnsafeMutablePointer<Float>) {
        let blocks = k / superBlock, panelBlock = Int(VIDLM_Q4K_K16_BLOCK_BYTES)
        for r in 0..<rows {
            let lane = r % 16
            for s in 0..<blocks {
                let blk = src + ((r / 16) * blocks + s) * panelBlock
                let d = half(blk, 2 * lane), dmin = half(blk, 32 + 2 * lane)
                for j in 0..<8 {
                    let dj = d * Float(blk.load(fromByteOffset: 64 + 16 * j + lane, as: UInt8.self))
                    let mj = dmin * Float(blk.load(fromByteOffset: 192 + 16 * j + lane, as: UInt8.self))
                    let nibbles = blk + 320 + 512 * (j / 2) + 4 * lane
                    let row = out + r * k + s * superBlock + 32 * j
                    for t in 0..<32 {
                        let byte = nibbles.load(fromByteOffset: 64 * (t / 4) + t % 4, as: UInt8.self)
                        let q: UInt8 = j % 2 == 0 ? byte & 0x0F : byte >> 4
                        row[t] = dj * Float(q) - mj
                    }
                }
            }
        }
    }
}
